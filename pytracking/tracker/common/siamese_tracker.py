"""The online-tracker side of the batched Siamese core (B = 1), shared by SiamRPN++ and TransT."""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from ltr.data.crop import model_input_to_rgb_uint8
from ltr.models.registry import build_network, load_network
from pytracking.tracker.base import BaseTracker
from pytracking.tracker.common.siamese_core import SearchResult, SiameseCore
from pytracking.tracker.common.tracker_state import LockstepTracker
from pytracking.utils.params import TrackerParams


def load_tracker_network(tracker: str, params: TrackerParams) -> torch.nn.Module:
    """The network named by ``params.checkpoint`` (project or official file) in eval mode.

    Without a checkpoint, random weights are used only where ``params.allow_random_weights`` is
    set (tests, smoke runs); otherwise a clear error says how to pass one.
    """
    device = params.get("device", "cpu")
    size = params.get("model_size", "paper")
    if params.checkpoint:
        net, _ = load_network(params.checkpoint, tracker=tracker, size=size, device=device)
        return net
    if params.get("allow_random_weights", False):
        return build_network(tracker, size).to(device).eval()
    raise FileNotFoundError(
        f"{tracker} parameter set '{params.get('name', '?')}' has no checkpoint: pass --checkpoint FILE "
        f"(a project checkpoint from 'ltr/run_training.py {tracker} ...' or an official {tracker} .pth).")


def configured_core(tracker: str, params: TrackerParams, config_type: Any, core_type: Any,
                    test_time_fields: Sequence[str]) -> SiameseCore:
    """The core of a tracker whose config is a dataclass with ``from_size``: the network of
    ``params`` (:func:`load_tracker_network`), its ``cfg`` (or ``config_type.from_size(model_size)``)
    with the parameter-set fields ``test_time_fields`` that ``params`` sets, on ``params.device``."""
    net = load_tracker_network(tracker, params)
    cfg = net.cfg if isinstance(getattr(net, "cfg", None), config_type) else config_type.from_size(
        params.get("model_size", "paper"))
    overrides = {k: params.get(k) for k in test_time_fields if params.has(k)}
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    return core_type(net, cfg, device=params.get("device", "cpu"))


class SiameseTracker(LockstepTracker, BaseTracker):
    """initialize / track through a :class:`SiameseCore` with one tracker (and B in lockstep
    through :class:`LockstepTracker`).

    Subclasses implement :meth:`build_core` and may extend :meth:`debug_outputs` and :meth:`extra_outputs`.
    """

    def __init__(self, params: TrackerParams, core: Optional[SiameseCore] = None):
        super().__init__(params)
        self.core = core if core is not None else self.build_core(params)

    def build_core(self, params: TrackerParams) -> SiameseCore:
        raise NotImplementedError

    def choose(self, result: SearchResult) -> torch.Tensor:
        return self.core.argmax(result)

    @torch.no_grad()
    def initialize(self, image: np.ndarray, info: Dict[str, Any]) -> None:
        self._warned_nonfinite = False
        self.core.initialize([image], torch.tensor([info["init_bbox"]], dtype=torch.float64))

    @torch.no_grad()
    def track(self, image: np.ndarray, info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result = self.core.search([image])
        index = self.choose(result)
        box = self.core.commit(result, index)[0]
        kept = int(self.core.nonfinite_frames[0])
        if kept and not self._warned_nonfinite:
            warnings.warn(f"{type(self).__name__}: the network gave a non-finite box; the tracker kept its "
                          f"previous box for that frame (see the 'nonfinite_frames' count in the output). "
                          f"Check the checkpoint: an untrained or diverged model does this.", RuntimeWarning)
            self._warned_nonfinite = True
        out: Dict[str, Any] = {"target_bbox": [float(v) for v in box.tolist()]}
        if kept:
            out["nonfinite_frames"] = kept
        if self.debug:
            out.update(self.debug_outputs(result, int(index[0])))
        self.extra_outputs(image, result, out)
        return out

    def extra_outputs(self, image: np.ndarray, result: SearchResult, out: Dict[str, Any]) -> None:
        """Hook: add tracker-specific entries to ``out`` after the state update (default: none)."""

    def score_map(self, result: SearchResult) -> np.ndarray:
        """2-D map of the post-processed scores for the live view (max over a cell's candidates)."""
        per_cell, side = self.core.candidate_grid()
        return result.candidates.pscore[0].reshape(per_cell, side, side).max(dim=0).values.cpu().numpy()

    def debug_outputs(self, result: SearchResult, index: int) -> Dict[str, Any]:
        pscore = result.candidates.pscore[0]
        return {"score_map": self.score_map(result),
                "search_crop": model_input_to_rgb_uint8(result.search_input[0], self.core.input_format),
                "info": {"max_pscore": float(pscore[index]), "index": index,
                         "search_side": float(result.crop_side[0])}}
