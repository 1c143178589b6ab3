"""Test-time parameters of a tracker.

A parameter file ``pytracking/parameter/<tracker>/<name>.py`` defines ``parameters() -> TrackerParams``
and sets whatever its tracker reads (crop sizes, window influence, ...). Two fields are common to
all trackers and always present:

* ``checkpoint``: path of the network weights (``None`` = the tracker's own default). The command
  line option ``--checkpoint FILE`` overrides it.
* ``debug``: debug level (0 = off); the runner sets it from ``--debug``.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Iterator, Optional, Tuple

_MISSING = object()


class TrackerParams:
    """A plain attribute bag with defaults, lookups with fallbacks and a readable repr.

    Example::

        params = TrackerParams(search_size=255, checkpoint="workspace/checkpoints/x.pth")
        params.get("window_influence", 0.4)   # 0.4 if not set
    """

    checkpoint: Optional[str]
    debug: int

    def __init__(self, **fields: Any):
        self.checkpoint = None
        self.debug = 0
        self.__dict__.update(fields)

    def set_default_values(self, defaults: Dict[str, Any]) -> None:
        """Set every field of ``defaults`` that is not set yet (explicit values win)."""
        for name, value in defaults.items():
            if not hasattr(self, name):
                setattr(self, name, value)

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """Value of ``name``; ``default`` if it is unset; an AttributeError naming it if no default."""
        if hasattr(self, name):
            return getattr(self, name)
        if default is _MISSING:
            raise AttributeError(f"TrackerParams has no field '{name}' (set fields: {sorted(self.__dict__)})")
        return default

    def has(self, name: str) -> bool:
        """Whether ``name`` is set."""
        return hasattr(self, name)

    def update(self, **fields: Any) -> "TrackerParams":
        """Set several fields at once; returns self so calls can be chained."""
        self.__dict__.update(fields)
        return self

    def to_dict(self) -> Dict[str, Any]:
        """A shallow copy of all fields."""
        return dict(self.__dict__)

    def copy(self) -> "TrackerParams":
        """A deep copy, so one run's changes (e.g. the debug level) never leak into another."""
        return copy.deepcopy(self)

    def items(self) -> Iterator[Tuple[str, Any]]:
        return iter(self.__dict__.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrackerParams) and self.__dict__ == other.__dict__

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(self.__dict__.items()))
        return f"TrackerParams({inner})"


def default_device() -> str:
    """'cuda' where a GPU is visible, else 'cpu' (parameter sets use it as their default)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def network_file(name: str) -> Optional[str]:
    """``<pretrained_networks_dir>/<name>`` if that file exists, else None.

    Parameter sets name the official weights they expect there (e.g. ``slt_transt.pth``);
    ``--checkpoint FILE`` always wins.
    """
    import os

    from ltr.admin.environment import env_settings

    path = os.path.join(env_settings().pretrained_networks_dir, name)
    return path if os.path.isfile(path) else None
