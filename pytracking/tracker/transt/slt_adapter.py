"""TransT on the SLT seam: logit-softmax policy over TransT's window-mixed scores.

Explore steps the same :class:`~pytracking.tracker.transt.core.TransTCore` as the test-time
tracker. TransT's ``pscore = score * (1 - wi) + window * wi`` has no state-dependent term (no
scale/ratio penalty), so nothing but the crops and actions needs recording: replay rebuilds
``pscore`` from the fresh logits and the fixed Hanning window.

Frame-level terms (:class:`ltr.models.loss.transt_loss.SetCriterion`) on the recorded search
crops of the visible frames, ground truth in each crop's pixel frame: ``ce`` (token
cross-entropy, background weight 0.0625), ``l1`` and ``giou`` (1 - GIoU), the box terms summed
over the positives (the tokens whose cell lies inside the ground truth) and divided by their
number. Loss of each arm (:data:`LOSS_TABLE`):

* '+SS' (``scst_weight=0``): ``8.334 ce + 5 l1 + 2 giou``, TransT's frame-level loss;
* '+SS+SO' (official SLT-TransT): ``15 scst + 5 l1 + 2 giou``, no cross-entropy;
* ``so_mode='add'``: ``15 scst + 8.334 ce + 5 l1 + 2 giou``.

``scst`` is the mean of ``-A * log p(a_t)`` over every (rollout, frame) term. The paper writes
the official objective divided by 15, ``L_scst + 0.33 L1 + 0.13 GIoU``; only the overall scale
differs, which Adam(W) ignores.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from ltr.models.loss.transt_loss import (TRANST_LOSS_WEIGHTS, SetCriterion, box_xywh_to_normalized_cxcywh,
                                         build_transt_loss)
from pytracking.tracker.transt.postprocess import score_candidates
from pytracking.tracker.common.siamese_slt import SiameseSLTAdapter
from pytracking.tracker.transt.core import TransTCore
from slt_plugins.losses import SLTLossTable
from slt_plugins.policy import official_policy
from slt_plugins.registry import register

__all__ = ["TransTSLTAdapter", "SLT_TRANST_SCST_WEIGHT", "LOSS_TABLE"]

#: Official weight of the self-critical term in SLT-TransT (``settings.slt_loss_weight``).
SLT_TRANST_SCST_WEIGHT = 15.0

#: Table term -> the :class:`SetCriterion` output that holds it.
_CRITERION_KEYS = {"ce": "loss_ce", "l1": "loss_bbox", "giou": "loss_giou"}

#: TransT's loss of each SLT arm; the official SLT recipe keeps the frame-level box weights.
LOSS_TABLE = SLTLossTable(
    tracker="transt",
    flt_weights={term: TRANST_LOSS_WEIGHTS[key] for term, key in _CRITERION_KEYS.items()},
    classification_terms=("ce",),
    slt_weights={term: TRANST_LOSS_WEIGHTS[_CRITERION_KEYS[term]] for term in ("l1", "giou")},
    scst_weight=SLT_TRANST_SCST_WEIGHT,
)


@register("adapter", "transt")
class TransTSLTAdapter(SiameseSLTAdapter):
    """Batched TransT trackers for SLT (see the module docstring and :class:`SiameseSLTAdapter`).

    Args:
        core: the batched core; its network is the one being trained.
        policy: candidate distribution over ``pscore``; default the official one
            (logit-softmax, temperature 4, eps 0.01).
        scst_weight: weight of the self-critical term (15 officially; 0 gives '+SS'); None: official.
        box_weight: factor on the ``l1`` and ``giou`` terms of every arm (1: the table's 5 and 2).
        scst_reduction: see :func:`slt_plugins.scst.scst_loss`.
        criterion: computes the terms (matcher, background weight); default ``build_transt_loss()``.
            Its ``weight_dict`` is not used: the weights are :data:`LOSS_TABLE`'s.
        so_mode: 'replace' (official) or 'add'; see :mod:`slt_plugins.losses`.
    """

    loss_table = LOSS_TABLE

    def __init__(self, core: TransTCore, policy: Optional[Any] = None, scst_weight: Optional[float] = None,
                 box_weight: float = 1.0, scst_reduction: str = "mean", criterion: Optional[SetCriterion] = None,
                 so_mode: str = "replace"):
        super().__init__(core, policy if policy is not None else official_policy("transt"), scst_weight,
                         box_weight, scst_reduction, so_mode)
        self.criterion = criterion if criterion is not None else build_transt_loss()

    @classmethod
    def build_core(cls, net: torch.nn.Module, size: str, device: str) -> TransTCore:
        from ltr.models.tracking.transt import TransTConfig
        return TransTCore(net, TransTConfig.from_size(size), device=device)

    def replay_pscore(self, outputs: Dict[str, torch.Tensor], steps: Dict[str, torch.Tensor]) -> torch.Tensor:
        pscore, _, _ = score_candidates(outputs["pred_logits"], outputs["pred_boxes"], self.core.window, self.core.cfg)
        return pscore

    def frame_terms(self, outputs: Dict[str, torch.Tensor], gt_crop_xywh: torch.Tensor, visible: torch.Tensor,
                    names: Sequence[str]) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
        """TransT's ``ce`` / ``l1`` / ``giou`` on the visible frames with a non-empty box.

        Args:
            outputs: ``pred_logits`` (M, N, 2), ``pred_boxes`` (M, N, 4) cxcywh normalised to the crop.
            gt_crop_xywh: (M, 4) ground truth in crop pixels (xywh).
            visible: (M,) bool.
            names: terms of :data:`LOSS_TABLE` to compute.

        Returns:
            The terms, and diagnostics ``box/iou``, ``box/num_pos`` (with box terms) and
            ``box/class_error`` (with ``ce``).
        """
        gt = gt_crop_xywh.to(outputs["pred_boxes"])
        keep = torch.nonzero(visible.to(gt.device).bool() & (gt[:, 2:] > 0).all(dim=1), as_tuple=False).squeeze(1)
        if keep.numel() == 0:
            zero = outputs["pred_logits"].sum() * 0.0
            return {name: zero for name in names}, {}
        # Hidden frames leave the batch, so the cross-entropy never learns "background" from a box
        # that is not there.
        kept = {k: outputs[k][keep] for k in ("pred_logits", "pred_boxes")}
        size = self.core.search_size
        targets = box_xywh_to_normalized_cxcywh(gt[keep], (size, size))
        groups = [g for g, wanted in (("labels", "ce" in names), ("boxes", bool({"l1", "giou"} & set(names))))
                  if wanted]
        out = self.criterion(kept, targets, losses=groups)
        terms = {name: out[_CRITERION_KEYS[name]] for name in names}
        diagnostics: Dict[str, float] = {}
        if "boxes" in groups:
            diagnostics.update({"box/iou": float(out["iou"]), "box/num_pos": float(out["num_pos"])})
        if "labels" in groups:
            diagnostics["box/class_error"] = float(out["class_error"])
        return terms, diagnostics
