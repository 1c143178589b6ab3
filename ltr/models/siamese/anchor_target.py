"""Training targets of Siamese RPN trackers (the official AnchorTarget), batched in torch.

For each search crop and its target box (x1y1x2y2, absolute search-crop pixels):

* anchors with IoU > ``thr_high`` are positive, IoU < ``thr_low`` negative, the rest ignored;
* at most ``pos_num`` positives and ``total_num - pos_num`` negatives are kept, chosen
  uniformly at random (an explicit ``torch.Generator`` makes this reproducible);
* box-delta targets are encoded for every anchor, weighted ``1 / #kept positives`` on
  kept positives and 0 elsewhere;
* for a negative pair (the search crop shows another object) only negatives are kept:
  ``neg_num`` of the anchors in the 7x7 cells around the box centre, no box targets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import torch

from .anchors import box_iou_xyxy, cxcywh_to_xyxy, encode_deltas, generate_anchors

if TYPE_CHECKING:
    from ltr.models.tracking.siamrpnpp import SiamRPNConfig

__all__ = ["AnchorTargets", "AnchorTarget", "random_subset", "crop_xywh_to_anchor_xyxy"]


def crop_xywh_to_anchor_xyxy(boxes_xywh: torch.Tensor) -> torch.Tensor:
    """Continuous crop-pixel xywh (N, 4) -> pysot's 0-based pixel-index x1y1x2y2 (N, 4).

    Crop boxes count pixel edges, pysot's anchors pixel centres, hence the half-pixel shift.
    """
    x1y1 = boxes_xywh[:, :2] - 0.5
    return torch.cat([x1y1, x1y1 + boxes_xywh[:, 2:]], dim=1)


@dataclass
class AnchorTargets:
    """Per-anchor targets, A anchors on an S x S map.

    cls: (B, A, S, S) int64, 1 positive / 0 negative / -1 ignored.
    delta: (B, 4, A, S, S) float, (dx, dy, dw, dh) of the target box w.r.t. each anchor.
    delta_weight: (B, A, S, S) float, 1 / #positives on positives, else 0.
    overlap: (B, A, S, S) float, IoU of each anchor with the target box (0 for negative pairs).
    """

    cls: torch.Tensor
    delta: torch.Tensor
    delta_weight: torch.Tensor
    overlap: torch.Tensor


def random_subset(mask: torch.Tensor, keep: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Keep ``min(keep, mask[b].sum())`` uniformly chosen True entries of each row of ``mask`` (B, N)."""
    device = generator.device if generator is not None else mask.device
    keys = torch.rand(mask.shape, generator=generator, device=device).to(mask.device)
    # Entries outside the mask sort last; a row's first `keep` keys are a uniform sample.
    keys = keys.masked_fill(~mask, 2.0)
    order = keys.argsort(dim=1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(mask.shape[1], device=mask.device).expand_as(order))
    return mask & (rank < keep)


class AnchorTarget:
    """Builds ``AnchorTargets`` for a batch of target boxes in search-crop pixels.

    Anchors are laid out on the ``cfg.score_size`` grid around the crop pixel
    ``cfg.instance_size // 2`` (the crop centre), so that a box centred in the crop
    matches the central cell.
    """

    def __init__(self, cfg: "SiamRPNConfig") -> None:
        self.cfg = cfg
        self.anchors = generate_anchors(cfg.score_size, cfg.stride, cfg.anchor_ratios, cfg.anchor_scales,
                                        center=float(cfg.instance_size // 2))  # (N, 4) cxcywh
        self.anchors_xyxy = cxcywh_to_xyxy(self.anchors)

    def __call__(self, boxes_xyxy: torch.Tensor, neg: Optional[torch.Tensor] = None,
                 generator: Optional[torch.Generator] = None) -> AnchorTargets:
        """boxes_xyxy: (B, 4) target boxes, x1y1x2y2 in search-crop pixels; neg: (B,) bool negative pairs."""
        cfg = self.cfg
        boxes_xyxy = boxes_xyxy.to(torch.float32)
        device = boxes_xyxy.device
        b = boxes_xyxy.shape[0]
        a, s = cfg.anchor_num, cfg.score_size
        anchors = self.anchors.to(device)
        if neg is None:
            neg = torch.zeros(b, dtype=torch.bool, device=device)
        neg = neg.to(device=device, dtype=torch.bool)

        box_c = torch.cat([(boxes_xyxy[:, :2] + boxes_xyxy[:, 2:]) * 0.5, boxes_xyxy[:, 2:] - boxes_xyxy[:, :2]], 1)
        delta = encode_deltas(box_c[:, None, :], anchors[None])  # (B, N, 4)
        overlap = box_iou_xyxy(self.anchors_xyxy.to(device)[None], boxes_xyxy[:, None, :])  # (B, N)

        pos = random_subset(overlap > cfg.thr_high, cfg.pos_num, generator)
        negs = random_subset(overlap < cfg.thr_low, cfg.total_num - cfg.pos_num, generator)

        # Negative pairs: negatives only, drawn from the 7x7 cells around the box centre.
        centre_cell = torch.stack([
            torch.ceil((box_c[:, i] - cfg.instance_size // 2) / cfg.stride + 0.5).to(torch.long) + s // 2
            for i in (0, 1)], 1)  # (B, 2) col, row
        idx = torch.arange(s, device=device)
        near_col = (idx[None] >= centre_cell[:, :1] - 3) & (idx[None] < centre_cell[:, :1] + 4)  # (B, S)
        near_row = (idx[None] >= centre_cell[:, 1:] - 3) & (idx[None] < centre_cell[:, 1:] + 4)
        near = (near_row[:, :, None] & near_col[:, None, :])[:, None].expand(b, a, s, s).reshape(b, -1)
        neg_pair_negs = random_subset(near, cfg.neg_num, generator)

        is_neg = neg[:, None]
        pos = pos & ~is_neg
        negs = torch.where(is_neg, neg_pair_negs, negs)
        cls = torch.full((b, a * s * s), -1, dtype=torch.long, device=device)
        cls[negs] = 0
        cls[pos] = 1
        pos_count = pos.sum(1, keepdim=True).to(torch.float32)
        delta_weight = pos.to(torch.float32) / (pos_count + 1e-6)
        delta = torch.where(is_neg[..., None], torch.zeros_like(delta), delta)
        overlap = torch.where(is_neg, torch.zeros_like(overlap), overlap)
        return AnchorTargets(
            cls=cls.view(b, a, s, s),
            delta=delta.permute(0, 2, 1).reshape(b, 4, a, s, s),
            delta_weight=delta_weight.view(b, a, s, s),
            overlap=overlap.view(b, a, s, s),
        )
