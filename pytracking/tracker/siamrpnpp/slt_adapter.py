"""SiamRPN++ on the SLT seam: logit-softmax policy over pysot's post-processed scores.

Replay rebuilds ``pscore = penalty * score * (1 - window_influence) + window * window_influence``
from the fresh foreground scores, the recorded penalty (it depends on the tracker's state at that
step) and the fixed cosine window. The frame-level terms are SiamRPN++'s own anchor losses on the
crops the sampling rollout visited, with targets from the ground truth recorded in crop pixels:
``cls`` (balanced cross-entropy over sampled anchors) and ``loc`` (weighted L1 on box deltas).

Loss of each arm (:data:`LOSS_TABLE`):

* '+SS' (``scst_weight=0``): ``1.0 cls + 1.2 loc``, the frame-level loss;
* '+SS+SO' (official SLT-SiamRPN++, ``slt_siamrpnpp.yaml``: ``TRAIN.CLS_WEIGHT`` 1.0 on the
  self-critical term, ``TRAIN.LOC_WEIGHT`` 1.0): ``1.0 scst + 1.0 loc``, no cross-entropy;
* ``so_mode='add'``: ``1.0 scst + 1.0 cls + 1.0 loc``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ltr.models.loss.siamrpnpp_loss import log_softmax_cls, select_cross_entropy_loss, weight_l1_loss
from ltr.models.siamese.anchor_target import AnchorTarget, crop_xywh_to_anchor_xyxy
from ltr.models.tracking.siamrpnpp import SiamRPNConfig
from pytracking.tracker.common.siamese_core import SearchResult
from pytracking.tracker.common.siamese_slt import SiameseSLTAdapter
from pytracking.tracker.siamrpnpp.core import SiamRPNCore
from slt_plugins.losses import SLTLossTable
from slt_plugins.registry import register

# crop_xywh_to_anchor_xyxy moved to ltr.models.siamese.anchor_target; kept importable from here.
__all__ = ["SiamRPNSLTAdapter", "LOSS_TABLE", "crop_xywh_to_anchor_xyxy"]

#: SiamRPN++'s loss of each SLT arm. FLT weights: the config's defaults (pysot's 1.0 / 1.2).
LOSS_TABLE = SLTLossTable(
    tracker="siamrpnpp",
    flt_weights={"cls": SiamRPNConfig.cls_weight, "loc": SiamRPNConfig.loc_weight},
    classification_terms=("cls",),
    slt_weights={"loc": 1.0},   # slt_siamrpnpp.yaml TRAIN.LOC_WEIGHT
    scst_weight=1.0,            # slt_siamrpnpp.yaml TRAIN.CLS_WEIGHT, applied to the SCST term
)


@register("adapter", "siamrpnpp")
class SiamRPNSLTAdapter(SiameseSLTAdapter):
    """Batched SiamRPN++ trackers for SLT (see the module docstring and :class:`SiameseSLTAdapter`).

    Args:
        core: the batched core; its network is the one being trained.
        policy: candidate distribution over ``pscore``.
        scst_weight: weight of the self-critical term (official 1; 0 gives '+SS'); None: official.
        box_weight: factor on the ``loc`` term of every arm (1: the table's weights).
        scst_reduction: see :func:`slt_plugins.scst.scst_loss`.
        so_mode: 'replace' (official) or 'add'; see :mod:`slt_plugins.losses`.
    """

    loss_table = LOSS_TABLE

    @classmethod
    def build_core(cls, net: torch.nn.Module, size: str, device: str) -> SiamRPNCore:
        return SiamRPNCore(net, SiamRPNConfig.paper() if size == "paper" else SiamRPNConfig.tiny(), device=device)

    def __init__(self, core: SiamRPNCore, policy: Any, scst_weight: Optional[float] = None, box_weight: float = 1.0,
                 scst_reduction: str = "mean", so_mode: str = "replace"):
        super().__init__(core, policy, scst_weight, box_weight, scst_reduction, so_mode)
        self.anchor_target = AnchorTarget(core.cfg)

    def record_constants(self, result: SearchResult) -> Dict[str, torch.Tensor]:
        return {"penalty": result.candidates.penalty.float()}

    def replay_pscore(self, outputs: Any, steps: Dict[str, torch.Tensor]) -> torch.Tensor:
        cls = outputs[0]  # the RPN's cls logits (SiamAttn's outputs carry more after them)
        n = self.core.anchors.shape[0]
        score = F.softmax(cls.reshape(cls.shape[0], 2, n), dim=1)[:, 1]
        wi = self.core.cfg.window_influence
        return steps["penalty"].to(score) * score * (1.0 - wi) + self.core.window.to(score)[None] * wi

    def frame_terms(self, outputs: Any, gt_crop_xywh: torch.Tensor, visible: torch.Tensor,
                    names: Sequence[str]) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
        """``cls`` and/or ``loc`` of pysot's loss on the visible frames whose box is wider than a pixel."""
        cls, loc = outputs
        keep = torch.nonzero(visible & (gt_crop_xywh[:, 2:] > 1).all(1), as_tuple=False).squeeze(1)
        if keep.numel() == 0:
            zero = cls.sum() * 0.0
            return {name: zero for name in names}, {}
        targets = self.anchor_target(crop_xywh_to_anchor_xyxy(gt_crop_xywh[keep].float()))
        terms: Dict[str, torch.Tensor] = {}
        if "cls" in names:
            terms["cls"] = select_cross_entropy_loss(log_softmax_cls(cls[keep]), targets.cls)
        if "loc" in names:
            terms["loc"] = weight_l1_loss(loc[keep], targets.delta, targets.delta_weight)
        return terms, {}
