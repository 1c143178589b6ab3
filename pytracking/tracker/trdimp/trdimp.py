"""The TrDiMP online tracker: the batched core (:mod:`pytracking.tracker.trdimp.core`) with B = 1."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch

from ltr.models.registry import build_network, load_network
from pytracking.tracker.base import BaseTracker
from pytracking.tracker.common.tracker_state import LockstepTracker
from pytracking.tracker.trdimp.core import FLAG_NAMES, TrDiMPCore, TrDiMPSearch, TrDiMPTrackingConfig
from pytracking.utils.params import TrackerParams

__all__ = ["TrDiMP", "build_core", "build_net"]


def build_net(params: TrackerParams) -> torch.nn.Module:
    """The network of a parameter set, in eval mode on ``params.device``.

    Reads ``params.checkpoint`` (a project checkpoint or an official TrDiMP ``.pth``); random
    weights only with ``allow_random_weights=True`` (tests, smoke runs).
    """
    device = params.get("device", "cpu")
    size = params.get("model_size", "paper")
    if params.checkpoint:
        net, _ = load_network(params.checkpoint, tracker="trdimp", size=size, device=device)
        return net.eval()
    if params.get("allow_random_weights", False):
        return build_network("trdimp", size).to(device).eval()
    raise FileNotFoundError(
        f"TrDiMP parameter set '{params.get('name', '?')}' has no checkpoint: pass --checkpoint FILE "
        f"(a project checkpoint from ltr/run_training.py or the official trdimp.pth / slt_trdimp.pth).")


def build_core(params: TrackerParams, net: Optional[torch.nn.Module] = None) -> TrDiMPCore:
    """Network (``net`` or :func:`build_net`) + test-time parameters -> batched core."""
    net = build_net(params) if net is None else net
    config = TrDiMPTrackingConfig.from_params(params)
    image_sample_size = getattr(getattr(net, "config", None), "image_sample_size", None)
    if not params.has("image_sample_size") and image_sample_size is not None:
        config.image_sample_size = int(image_sample_size)
    return TrDiMPCore(net, config, device=params.get("device", "cpu"))


class TrDiMP(LockstepTracker, BaseTracker):
    """TrDiMP (Wang et al., CVPR 2021) with the reference test-time procedure.

    Args:
        params: a parameter set from ``pytracking/parameter/trdimp``.
        core: an existing core (e.g. sharing a network in tests); built from ``params`` if None.
    """

    def __init__(self, params: TrackerParams, core: Optional[TrDiMPCore] = None):
        super().__init__(params)
        self.core = core if core is not None else build_core(params)

    def choose(self, result: TrDiMPSearch) -> torch.Tensor:
        return result.choice

    @torch.no_grad()
    def initialize(self, image: np.ndarray, info: Dict[str, Any]) -> Dict[str, Any]:
        box = torch.tensor([info["init_bbox"]], dtype=torch.float64)
        self.core.initialize([image], box)
        return {}

    @torch.no_grad()
    def track(self, image: np.ndarray, info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result = self.core.search([image])
        box = self.core.commit(result, self.choose(result))[0]
        out: Dict[str, Any] = {"target_bbox": [float(v) for v in box.tolist()]}
        if self.debug:
            scores = self.core.display_scores(result.scores)[0]
            flag = FLAG_NAMES[int(result.flags[0])]
            out["score_map"] = scores.float().cpu().numpy()
            out["search_crop"] = result.crops[0].permute(1, 2, 0).clamp(0, 255).round().byte().cpu().numpy()
            out["info"] = {"flag": flag, "max_score": float(result.scores[0].max()),
                           "frame": int(self.core.frame_num)}
        return out
