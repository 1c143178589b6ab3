"""Network builders by name, and loading a tracker's network from a checkpoint file.

``build_network('siamrpnpp', 'tiny')`` builds a model; ``load_network(path)`` reads a project
checkpoint (weights_only) or, through :mod:`ltr.admin.loading`, an official pytracking / pysot
file, builds the matching model and loads the weights strictly.

A network name is resolved in this order:

1. the built-in trackers and names added with :func:`register_network` (in code, e.g. by a
   third-party module imported before training);
2. entry points of the group ``ltr.networks`` (installed third-party packages). The entry
   point's name is the network name and its object the builder ``builder(size) -> nn.Module``::

       # pyproject.toml of a third-party package
       [project.entry-points."ltr.networks"]
       mytracker = "mytracker.model:build_mytracker"

   Only the entry point with the requested name is imported, the first time it is asked for.

The name is also what a project checkpoint records as ``tracker``, so ``load_network`` rebuilds a
third-party network from its file like a built-in one.
"""
from __future__ import annotations

import importlib
from importlib import metadata
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch

__all__ = ["NETWORK_ENTRY_POINT_GROUP", "UnknownNetworkError", "NetworkBuilder", "register_network",
           "unregister_network", "network_builder", "available_networks", "build_network", "load_network"]

NETWORK_ENTRY_POINT_GROUP = "ltr.networks"

#: Builds a network from a size ('paper' | 'tiny'), with random weights.
NetworkBuilder = Callable[[str], torch.nn.Module]

#: name -> builder: a "module:function" string (imported on first use) or the function itself.
_BUILDERS: Dict[str, Union[str, NetworkBuilder]] = {
    "siamrpnpp": "ltr.models.tracking.siamrpnpp:build_siamrpnpp",
    "siamattn": "ltr.models.tracking.siamattn:build_siamattn",
    "transt": "ltr.models.tracking.transt:build_transt",
    "ostrack": "ltr.models.tracking.ostrack:build_ostrack",
    "trdimp": "ltr.models.tracking.trdimp:build_trdimp",
}


class UnknownNetworkError(KeyError):
    """No builder is registered or installed under the requested network name."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def register_network(name: str, builder: Union[str, NetworkBuilder]) -> None:
    """Make ``name`` build with ``builder``: a ``"module:function"`` string or a callable ``(size) -> nn.Module``.

    The string form imports the builder's module only when the network is first built. Registering
    the same builder again is a no-op; a different builder under a taken name is an error.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_network: the name must be a non-empty string, got {name!r}.")
    if isinstance(builder, str):
        if builder.count(":") != 1 or not all(builder.split(":")):
            raise ValueError(f"register_network({name!r}, {builder!r}): a builder string is 'module:function'.")
    elif not callable(builder):
        raise TypeError(f"register_network({name!r}, ...): expected 'module:function' or a callable, got {builder!r}.")
    old = _BUILDERS.get(name)
    if old is not None and old != builder and _describe(old) != _describe(builder):
        raise ValueError(f"Network {name!r} is already registered to {_describe(old)}; cannot register "
                         f"{_describe(builder)} under the same name (unregister_network({name!r}) first).")
    _BUILDERS[name] = builder


def unregister_network(name: str) -> None:
    """Forget a registered network (tests, interactive use); no error if it is absent."""
    _BUILDERS.pop(name, None)


def _describe(builder: Union[str, NetworkBuilder]) -> str:
    if isinstance(builder, str):
        return builder
    return f"{getattr(builder, '__module__', '?')}:{getattr(builder, '__qualname__', repr(builder))}"


def _network_entry_points() -> List[metadata.EntryPoint]:
    """Installed entry points of :data:`NETWORK_ENTRY_POINT_GROUP`."""
    return list(metadata.entry_points(group=NETWORK_ENTRY_POINT_GROUP))


def available_networks() -> List[str]:
    """Sorted network names: built-in, registered and installed (entry points), none imported."""
    names = set(_BUILDERS)
    try:
        names.update(ep.name for ep in _network_entry_points())
    except Exception:  # broken package metadata must not hide the registered names
        pass
    return sorted(names)


def network_builder(name: str) -> NetworkBuilder:
    """The builder of network ``name`` (see the module docstring for the lookup order).

    Raises:
        UnknownNetworkError: listing the known names and how a new one becomes known.
    """
    if name not in _BUILDERS:
        for ep in _network_entry_points():
            if ep.name == name:
                _BUILDERS[name] = ep.load()
                break
        else:
            raise UnknownNetworkError(
                f"No network builder named {name!r}; known: {', '.join(available_networks())}. A network "
                f"becomes known through ltr.models.registry.register_network (import the module that calls it "
                f"first: 'ltr/run_training.py generic slt --set plugin_modules=MODULE', 'run_tracker.py "
                f"--tracker-module MODULE') or an entry point in the {NETWORK_ENTRY_POINT_GROUP!r} group.")
    builder = _BUILDERS[name]
    if isinstance(builder, str):
        module_name, function = builder.split(":")
        builder = getattr(importlib.import_module(module_name), function)
    return builder


def build_network(tracker: str, size: str = "paper") -> torch.nn.Module:
    """Build network ``tracker`` in ``size`` ('paper' or 'tiny') with random weights."""
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
        file_size = str((official.meta or {}).get("size", "paper"))
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
