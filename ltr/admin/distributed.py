"""torchrun / DistributedDataParallel helpers (NCCL on GPU, gloo on CPU).

Every helper is an identity (or a no-op) in a single process, so training code calls them
unconditionally and one code path serves both cases.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch
import torch.distributed as dist


def _wants_cuda(device: Optional[str]) -> bool:
    """Whether this process trains on a GPU: an explicit device wins over CUDA availability."""
    if device is not None:
        return str(device).startswith("cuda")
    return torch.cuda.is_available()


def init_distributed_from_env(device: Optional[str] = None) -> Tuple[int, int, int]:
    """Initialise the process group when started by torchrun; returns (rank, world_size, local_rank).

    Without torchrun's environment (``WORLD_SIZE`` unset or 1) nothing is initialised.

    Args:
        device: the device this process will train on ('cpu', 'cuda', 'cuda:N' or None for
            "cuda if available"). GPU training uses NCCL and ``cuda:LOCAL_RANK``; CPU training
            uses gloo, also on a machine that has GPUs (``--device cpu``).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1, 0
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = _wants_cuda(device) and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return rank, world_size, local_rank


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def _reduce_device() -> torch.device:
    # NCCL only reduces CUDA tensors; gloo reduces CPU tensors.
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def _all_reduce_dict(values: Dict[str, float], mean: bool) -> Dict[str, float]:
    if not is_distributed() or not values:
        return dict(values)
    # Sorted keys: every rank must lay the numbers out in the same order.
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_reduce_device())
    dist.all_reduce(tensor)
    if mean:
        tensor /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, tensor.cpu().tolist())}


def all_reduce_mean(values: dict) -> dict:
    """Average a dict of floats over all ranks (identity without a process group).

    All ranks must pass the same keys.
    """
    return _all_reduce_dict(values, mean=True)


def all_reduce_sum(values: dict) -> dict:
    """Sum a dict of numbers over all ranks (identity without a process group); e.g. counts."""
    return _all_reduce_dict(values, mean=False)


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is True on any rank (keeps ranks' control flow in step)."""
    if not is_distributed():
        return bool(flag)
    return all_reduce_sum({"flag": 1.0 if flag else 0.0})["flag"] > 0


def all_gather_object(obj: Any) -> List[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` in a single process)."""
    if not is_distributed():
        return [obj]
    gathered: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def wrap_ddp(module: torch.nn.Module, device: Optional[str] = None, **kwargs: Any) -> torch.nn.Module:
    """``DistributedDataParallel(module)`` when distributed, ``module`` itself otherwise.

    On a GPU the module is bound to its device (``device_ids``); on the CPU (gloo) no device is
    given. DDP broadcasts rank 0's parameters and buffers at construction, so all ranks start equal.
    """
    if not is_distributed():
        return module
    if device is None:
        device = str(next(module.parameters()).device)
    device_ids = None
    if str(device).startswith("cuda"):
        index = torch.device(device).index
        device_ids = [torch.cuda.current_device() if index is None else index]
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids, **kwargs)


def unwrap_ddp(module: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (the module itself otherwise)."""
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


def broadcast_parameters(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (what DDP does at construction)."""
    if not is_distributed():
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=src)


def all_reduce_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over ranks, for gradients computed outside a DDP module's forward.

    A parameter that has a gradient on some rank but not on this one takes part with zeros (a
    rank that skipped it would hang the others); one without a gradient on every rank keeps
    ``grad = None``, as in a single process, so the optimizer still skips it.
    """
    if not is_distributed():
        return
    params = [p for p in parameters if p.requires_grad]
    if not params:
        return
    device = _reduce_device()
    has_grad = torch.tensor([0.0 if p.grad is None else 1.0 for p in params], dtype=torch.float64, device=device)
    dist.all_reduce(has_grad)
    world = dist.get_world_size()
    used = [p for p, n in zip(params, has_grad.tolist()) if n > 0]
    for param in used:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    # One collective per dtype and device instead of one per tensor.
    groups: Dict[Tuple[torch.dtype, torch.device], List[torch.nn.Parameter]] = {}
    for param in used:
        groups.setdefault((param.grad.dtype, param.grad.device), []).append(param)
    for group in groups.values():
        flat = torch.cat([p.grad.reshape(-1) for p in group])
        moved = flat.to(device)
        dist.all_reduce(moved)
        moved /= world
        flat = moved.to(flat.device)
        offset = 0
        for p in group:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
