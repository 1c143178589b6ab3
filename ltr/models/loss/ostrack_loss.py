"""OSTrack training objective: 1 focal (centre heatmap) + 5 L1 + 2 GIoU.

Box formats: ``xywh`` (top-left corner + size) and ``xyxy`` corners, normalised to [0, 1] by
the search crop's side; the network's ``pred_boxes`` are cxcywh in the same units.

* ``focal``: CenterNet's focal loss (alpha 2, beta 4) between ``score_map`` and a Gaussian
  heatmap around the ground-truth centre (:func:`gaussian_heatmap`, CornerNet radius with
  minimum overlap 0.7), normalised by the number of positive cells (cells where the heatmap is
  exactly 1, i.e. the centre cells).
* ``l1``: mean absolute difference of the xyxy corners of ``pred_boxes`` (the box at the argmax
  of the raw score map) and the ground truth clamped to [0, 1].
* ``giou``: mean ``1 - GIoU`` of the same boxes.

All of it runs in float32, also when the network ran under autocast.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltr.models.loss.transt_loss import box_cxcywh_to_xyxy, elementwise_box_giou

__all__ = ["OSTRACK_LOSS_WEIGHTS", "OSTRACK_TERMS", "gaussian_radius", "gaussian_heatmap", "focal_loss",
           "OSTrackLoss"]

#: Loss weights of OSTrack training (``lib/train/train_script.py``).
OSTRACK_LOSS_WEIGHTS: Dict[str, float] = {"focal": 1.0, "l1": 5.0, "giou": 2.0}
OSTRACK_TERMS = tuple(OSTRACK_LOSS_WEIGHTS)


def gaussian_radius(wh: torch.Tensor, min_overlap: float = 0.7) -> torch.Tensor:
    """CornerNet's Gaussian radius for boxes of size (..., 2) = (w, h) in map cells: the largest
    corner shift that keeps IoU >= ``min_overlap`` (the minimum of CornerNet's three cases)."""
    w, h = wh[..., 0], wh[..., 1]
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + torch.sqrt((b1 ** 2 - 4 * c1).clamp_min(0))) / 2
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + torch.sqrt((b2 ** 2 - 16 * c2).clamp_min(0))) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + torch.sqrt((b3 ** 2 - 4 * a3 * c3).clamp_min(0))) / 2
    return torch.minimum(r1, torch.minimum(r2, r3))


def gaussian_heatmap(boxes_xywh: torch.Tensor, size: int, min_overlap: float = 0.7) -> torch.Tensor:
    """Target heatmaps (B, 1, size, size) for boxes (B, 4) xywh normalised to the crop.

    As OSTrack's ``generate_heatmap``: the centre ``round((x + w/2) size)`` (likewise y) gets 1;
    cells within the integer radius ``r`` (:func:`gaussian_radius` of the box in cells) get
    ``exp(-(dx^2 + dy^2) / (2 sigma^2))`` with ``sigma = (2r + 1) / 6``; all others 0.
    """
    boxes = boxes_xywh.detach().float() * size
    wh = boxes[:, 2:]
    centre = (boxes[:, :2] + wh / 2).round()                                  # (B, 2) x, y in cells
    radius = gaussian_radius(wh, min_overlap).clamp_min(0).floor()            # (B,)
    sigma = (2 * radius + 1) / 6
    cells = torch.arange(size, device=boxes.device, dtype=torch.float32)
    dx = cells.view(1, 1, size) - centre[:, 0].view(-1, 1, 1)                 # (B, 1, S) along x
    dy = cells.view(1, size, 1) - centre[:, 1].view(-1, 1, 1)                 # (B, S, 1) along y
    inside = (dx.abs() <= radius.view(-1, 1, 1)) & (dy.abs() <= radius.view(-1, 1, 1))
    heat = torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma.view(-1, 1, 1) ** 2)) * inside
    return heat.unsqueeze(1)


def focal_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet focal loss of heatmaps ``pred`` in (0, 1) against ``target`` (same shape), summed and
    divided by the number of positive cells (target == 1); without positives, the negative part."""
    pred = pred.float().clamp_min(1e-12)
    positive = target.eq(1).float()
    negative = target.lt(1).float()
    pos_loss = (torch.log(pred) * (1 - pred) ** alpha * positive).sum()
    neg_loss = (torch.log((1 - pred).clamp_min(1e-12)) * pred ** alpha * (1 - target) ** beta * negative).sum()
    num_pos = positive.sum()
    return -(pos_loss + neg_loss) / num_pos if float(num_pos) > 0 else -neg_loss


class OSTrackLoss(nn.Module):
    """OSTrack's loss on the network's outputs (see the module docstring).

    Args:
        weight_dict: weights of the terms in ``total`` (default :data:`OSTRACK_LOSS_WEIGHTS`).
    """

    def __init__(self, weight_dict: Optional[Mapping[str, float]] = None) -> None:
        super().__init__()
        self.weight_dict = dict(OSTRACK_LOSS_WEIGHTS if weight_dict is None else weight_dict)

    def forward(self, outputs: Mapping[str, torch.Tensor], target_xywh: torch.Tensor,
                terms: Sequence[str] = OSTRACK_TERMS) -> Dict[str, torch.Tensor]:
        """Compute ``terms`` for outputs ``score_map`` (B,1,S,S), ``pred_boxes`` (B,4) and targets
        (B,4) xywh normalised to the crop.

        Returns the requested terms, ``total`` (weighted sum of them), and the detached ``iou``
        (mean IoU of ``pred_boxes``) when a box term was computed.
        """
        unknown = set(terms) - set(OSTRACK_TERMS)
        if unknown:
            raise ValueError(f"unknown OSTrack loss terms {sorted(unknown)}; use {OSTRACK_TERMS}")
        target = target_xywh.to(device=outputs["score_map"].device, dtype=torch.float32)
        out: Dict[str, torch.Tensor] = {}
        if "focal" in terms:
            size = outputs["score_map"].shape[-1]
            out["focal"] = focal_loss(outputs["score_map"], gaussian_heatmap(target, size))
        if "l1" in terms or "giou" in terms:
            pred = box_cxcywh_to_xyxy(outputs["pred_boxes"].float())
            gt = torch.cat([target[:, :2], target[:, :2] + target[:, 2:]], dim=1).clamp(0.0, 1.0)
            if not torch.isfinite(pred).all():
                raise FloatingPointError("OSTrack predicted a non-finite box; the training diverged.")
            giou, iou = elementwise_box_giou(pred, gt)
            if "giou" in terms:
                out["giou"] = (1.0 - giou).mean()
            if "l1" in terms:
                out["l1"] = F.l1_loss(pred, gt)
            out["iou"] = iou.detach().mean()
        total = None
        for name in terms:
            weighted = self.weight_dict.get(name, 0.0) * out[name]
            total = weighted if total is None else total + weighted
        out["total"] = total if total is not None else outputs["score_map"].sum() * 0.0
        return out
