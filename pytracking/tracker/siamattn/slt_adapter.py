"""SiamAttn on the SLT seam: SiamRPN++'s policy over pysot's post-processed scores of all anchors,
the chosen anchor refined deterministically by the core (as at test time), and SiamAttn's own
frame-level terms on the crops the sampling rollout visited.

Replay rebuilds ``pscore`` exactly as SiamRPN++ does (fresh foreground scores, recorded penalty, fixed
cosine window; :class:`~pytracking.tracker.siamrpnpp.slt_adapter.SiamRPNSLTAdapter`). The frame-level
terms (:func:`ltr.models.loss.siamattn_loss.siamattn_terms`) take their targets from the ground truth
recorded in crop pixels: ``cls`` and ``loc`` (the anchor losses), ``refine`` (16 foreground RoIs from
the current proposals plus the ground truth) and ``mask``. Episodes carry no masks on the SLT seam,
so the mask term is 0 (mask weight 0 on every frame, as on the official SLT data without
COCO / YouTube-VOS).

Loss of each arm (:data:`LOSS_TABLE`):

* '+SS' (``scst_weight=0``): ``1.0 cls + 0.5 loc + 0.5 refine + 0.2 mask``, the frame-level loss;
* '+SS+SO' (official SLT-SiamAttn, ``slt_siamattn.yaml``: CLS_WEIGHT 1.0 on the self-critical term,
  LOC 0.5, REFINE 0.5, MASK 0.2): ``1.0 scst + 0.5 loc + 0.5 refine + 0.2 mask``, no cross-entropy;
* ``so_mode='add'``: ``1.0 scst + 1.0 cls + 0.5 loc + 0.5 refine + 0.2 mask``.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import torch

from ltr.models.loss.siamattn_loss import siamattn_terms
from ltr.models.siamese.anchor_target import crop_xywh_to_anchor_xyxy
from ltr.models.tracking.siamattn import SiamAttnConfig, SiamAttnOutputs
from pytracking.tracker.siamattn.core import SiamAttnCore
from pytracking.tracker.siamrpnpp.slt_adapter import SiamRPNSLTAdapter
from slt_plugins.losses import SLTLossTable
from slt_plugins.registry import register

__all__ = ["SiamAttnSLTAdapter", "LOSS_TABLE"]

_CFG = SiamAttnConfig()

#: SiamAttn's loss of each SLT arm. FLT weights: siamattn.yaml; SLT weights: slt_siamattn.yaml.
LOSS_TABLE = SLTLossTable(
    tracker="siamattn",
    flt_weights={"cls": _CFG.cls_weight, "loc": _CFG.loc_weight, "refine": _CFG.refine_weight,
                 "mask": _CFG.mask_weight},
    classification_terms=("cls",),
    slt_weights={"loc": 0.5, "refine": 0.5, "mask": 0.2},   # slt_siamattn.yaml LOC / REFINE / MASK_WEIGHT
    scst_weight=1.0,                                        # slt_siamattn.yaml CLS_WEIGHT, on the SCST term
)


@register("adapter", "siamattn")
class SiamAttnSLTAdapter(SiamRPNSLTAdapter):
    """Batched SiamAttn trackers for SLT (see the module docstring and :class:`SiamRPNSLTAdapter`)."""

    loss_table = LOSS_TABLE

    @classmethod
    def build_core(cls, net: torch.nn.Module, size: str, device: str) -> SiamAttnCore:
        return SiamAttnCore(net, SiamAttnConfig.paper() if size == "paper" else SiamAttnConfig.tiny(), device=device)

    def frame_terms(self, outputs: SiamAttnOutputs, gt_crop_xywh: torch.Tensor, visible: torch.Tensor,
                    names: Sequence[str]) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
        """SiamAttn's terms ``names`` on the visible frames whose box is wider than a pixel."""
        keep = torch.nonzero(visible & (gt_crop_xywh[:, 2:] > 1).all(1), as_tuple=False).squeeze(1)
        if keep.numel() == 0:
            zero = outputs.cls.sum() * 0.0
            return {name: zero for name in names}, {}
        kept = SiamAttnOutputs(*(t[keep] for t in outputs))
        gt_xyxy = crop_xywh_to_anchor_xyxy(gt_crop_xywh[keep].float())
        net: Any = self.core.net
        terms = siamattn_terms(kept, self.anchor_target(gt_xyxy), gt_xyxy, self.anchor_target.anchors.to(gt_xyxy),
                               net.refine, net.mask, self.core.cfg, names=names)
        return terms, {}
