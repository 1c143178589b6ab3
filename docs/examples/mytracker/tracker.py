"""The test-time tracker of the example and its parameter sets.

``MyTracker`` is a :class:`pytracking.tracker.base.BaseTracker`: ``initialize`` with the first
frame and box, ``track`` for every later frame. It runs :class:`~docs.examples.mytracker.model.MyTrackerCore`
with one tracker and takes the best post-processed candidate, the same code the SLT adapter's
argmax rollout runs.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch

from ltr.models.registry import build_network, load_network
from pytracking.tracker.base import BaseTracker
from pytracking.utils.params import TrackerParams

from .model import GRID, WINDOW_INFLUENCE, MyTrackerCore

__all__ = ["NAME", "MyTracker", "default_parameters", "PARAMETERS", "tracker_entry"]

#: The one name the example registers its network, test-time tracker and SLT adapter under.
NAME = "mytracker"


def default_parameters() -> TrackerParams:
    """Parameter set ``default``: the weights come from ``--checkpoint``."""
    return TrackerParams(name="default", checkpoint=None, device="cpu", window_influence=WINDOW_INFLUENCE,
                         allow_random_weights=False)


#: Parameter sets by name (register_tracker also accepts a package of ``<name>.py`` modules).
PARAMETERS = {"default": default_parameters}


def tracker_entry():
    """``(tracker class, parameter sets)`` for a ``pytracking.trackers`` entry point."""
    return MyTracker, PARAMETERS


class MyTracker(BaseTracker):
    """Follows the target with the example network (see the module docstring).

    Parameters read: ``checkpoint`` (a project checkpoint of the ``mytracker`` network),
    ``device``, ``window_influence``, ``allow_random_weights`` (run without a checkpoint; smoke
    tests only).
    """

    def __init__(self, params: TrackerParams):
        super().__init__(params)
        device = params.get("device", "cpu")
        if params.checkpoint:
            net, _ = load_network(params.checkpoint, tracker=NAME, device=device)
        elif params.get("allow_random_weights", False):
            net = build_network(NAME, "tiny").to(device).eval()
        else:
            raise FileNotFoundError(f"{NAME} parameter set '{params.get('name', '?')}' has no checkpoint: pass "
                                    f"--checkpoint FILE (e.g. the latest.pth of 'ltr/run_training.py generic slt').")
        self.core = MyTrackerCore(net, params.get("window_influence", WINDOW_INFLUENCE), device=device)

    @torch.no_grad()
    def initialize(self, image: np.ndarray, info: Dict[str, Any]) -> None:
        self.core.initialize([image], torch.tensor([info["init_bbox"]], dtype=torch.float32))

    @torch.no_grad()
    def track(self, image: np.ndarray, info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result = self.core.search([image])
        best = result.scores.argmax(dim=1)
        box = self.core.commit(result, best)[0]
        out: Dict[str, Any] = {"target_bbox": [float(v) for v in box.tolist()]}
        if self.debug:
            out["score_map"] = result.scores[0].reshape(GRID, GRID).cpu().numpy()
            out["search_crop"] = result.crops[0].permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy()
            out["info"] = {"max score": float(result.scores[0, best[0]])}
        return out
