"""Per-tracker state of a batched core: keep some trackers, append others, start new ones.

A batched core (:class:`~pytracking.tracker.common.siamese_core.SiameseCore`,
:class:`~pytracking.tracker.trdimp.core.TrDiMPCore`, ...) holds the state of B trackers in
tensors whose tracker dimension it declares in ``TRACKER_STATE_DIMS`` (attribute name -> the
dimension that indexes trackers; a value may also be a list, tuple or dict of such tensors, e.g.
per-level template features) and ``TRACKER_STATE_LISTS`` (attributes that are Python lists with
one entry per tracker, e.g. random generators). With that declaration this mixin can

* :meth:`keep_trackers` -- drop trackers (a finished sequence) or reorder/repeat them;
* :meth:`append_trackers` -- put the trackers of another core (same network and settings) after
  this core's own;
* :meth:`start_trackers` -- initialise new trackers on their first frames and append them,
  without touching the trackers already running.

Evaluation with many sequences in lockstep (:mod:`pytracking.evaluation.batched`) refills the
slot of a finished sequence this way. Every tracker's computations are its own (the cores never
mix trackers), so a tracker started here tracks exactly as it does alone.
"""
from __future__ import annotations

import copy
from typing import Any, ClassVar, Dict, Sequence, Tuple

import torch

__all__ = ["BatchedTrackerState", "select_trackers", "concat_trackers"]


def select_trackers(value: Any, rows: torch.Tensor, dim: int) -> Any:
    """``value`` (a tensor, or a list/tuple/dict of them) restricted to trackers ``rows`` along ``dim``."""
    if isinstance(value, torch.Tensor):
        return value.index_select(dim, rows.to(value.device))
    if isinstance(value, (list, tuple)):
        return type(value)(select_trackers(v, rows, dim) for v in value)
    if isinstance(value, dict):
        return {k: select_trackers(v, rows, dim) for k, v in value.items()}
    raise TypeError(f"cannot select trackers from a {type(value).__name__}; declare it in TRACKER_STATE_LISTS "
                    f"if it is a per-tracker Python list")


def concat_trackers(first: Any, second: Any, dim: int) -> Any:
    """Trackers of ``first`` then those of ``second`` (same structure) along ``dim``."""
    if isinstance(first, torch.Tensor):
        return torch.cat((first, second.to(first.device)), dim=dim)
    if isinstance(first, (list, tuple)):
        return type(first)(concat_trackers(a, b, dim) for a, b in zip(first, second, strict=True))
    if isinstance(first, dict):
        return {k: concat_trackers(first[k], second[k], dim) for k in first}
    raise TypeError(f"cannot concatenate trackers of a {type(first).__name__}")


def _copy_entry(entry: Any) -> Any:
    # A repeated tracker must not share a random source with its copy.
    if isinstance(entry, torch.Generator):
        fresh = torch.Generator(device=entry.device)
        fresh.set_state(entry.get_state())
        return fresh
    return entry


class BatchedTrackerState:
    """Mixin for batched cores; see the module docstring.

    A core using it declares ``TRACKER_STATE_DIMS`` / ``TRACKER_STATE_LISTS`` and implements
    ``initialize(frames, boxes_xywh)`` and :attr:`batch_size`. Attributes that are ``None``
    (not used by a configuration) are skipped.
    """

    TRACKER_STATE_DIMS: ClassVar[Dict[str, int]] = {}
    TRACKER_STATE_LISTS: ClassVar[Tuple[str, ...]] = ()

    @property
    def batch_size(self) -> int:  # pragma: no cover - every core overrides it
        raise NotImplementedError

    def initialize(self, frames: Any, boxes_xywh: torch.Tensor) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _set_batch_size(self, size: int) -> None:
        """Hook for cores that store the tracker count (default: derived from the state)."""

    def keep_trackers(self, rows: Sequence[int] | torch.Tensor) -> None:
        """Keep trackers ``rows`` (in that order; repeats copy a tracker, random state included)."""
        rows = torch.as_tensor(rows, dtype=torch.long).reshape(-1)
        for name, dim in self.TRACKER_STATE_DIMS.items():
            value = getattr(self, name, None)
            if value is not None:
                setattr(self, name, select_trackers(value, rows, dim))
        order = rows.tolist()
        for name in self.TRACKER_STATE_LISTS:
            value = getattr(self, name, None)
            if value is not None:
                setattr(self, name, [_copy_entry(value[r]) for r in order])
        self._set_batch_size(len(order))

    def append_trackers(self, other: "BatchedTrackerState") -> None:
        """Append the trackers of ``other`` (a core of the same class, network and settings)."""
        if type(other) is not type(self):
            raise TypeError(f"cannot append {type(other).__name__} trackers to a {type(self).__name__}")
        total = self.batch_size + other.batch_size
        for name, dim in self.TRACKER_STATE_DIMS.items():
            mine, theirs = getattr(self, name, None), getattr(other, name, None)
            if (mine is None) != (theirs is None):
                raise ValueError(f"{type(self).__name__}.{name} is set in only one of the two cores")
            if mine is not None:
                setattr(self, name, concat_trackers(mine, theirs, dim))
        for name in self.TRACKER_STATE_LISTS:
            mine, theirs = getattr(self, name, None), getattr(other, name, None)
            if mine is not None:
                setattr(self, name, list(mine) + list(theirs))
        self._set_batch_size(total)

    def start_trackers(self, frames: Any, boxes_xywh: torch.Tensor) -> None:
        """Initialise new trackers on ``frames`` / ``boxes_xywh`` (B', 4) px and append them.

        The running trackers are untouched: the new ones are initialised in a shallow copy of
        this core (sharing the network and constants; ``initialize`` rebinds every state
        attribute) and then appended.
        """
        if self.batch_size == 0:
            self.initialize(frames, boxes_xywh)
            return
        fresh = copy.copy(self)
        fresh.initialize(frames, boxes_xywh)
        self.append_trackers(fresh)



class LockstepTracker:
    """Test-time tracker side of a batched core: B sequences tracked in lockstep.

    Mixed into an online tracker (a :class:`~pytracking.tracker.base.BaseTracker` whose ``core``
    is a :class:`BatchedTrackerState`) that implements :meth:`choose`, the test-time decision.
    :mod:`pytracking.evaluation.batched` drives any tracker with these methods; ``initialize`` /
    ``track`` stay the one-sequence interface (and the only one with debug outputs).
    """

    core: BatchedTrackerState

    def choose(self, result: Any) -> torch.Tensor:
        """(B,) index of the candidate each tracker moves to (the test-time choice)."""
        raise NotImplementedError

    @property
    def batch_size(self) -> int:
        """Number of sequences being tracked."""
        return self.core.batch_size

    @torch.no_grad()
    def start_trackers(self, frames: Any, boxes_xywh: torch.Tensor) -> None:
        """Start tracking ``boxes_xywh`` (B', 4) px in ``frames`` after the running trackers."""
        self.core.start_trackers(frames, boxes_xywh)

    def keep_trackers(self, rows: Sequence[int] | torch.Tensor) -> None:
        """Keep only trackers ``rows`` (e.g. drop those whose sequence ended)."""
        self.core.keep_trackers(rows)

    @torch.no_grad()
    def track_batch(self, frames: Any) -> torch.Tensor:
        """One step of every tracker on its next frame; (B, 4) float64 boxes xywh px, on the core's device."""
        result = self.core.search(frames)
        return self.core.commit(result, self.choose(result))
