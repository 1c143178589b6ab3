"""OSTrack on the SLT seam: logit-softmax policy over the cells of the Hanning-windowed score map.

Explore steps the same :class:`~pytracking.tracker.ostrack.core.OSTrackCore` as the test-time
tracker: candidates are the S x S cells, ``pscore = hann * score``, the box is read at the chosen
cell exactly as at test time, and candidate elimination keeps its fixed test-time ratio (the
frame-level keep-rate schedule is never used here, so an SLT run starting at epoch 1 does not
switch elimination off). The window is fixed and nothing else is state-dependent, so replay
rebuilds ``pscore`` from the fresh score map: only crops and actions are recorded. The actor runs
explore and replay in eval mode (``network_mode='eval'``): BatchNorm statistics stay frozen and
DropPath is off, so elimination keeps the same tokens in both passes and log p(a) is on-policy.

Frame-level terms (:class:`ltr.models.loss.ostrack_loss.OSTrackLoss`) on the recorded search
crops of the visible frames, ground truth in each crop's pixel frame: ``focal`` (centre heatmap),
``l1`` and ``giou`` (box at the argmax of the raw score map, as frame-level training supervises
it). Loss of each arm (:data:`LOSS_TABLE`):

* '+SS' (``scst_weight=0``): ``1 focal + 5 l1 + 2 giou``, OSTrack's frame-level loss;
* '+SS+SO' (the ``slt`` settings): ``15 scst + 5 l1 + 2 giou``, no focal term;
* ``so_mode='add'``: ``15 scst + 1 focal + 5 l1 + 2 giou``.

The SCST weight 15 is SLT-TransT's (OSTrack has no official SLT).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from ltr.models.loss.ostrack_loss import OSTRACK_LOSS_WEIGHTS, OSTrackLoss
from pytracking.tracker.common.siamese_slt import SiameseSLTAdapter
from pytracking.tracker.ostrack.core import OSTrackCore, windowed_scores
from slt_plugins.losses import SLTLossTable
from slt_plugins.policy import official_policy
from slt_plugins.registry import register

__all__ = ["OSTrackSLTAdapter", "SLT_OSTRACK_SCST_WEIGHT", "LOSS_TABLE"]

#: Weight of the self-critical term (SLT-TransT's ``slt_loss_weight``).
SLT_OSTRACK_SCST_WEIGHT = 15.0

#: OSTrack's loss of each SLT arm: SCST replaces the focal term, the box terms keep their weights.
LOSS_TABLE = SLTLossTable(
    tracker="ostrack",
    flt_weights=dict(OSTRACK_LOSS_WEIGHTS),
    classification_terms=("focal",),
    slt_weights={term: OSTRACK_LOSS_WEIGHTS[term] for term in ("l1", "giou")},
    scst_weight=SLT_OSTRACK_SCST_WEIGHT,
)


@register("adapter", "ostrack")
class OSTrackSLTAdapter(SiameseSLTAdapter):
    """Batched OSTrack trackers for SLT (see the module docstring and :class:`SiameseSLTAdapter`).

    Args:
        core: the batched core; its network is the one being trained.
        policy: candidate distribution over ``pscore``; default logit-softmax, temperature 4, eps 0.01.
        scst_weight: weight of the self-critical term (15; 0 gives '+SS'); None: the table's.
        box_weight: factor on the ``l1`` and ``giou`` terms of every arm (1: the table's 5 and 2).
        scst_reduction: see :func:`slt_plugins.scst.scst_loss`.
        criterion: computes the terms; its ``weight_dict`` is not used (the weights are :data:`LOSS_TABLE`'s).
        so_mode: 'replace' or 'add'; see :mod:`slt_plugins.losses`.
    """

    loss_table = LOSS_TABLE

    def __init__(self, core: OSTrackCore, policy: Optional[Any] = None, scst_weight: Optional[float] = None,
                 box_weight: float = 1.0, scst_reduction: str = "mean", criterion: Optional[OSTrackLoss] = None,
                 so_mode: str = "replace"):
        super().__init__(core, policy if policy is not None else official_policy("ostrack"), scst_weight,
                         box_weight, scst_reduction, so_mode)
        self.criterion = criterion if criterion is not None else OSTrackLoss()

    @classmethod
    def build_core(cls, net: torch.nn.Module, size: str, device: str) -> OSTrackCore:
        from ltr.models.tracking.ostrack import OSTrackConfig
        return OSTrackCore(net, OSTrackConfig.from_size(size), device=device)

    def replay_pscore(self, outputs: Dict[str, torch.Tensor], steps: Dict[str, torch.Tensor]) -> torch.Tensor:
        return windowed_scores(outputs["score_map"], self.core.window)

    def frame_terms(self, outputs: Dict[str, torch.Tensor], gt_crop_xywh: torch.Tensor, visible: torch.Tensor,
                    names: Sequence[str]) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
        """OSTrack's ``focal`` / ``l1`` / ``giou`` on the visible frames with a non-empty box.

        Args:
            outputs: the network's maps on the M recorded crops (``score_map``, ``pred_boxes``, ...).
            gt_crop_xywh: (M, 4) ground truth in crop pixels (xywh).
            visible: (M,) bool.
            names: terms of :data:`LOSS_TABLE` to compute.

        Returns:
            The terms, and the diagnostic ``box/iou`` (with box terms).
        """
        gt = gt_crop_xywh.to(outputs["score_map"])
        keep = torch.nonzero(visible.to(gt.device).bool() & (gt[:, 2:] > 0).all(dim=1), as_tuple=False).squeeze(1)
        if keep.numel() == 0:
            zero = outputs["score_map"].sum() * 0.0
            return {name: zero for name in names}, {}
        kept = {k: outputs[k][keep] for k in ("score_map", "pred_boxes")}
        out = self.criterion(kept, gt[keep] / float(self.core.search_size), terms=tuple(names))
        diagnostics = {"box/iou": float(out["iou"])} if "iou" in out else {}
        return {name: out[name] for name in names}, diagnostics
