"""The project's own checkpoint format: plain data only, written atomically.

A project checkpoint is a dict of tensors, numbers, strings, lists and dicts, so that it loads
with ``torch.load(weights_only=True)`` and never runs code from the file. Conventional keys:

    'format': 'slt-tracking/1', 'tracker': str, 'size': 'paper'|'tiny', 'net': state dict,
    'optimizer', 'scheduler': state dicts, 'epoch', 'iteration': int,
    'rng': RNG states (see :func:`capture_rng_state`), 'settings': plain dict, 'stats': plain dict.

Official checkpoints (pytracking or pysot containers with pickled classes) are imported through
:mod:`ltr.admin.loading`, not here.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from ltr.admin.atomic import atomic_write

CHECKPOINT_FORMAT = "slt-tracking/1"

PathLike = Union[str, os.PathLike]


def atomic_torch_save(obj: Any, path: PathLike) -> Path:
    """``torch.save`` through :func:`ltr.admin.atomic.atomic_write`: never a torn file."""
    return atomic_write(path, lambda handle: torch.save(obj, handle))


def to_plain(obj: Any) -> Any:
    """Convert settings-like objects into plain data (dict/list/str/number/None/tensor)."""
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return obj
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__dict__"):
        return {k: to_plain(v) for k, v in vars(obj).items() if not k.startswith("_") and not callable(v)}
    return repr(obj)


def capture_rng_state() -> Dict[str, Any]:
    """RNG states of python, numpy and torch (CPU, and CUDA where present) as plain data."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    state: Dict[str, Any] = {
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    nps = state["numpy"]
    np.random.set_state((nps[0], nps[1].numpy().astype(np.uint32), nps[2], nps[3], nps[4]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: PathLike, net_state: Dict[str, torch.Tensor], *, tracker: str, size: str,
                    epoch: int = 0, iteration: int = 0, optimizer: Optional[dict] = None,
                    scheduler: Optional[dict] = None, settings: Any = None, stats: Any = None,
                    rng: Optional[dict] = None, extra: Optional[dict] = None) -> Path:
    """Write a project checkpoint atomically. All values must be plain data (see module doc)."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "tracker": tracker,
        "size": size,
        "net": {k: v.detach().cpu() for k, v in net_state.items()},
        "epoch": int(epoch),
        "iteration": int(iteration),
        "optimizer": optimizer,
        "scheduler": scheduler,
        "settings": to_plain(settings),
        "stats": to_plain(stats),
        "rng": rng,
    }
    if extra:
        checkpoint.update(to_plain(extra))
    return atomic_torch_save(checkpoint, path)


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used; the message names the file and the fix."""


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load a project checkpoint with ``weights_only=True`` (nothing in the file is executed).

    Raises:
        CheckpointError: missing file, or a file that needs pickled classes (e.g. an official
            pytracking/pysot checkpoint: import those with ``python -m ltr.admin.loading``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError / RuntimeError variants
        raise CheckpointError(
            f"Checkpoint '{path}' cannot be loaded safely ({type(error).__name__}: {str(error).splitlines()[0]}). "
            f"If it is an official pytracking or pysot file, load it with ltr.admin.loading.load_network_state "
            f"or inspect it with 'python -m ltr.admin.loading inspect {path}'.") from error
    if not isinstance(checkpoint, dict) or "net" not in checkpoint:
        raise CheckpointError(f"Checkpoint '{path}' is not a project checkpoint (no 'net' entry).")
    return checkpoint


def latest_checkpoint(folder: PathLike, prefix: str = "") -> Optional[Path]:
    """The newest ``<prefix>*_ep<NNNN>.pth`` (by epoch number) in ``folder``, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    candidates = sorted(p for p in folder.glob(f"{prefix}*_ep*.pth") if not p.name.startswith("."))
    return candidates[-1] if candidates else None
