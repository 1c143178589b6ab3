"""The SiamRPN++ online tracker (pysot's test-time procedure on the batched core with B = 1)."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch

from ltr.models.registry import build_network, load_network
from ltr.models.tracking.siamrpnpp import SiamRPNConfig
from pytracking.tracker.base import BaseTracker
from pytracking.tracker.siamrpnpp.core import SiamRPNCore
from pytracking.utils.params import TrackerParams


def build_core(params: TrackerParams) -> SiamRPNCore:
    """Network (from ``params.checkpoint`` or random for tests) + test-time config -> core."""
    device = params.get("device", "cpu")
    size = params.get("model_size", "paper")
    if params.checkpoint:
        net, _ = load_network(params.checkpoint, tracker="siamrpnpp", size=size, device=device)
    elif params.get("allow_random_weights", False):
        net = build_network("siamrpnpp", size).to(device).eval()
    else:
        raise FileNotFoundError(
            f"SiamRPN++ parameter set '{params.get('name', '?')}' has no checkpoint: pass --checkpoint FILE "
            f"(a project checkpoint from ltr/run_training.py or an official pysot .pth).")
    cfg = SiamRPNConfig.paper() if size == "paper" else SiamRPNConfig.tiny()
    overrides = {k: params.get(k) for k in ("penalty_k", "window_influence", "lr") if params.has(k)}
    if overrides:
        cfg = cfg.__class__(**{**cfg.__dict__, **overrides})
    return SiamRPNCore(net, cfg, device=device)


class SiamRPNPP(BaseTracker):
    """SiamRPN++: anchors, scale/ratio penalty, cosine window, size smoothing, boundary clipping."""

    def __init__(self, params: TrackerParams, core: Optional[SiamRPNCore] = None):
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
            cfg = self.core.cfg
            pscore = result.candidates.pscore[0].reshape(cfg.anchor_num, cfg.score_size, cfg.score_size)
            out["score_map"] = pscore.max(dim=0).values.cpu().numpy()
            crop = result.search_input[0].flip(0).permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy()
            out["search_crop"] = crop
            out["info"] = {"max_pscore": float(pscore.max()), "index": int(index[0])}
        return out
