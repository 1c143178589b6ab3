"""TransT on the SLT seam: logit-softmax policy over TransT's window-mixed scores.

Explore steps the same :class:`~pytracking.tracker.transt.core.TransTCore` as the test-time
tracker. TransT's ``pscore = score * (1 - wi) + window * wi`` has no state-dependent term (no
scale/ratio penalty), so nothing but the crops and actions needs recording: replay rebuilds
``pscore`` from the fresh logits and the fixed Hanning window.

Loss (official SLT-TransT recipe):

    total = 15 * L_scst + 5 * L1 + 2 * GIoU

where ``L_scst`` is the mean of ``-A * log p(a_t)`` over every (rollout, frame) term and the box
terms are TransT's own (:class:`ltr.models.loss.transt_loss.SetCriterion`, boxes only): every
token whose cell lies inside the ground truth is a positive, L1 and 1 - GIoU are summed over
positives and divided by their number. The paper writes the same objective divided by 15,
``L_scst + 0.33 L1 + 0.13 GIoU``; only the overall scale differs, which Adam(W) ignores.
The ground truth is the one recorded in each sampled crop's pixel frame; frames where the
target is not visible (or its box is empty) get no positives.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from ltr.models.loss.transt_loss import SetCriterion, box_xywh_to_normalized_cxcywh, build_transt_loss
from ltr.models.transt_postprocess import score_candidates
from pytracking.tracker.common.siamese_slt import SiameseSLTAdapter
from pytracking.tracker.transt.core import TransTCore
from slt_plugins.policy import official_policy
from slt_plugins.registry import register

__all__ = ["TransTSLTAdapter", "SLT_TRANST_SCST_WEIGHT"]

#: Official weight of the self-critical term in SLT-TransT (``settings.slt_loss_weight``).
SLT_TRANST_SCST_WEIGHT = 15.0


@register("adapter", "transt")
class TransTSLTAdapter(SiameseSLTAdapter):
    """Batched TransT trackers for SLT (see the module docstring).

    Args:
        core: the batched core; its network is the one being trained.
        policy: candidate distribution over ``pscore``; default the official one
            (logit-softmax, temperature 4, eps 0.01).
        scst_weight: weight of the self-critical term (15 officially; 0 gives '+SS' only).
        box_weight: factor on the box terms, which already carry TransT's weights 5 (L1) and 2 (GIoU).
        scst_reduction: see :func:`slt_plugins.scst.scst_loss`.
        criterion: box criterion; default ``build_transt_loss(('boxes',))``.
    """

    def __init__(self, core: TransTCore, policy: Optional[Any] = None, scst_weight: float = SLT_TRANST_SCST_WEIGHT,
                 box_weight: float = 1.0, scst_reduction: str = "mean", criterion: Optional[SetCriterion] = None):
        super().__init__(core, policy if policy is not None else official_policy("transt"), scst_weight,
                         box_weight, scst_reduction)
        self.criterion = criterion if criterion is not None else build_transt_loss(("boxes",))

    def replay_pscore(self, outputs: Dict[str, torch.Tensor], steps: Dict[str, torch.Tensor]) -> torch.Tensor:
        pscore, _, _ = score_candidates(outputs["pred_logits"], outputs["pred_boxes"], self.core.window, self.core.cfg)
        return pscore

    def box_loss(self, outputs: Dict[str, torch.Tensor], gt_crop_xywh: torch.Tensor,
                 visible: torch.Tensor) -> Dict[str, torch.Tensor]:
        """TransT's L1 + GIoU on the recorded search crops.

        Args:
            outputs: ``pred_logits`` (M, N, 2), ``pred_boxes`` (M, N, 4) cxcywh normalised to the crop.
            gt_crop_xywh: (M, 4) ground truth in crop pixels (xywh).
            visible: (M,) bool; invisible frames and empty boxes contribute nothing.
        """
        size = self.core.search_size
        gt = gt_crop_xywh.to(outputs["pred_boxes"])
        valid = visible.to(gt.device).bool() & (gt[:, 2:] > 0).all(dim=1)
        targets = box_xywh_to_normalized_cxcywh(gt, (size, size))
        terms = self.criterion(outputs, targets, valid=valid)
        return {"total": terms["total"], "l1": terms["loss_bbox"].detach(), "giou": terms["loss_giou"].detach(),
                "iou": terms["iou"].detach(), "num_pos": terms["num_pos"].detach()}
