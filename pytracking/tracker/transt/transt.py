"""The TransT online tracker: TransT's test-time procedure on the batched core with B = 1.

Per frame: crop the search region (search factor 4) around the previous centre, run the network
against the cached template, mix the target probability with a Hanning window
(``pscore = score * (1 - 0.49) + window * 0.49``), take the best candidate's box as it is (no
scale/ratio penalty, no size smoothing) and clip it to the image as the official tracker does.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

import numpy as np
import torch

from ltr.data.crop import IMAGENET_MEAN, IMAGENET_STD
from ltr.models.registry import build_network, load_network
from ltr.models.tracking.transt import TransTConfig
from pytracking.tracker.base import BaseTracker
from pytracking.tracker.transt.core import TransTCore
from pytracking.utils.params import TrackerParams

__all__ = ["TransT", "build_core", "TEST_TIME_FIELDS"]

#: Parameter-set fields that override the test-time numbers of :class:`TransTConfig`.
TEST_TIME_FIELDS = ("window_influence", "template_factor", "search_factor", "min_box_size")


def build_core(params: TrackerParams) -> TransTCore:
    """Network (from ``params.checkpoint``, or random weights where allowed) + test-time config -> core.

    ``params.checkpoint`` may be a project checkpoint (``ltr/run_training.py transt ...``) or an
    official TransT / SLT-TransT ``.pth`` (imported without running code from the file).
    """
    device = params.get("device", "cpu")
    size = params.get("model_size", "paper")
    if params.checkpoint:
        net, _ = load_network(params.checkpoint, tracker="transt", size=size, device=device)
    elif params.get("allow_random_weights", False):
        net = build_network("transt", size).to(device).eval()
    else:
        raise FileNotFoundError(
            f"TransT parameter set '{params.get('name', '?')}' has no checkpoint: pass --checkpoint FILE "
            f"(a project checkpoint from ltr/run_training.py transt ... or an official transt.pth / slt_transt.pth).")
    cfg = net.cfg if isinstance(getattr(net, "cfg", None), TransTConfig) else TransTConfig.from_size(size)
    overrides = {k: params.get(k) for k in TEST_TIME_FIELDS if params.has(k)}
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    return TransTCore(net, cfg, device=device)


def crop_to_rgb_uint8(search_input: torch.Tensor) -> np.ndarray:
    """One ImageNet-normalised RGB crop (3, S, S) -> S x S x 3 uint8 RGB (for the live view)."""
    mean = torch.tensor(IMAGENET_MEAN, device=search_input.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=search_input.device).view(3, 1, 1)
    rgb = (search_input * std + mean).mul(255.0).clamp(0, 255)
    return rgb.permute(1, 2, 0).round().byte().cpu().numpy()


class TransT(BaseTracker):
    """TransT (Chen et al., CVPR 2021) with the official test-time settings by default.

    Args:
        params: test-time parameters (``pytracking/parameter/transt/*.py``).
        core: an existing core (tests and the SLT identity check pass one with a shared network).
    """

    def __init__(self, params: TrackerParams, core: Optional[TransTCore] = None):
        super().__init__(params)
        self.core = core if core is not None else build_core(params)

    @torch.no_grad()
    def initialize(self, image: np.ndarray, info: Dict[str, Any]) -> None:
        box = torch.tensor([info["init_bbox"]], dtype=torch.float64)
        self.core.initialize([image], box)

    @torch.no_grad()
    def track(self, image: np.ndarray, info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result = self.core.search([image])
        index = self.core.argmax(result)
        box = self.core.commit(result, index)[0]
        out: Dict[str, Any] = {"target_bbox": [float(v) for v in box.tolist()]}
        if self.debug:
            side = self.core.cfg.score_size
            cand = result.candidates
            out["score_map"] = cand.pscore[0].reshape(side, side).cpu().numpy()
            out["search_crop"] = crop_to_rgb_uint8(result.search_input[0])
            best = int(index[0])
            out["info"] = {"max_pscore": float(cand.pscore[0, best]), "score": float(cand.score[0, best]),
                           "index": best, "search_side": float(result.crop_side[0])}
        return out
