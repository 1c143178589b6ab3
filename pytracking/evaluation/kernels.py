"""CPU kernels whose per-sample results do not depend on the batch size (see :func:`batch_invariant_kernels`)."""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

__all__ = ["batch_invariant_kernels"]


@contextlib.contextmanager
def batch_invariant_kernels() -> Iterator[None]:
    """CPU convolutions whose result for one sample does not depend on the batch size.

    oneDNN (mkldnn) and NNPACK choose their convolution algorithm and blocking by batch size, so
    a sequence's network outputs differ in the last bits between a batch of one and a batch of
    N, and a tracker amplifies such differences over a sequence. Inside this context both are off
    and PyTorch's own convolution (im2col + GEMM per sample) runs, so tracking a sequence alone
    or in any batch gives the same boxes bit for bit. Costs some CPU speed (see
    benchmarks/README.md, track-speed); CUDA kernels are not affected.

    Only takes effect when torch is loaded (it is once a torch tracker's class is resolved), so
    running a tracker that does not use torch does not import it.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    # mkldnn's own flags() helper would also reset unrelated TF32 settings: set the switch alone.
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        with torch.backends.nnpack.flags(enabled=False):
            yield
    finally:
        torch.backends.mkldnn.enabled = previous
