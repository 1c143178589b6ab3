"""Network builders by tracker name, and loading a tracker's network from a checkpoint file.

``build_network('siamrpnpp', 'tiny')`` builds a model; ``load_network(path)`` reads a project
checkpoint (weights_only) or, through :mod:`ltr.admin.loading`, an official pytracking / pysot
file, builds the matching model and loads the weights strictly.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import torch

#: tracker name -> "module:function" building the network from a size ('paper' | 'tiny').
_BUILDERS: Dict[str, str] = {
    "siamrpnpp": "ltr.models.tracking.siamrpnpp:build_siamrpnpp",
    "transt": "ltr.models.tracking.transt:build_transt",
    "trdimp": "ltr.models.tracking.trdimp:build_trdimp",
}


def register_network(tracker: str, builder: str) -> None:
    """Add a ``"module:function"`` builder for a third-party tracker's network."""
    _BUILDERS[tracker] = builder


def network_builder(tracker: str) -> Callable[..., torch.nn.Module]:
    if tracker not in _BUILDERS:
        raise KeyError(f"No network builder for tracker '{tracker}'; known: {', '.join(sorted(_BUILDERS))}.")
    module_name, function = _BUILDERS[tracker].split(":")
    return getattr(importlib.import_module(module_name), function)


def build_network(tracker: str, size: str = "paper") -> torch.nn.Module:
    """Build ``tracker``'s network in ``size`` ('paper' or 'tiny') with random weights."""
    return network_builder(tracker)(size)


def load_network(path: str, tracker: Optional[str] = None, size: Optional[str] = None,
                 device: str = "cpu") -> Tuple[torch.nn.Module, dict]:
    """Build a network and load weights from a project or official checkpoint.

    Args:
        path: checkpoint file.
        tracker: expected tracker name (checked against the file where it says).
        size: 'paper' or 'tiny'; project checkpoints record it, official ones are 'paper'.
    Returns:
        (network in eval mode on ``device``, checkpoint metadata dict).
    """
    from ltr.admin.checkpoint import CheckpointError, load_checkpoint

    path = str(Path(path).expanduser())
    try:
        checkpoint = load_checkpoint(path)
        file_tracker = checkpoint.get("tracker")
        state = checkpoint["net"]
        file_size = checkpoint.get("size") or size or "paper"
        meta = {k: v for k, v in checkpoint.items() if k not in ("net", "optimizer", "rng")}
    except CheckpointError as project_error:
        try:
            from ltr.admin.loading import load_official_checkpoint
        except ImportError:
            raise project_error
        official = load_official_checkpoint(path)
        file_tracker = official.tracker
        state = official.state_dict
        file_size = "paper"
        meta = {"format": official.format, **dict(official.meta or {})}
    if tracker is not None and file_tracker is not None and file_tracker != tracker:
        raise ValueError(f"Checkpoint '{path}' holds a '{file_tracker}' network, but '{tracker}' was asked for.")
    tracker = tracker or file_tracker
    if tracker is None:
        raise ValueError(f"Cannot tell which tracker checkpoint '{path}' belongs to; pass tracker=...")
    if size is not None and size != file_size:
        raise ValueError(f"Checkpoint '{path}' holds a '{file_size}' {tracker} network, but size '{size}' was asked for.")
    net = build_network(tracker, file_size)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise RuntimeError(f"Checkpoint '{path}' does not fit the {file_size} {tracker} network: "
                           f"{str(error).splitlines()[0]}") from error
    return net.to(device).eval(), meta
