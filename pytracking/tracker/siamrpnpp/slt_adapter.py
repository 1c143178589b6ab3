"""SiamRPN++ on the SLT seam: logit-softmax policy over pysot's post-processed scores.

Replay rebuilds ``pscore = penalty * score * (1 - window_influence) + window * window_influence``
from the fresh foreground scores, the recorded penalty (it depends on the tracker's state at that
step) and the fixed cosine window. The box loss is SiamRPN++'s own anchor loss on the crops the
sampling rollout visited, with targets from the ground truth recorded in crop pixels.
"""
from __future__ import annotations

from typing import Any, Dict

import torch
import torch.nn.functional as F

from ltr.models.loss.siamrpn_loss import siamrpn_loss
from ltr.models.siamese.anchor_target import AnchorTarget
from pytracking.tracker.common.siamese_core import SearchResult
from pytracking.tracker.common.siamese_slt import SiameseSLTAdapter
from pytracking.tracker.siamrpnpp.core import SiamRPNCore
from slt_plugins.registry import register


def crop_xywh_to_anchor_xyxy(boxes_xywh: torch.Tensor) -> torch.Tensor:
    """Continuous crop-pixel xywh -> pysot's 0-based pixel-index x1y1x2y2 (shift by half a pixel)."""
    x1y1 = boxes_xywh[:, :2] - 0.5
    return torch.cat([x1y1, x1y1 + boxes_xywh[:, 2:]], dim=1)


@register("adapter", "siamrpnpp")
class SiamRPNSLTAdapter(SiameseSLTAdapter):
    """Batched SiamRPN++ trackers for SLT (see the module docstring)."""

    def __init__(self, core: SiamRPNCore, policy: Any, scst_weight: float = 1.0, box_weight: float = 1.0,
                 scst_reduction: str = "mean"):
        super().__init__(core, policy, scst_weight, box_weight, scst_reduction)
        self.anchor_target = AnchorTarget(core.cfg)

    def record_constants(self, result: SearchResult) -> Dict[str, torch.Tensor]:
        return {"penalty": result.candidates.penalty.float()}

    def replay_pscore(self, outputs: Any, steps: Dict[str, torch.Tensor]) -> torch.Tensor:
        cls, _ = outputs
        n = self.core.anchors.shape[0]
        score = F.softmax(cls.reshape(cls.shape[0], 2, n), dim=1)[:, 1]
        wi = self.core.cfg.window_influence
        return steps["penalty"].to(score) * score * (1.0 - wi) + self.core.window.to(score)[None] * wi

    def box_loss(self, outputs: Any, gt_crop_xywh: torch.Tensor, visible: torch.Tensor) -> Dict[str, torch.Tensor]:
        cls, loc = outputs
        keep = torch.nonzero(visible & (gt_crop_xywh[:, 2:] > 1).all(1), as_tuple=False).squeeze(1)
        if keep.numel() == 0:
            zero = cls.sum() * 0.0
            return {"total": zero, "cls": zero.detach(), "loc": zero.detach()}
        targets = self.anchor_target(crop_xywh_to_anchor_xyxy(gt_crop_xywh[keep].float()))
        terms = siamrpn_loss(cls[keep], loc[keep], targets.cls, targets.delta, targets.delta_weight,
                             cls_weight=self.core.cfg.cls_weight, loc_weight=self.core.cfg.loc_weight)
        return {"total": terms.total, "cls": terms.cls.detach(), "loc": terms.loc.detach()}
