"""TransT training objective: candidate matching and set criterion.

Box formats used here:

* ``cxcywh``: (centre x, centre y, width, height). Network outputs and targets are
  normalised to [0, 1] by the search crop's width/height.
* ``xyxy``: (x1, y1, x2, y2) corners, same units as the cxcywh input.
* ``xywh``: (x1, y1, width, height) in pixels (dataset annotations and crop boxes).

Matching. TransT does not solve an assignment problem for tracking: every search token
whose cell lies inside the ground-truth box is a positive (:class:`TrackingMatcher`).
On a map of side L, token (row r, col c) is positive when
``ceil(y1*L) <= r < ceil(y2*L)`` and ``ceil(x1*L) <= c < ceil(x2*L)``, with the range
widened to one cell when it is empty. A DETR-style one-to-one
:class:`HungarianMatcher` (``scipy.optimize.linear_sum_assignment``) is provided as an
alternative; it is not what TransT trains with.

Losses (:class:`SetCriterion`, TransT weights ``loss_ce`` 8.334, ``loss_bbox`` 5,
``loss_giou`` 2):

* ``loss_ce``: 2-way cross-entropy over all tokens, target class 0 on positives and 1
  (background) elsewhere, background weighted by ``eos_coef`` = 0.0625; weighted mean.
* ``loss_bbox``: L1 between predicted and target cxcywh boxes on positives, summed and
  divided by the number of positives in the batch (at least 1).
* ``loss_giou``: 1 - GIoU on positives, same normalisation.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

__all__ = [
    "box_cxcywh_to_xyxy",
    "box_xyxy_to_cxcywh",
    "box_xywh_to_cxcywh",
    "box_xywh_to_normalized_cxcywh",
    "box_area",
    "box_iou",
    "generalized_box_iou",
    "elementwise_box_giou",
    "TrackingMatcher",
    "HungarianMatcher",
    "SetCriterion",
    "build_transt_loss",
    "TRANST_LOSS_WEIGHTS",
    "Targets",
]

#: Loss weights of TransT training.
TRANST_LOSS_WEIGHTS: Dict[str, float] = {"loss_ce": 8.334, "loss_bbox": 5.0, "loss_giou": 2.0}

#: Targets: (B,4) tensor of normalised cxcywh boxes, or a list of dicts with 'boxes' (1,4).
Targets = Union[torch.Tensor, Sequence[Mapping[str, torch.Tensor]]]


# ---------------------------------------------------------------------- box helpers
def box_cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) cxcywh -> (..., 4) xyxy (same units)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def box_xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) xyxy -> (..., 4) cxcywh (same units)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def box_xywh_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) xywh (top-left corner + size) -> (..., 4) cxcywh (same units)."""
    x, y, w, h = boxes.unbind(-1)
    return torch.stack((x + w / 2, y + h / 2, w, h), dim=-1)


def box_xywh_to_normalized_cxcywh(boxes: torch.Tensor, crop_hw: Union[Tuple[int, int], torch.Tensor]
                                  ) -> torch.Tensor:
    """Pixel xywh boxes inside a crop (..., 4) -> cxcywh normalised by the crop size.

    ``crop_hw``: (height, width) of the crop, e.g. (256, 256). This is how TransT turns
    search-crop annotations into training targets.
    """
    h, w = (float(crop_hw[0]), float(crop_hw[1]))
    cx, cy, bw, bh = box_xywh_to_cxcywh(boxes).unbind(-1)
    return torch.stack((cx / w, cy / h, bw / w, bh / h), dim=-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of (..., 4) xyxy boxes."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pairwise IoU of xyxy boxes (N,4) x (M,4) -> (iou (N,M), union (N,M))."""
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - inter
    return inter / union, union


def generalized_box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pairwise generalised IoU of xyxy boxes (N,4) x (M,4) -> (giou (N,M), iou (N,M)).

    GIoU = IoU - (area(C) - union) / area(C), C the smallest box enclosing both. Boxes
    must be proper (x2 >= x1, y2 >= y1), which sigmoid cxcywh outputs always are.
    """
    iou, union = box_iou(boxes1, boxes2)
    lt = torch.min(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.max(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    enclosing = wh[..., 0] * wh[..., 1]
    return iou - (enclosing - union) / enclosing, iou


def elementwise_box_giou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """GIoU of matching rows of xyxy boxes (N,4), (N,4) -> (giou (N,), iou (N,)).

    Equals the diagonal of :func:`generalized_box_iou` without building the N x N matrix.
    """
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = torch.max(boxes1[:, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = area1 + area2 - inter
    iou = inter / union
    lt_c = torch.min(boxes1[:, :2], boxes2[:, :2])
    rb_c = torch.max(boxes1[:, 2:], boxes2[:, 2:])
    wh_c = (rb_c - lt_c).clamp(min=0)
    enclosing = wh_c[:, 0] * wh_c[:, 1]
    return iou - (enclosing - union) / enclosing, iou


def _target_boxes(targets: Targets) -> torch.Tensor:
    """Targets -> (B,4) normalised cxcywh tensor."""
    if isinstance(targets, torch.Tensor):
        if targets.dim() != 2 or targets.shape[1] != 4:
            raise ValueError(f"target boxes must be (B,4) cxcywh, got {tuple(targets.shape)}")
        return targets
    return torch.stack([t["boxes"].reshape(-1, 4)[0] for t in targets])


def _map_size(num_queries: int, feat_hw: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    if feat_hw is not None:
        if feat_hw[0] * feat_hw[1] != num_queries:
            raise ValueError(f"feature map {feat_hw} does not have {num_queries} cells")
        return int(feat_hw[0]), int(feat_hw[1])
    side = int(round(math.sqrt(num_queries)))
    if side * side != num_queries:
        raise ValueError(f"{num_queries} candidates is not a square map; pass feat_hw")
    return side, side


MatchIndices = List[Tuple[torch.Tensor, torch.Tensor]]


# ---------------------------------------------------------------------- matchers
class TrackingMatcher(nn.Module):
    """TransT's assignment: all tokens whose cell lies inside the target box are positives.

    For a box (x1, y1, x2, y2) normalised to the crop and a map of H x W cells, the
    positive rows are ``ceil(y1*H) <= r < ceil(y2*H)`` (same for columns with W); an empty
    range is widened to the single cell ``ceil(y1*H)``. The bounds are computed in float64
    as the reference does in Python floats. Unlike the reference, bounds are clamped to
    the map, so a box partly outside the crop keeps exactly its inside cells (the
    reference's negative slice start would wrap around).
    """

    @torch.no_grad()
    def positive_mask(self, boxes_cxcywh: torch.Tensor, feat_hw: Tuple[int, int],
                      valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B,4) normalised cxcywh targets -> (B, H*W) bool mask of positive tokens (row-major).

        ``valid`` (B,) bool: samples marked False get no positives.
        """
        h, w = feat_hw
        b = boxes_cxcywh.detach().to("cpu", torch.float64)
        cx, cy, bw, bh = b.unbind(-1)
        x1 = torch.ceil((cx - bw / 2) * w)
        x2 = torch.ceil((cx + bw / 2) * w)
        y1 = torch.ceil((cy - bh / 2) * h)
        y2 = torch.ceil((cy + bh / 2) * h)
        x2 = torch.where(x1 == x2, x2 + 1, x2)
        y2 = torch.where(y1 == y2, y2 + 1, y2)
        cols = torch.arange(w, dtype=torch.float64)
        rows = torch.arange(h, dtype=torch.float64)
        in_x = (cols[None] >= x1[:, None]) & (cols[None] < x2[:, None])   # (B, W)
        in_y = (rows[None] >= y1[:, None]) & (rows[None] < y2[:, None])   # (B, H)
        mask = (in_y[:, :, None] & in_x[:, None, :]).reshape(b.shape[0], h * w)
        if valid is not None:
            mask &= valid.detach().to("cpu", torch.bool)[:, None]
        return mask.to(boxes_cxcywh.device)

    @torch.no_grad()
    def forward(self, outputs: Mapping[str, torch.Tensor], targets: Targets,
                feat_hw: Optional[Tuple[int, int]] = None) -> MatchIndices:
        """Per sample ``(token_indices, target_indices)``, both int64; target index is always 0."""
        n = outputs["pred_logits"].shape[1]
        mask = self.positive_mask(_target_boxes(targets), _map_size(n, feat_hw)).cpu()
        out: MatchIndices = []
        for row in mask:
            idx = torch.nonzero(row, as_tuple=False).flatten()
            out.append((idx, torch.zeros_like(idx)))
        return out


class HungarianMatcher(nn.Module):
    """DETR-style one-to-one assignment with ``linear_sum_assignment``.

    Cost = ``cost_class`` * (-p(target)) + ``cost_bbox`` * L1(cxcywh) + ``cost_giou`` * (-GIoU).
    With one ground-truth box per search crop it selects the single cheapest token.
    Provided for experiments; TransT itself trains with :class:`TrackingMatcher`.
    """

    def __init__(self, cost_class: float = 8.333, cost_bbox: float = 5.0, cost_giou: float = 2.0) -> None:
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("all matching costs are zero")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou

    @torch.no_grad()
    def forward(self, outputs: Mapping[str, torch.Tensor], targets: Targets,
                feat_hw: Optional[Tuple[int, int]] = None) -> MatchIndices:
        """Per sample ``(token_indices, target_indices)`` (one pair each), int64."""
        logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
        tgt = _target_boxes(targets).to(boxes.dtype)
        prob = logits.softmax(-1)[..., 0]                                   # (B, N)
        out: MatchIndices = []
        for i in range(logits.shape[0]):
            t = tgt[i:i + 1]                                                 # (1, 4)
            c_bbox = torch.cdist(boxes[i], t, p=1)                           # (N, 1)
            giou, _ = generalized_box_iou(box_cxcywh_to_xyxy(boxes[i]), box_cxcywh_to_xyxy(t))
            cost = self.cost_bbox * c_bbox - self.cost_class * prob[i][:, None] - self.cost_giou * giou
            r, c = linear_sum_assignment(cost.cpu().numpy())
            out.append((torch.as_tensor(r, dtype=torch.int64), torch.as_tensor(c, dtype=torch.int64)))
        return out


# ---------------------------------------------------------------------- criterion
class SetCriterion(nn.Module):
    """TransT loss on ``{'pred_logits': (B,N,2), 'pred_boxes': (B,N,4)}`` outputs.

    Args:
        matcher: :class:`TrackingMatcher` (default) or :class:`HungarianMatcher`.
        weight_dict: weights of the terms that form ``'total'``
            (default :data:`TRANST_LOSS_WEIGHTS`). A term missing here is still reported
            but not added.
        eos_coef: cross-entropy weight of the background class (0.0625).
        losses: which groups to compute: ``'labels'`` (loss_ce, class_error) and/or
            ``'boxes'`` (loss_bbox, loss_giou, iou). SLT replay uses ``('boxes',)``.
        num_classes: foreground classes (1); the background class is the last index.
    """

    def __init__(self, matcher: Optional[nn.Module] = None, weight_dict: Optional[Mapping[str, float]] = None,
                 eos_coef: float = 0.0625, losses: Sequence[str] = ("labels", "boxes"), num_classes: int = 1) -> None:
        super().__init__()
        for name in losses:
            if name not in ("labels", "boxes"):
                raise ValueError(f"unknown loss group {name!r}; use 'labels' and/or 'boxes'")
        self.matcher = matcher if matcher is not None else TrackingMatcher()
        self.weight_dict = dict(TRANST_LOSS_WEIGHTS if weight_dict is None else weight_dict)
        self.eos_coef = eos_coef
        self.losses = tuple(losses)
        self.num_classes = num_classes
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight)

    def _indices_to_mask(self, indices: MatchIndices, shape: Tuple[int, int], device: torch.device) -> torch.Tensor:
        mask = torch.zeros(shape, dtype=torch.bool)
        for i, (src, _) in enumerate(indices):
            mask[i, src] = True
        return mask.to(device)

    def forward(self, outputs: Mapping[str, torch.Tensor], targets: Targets,
                valid: Optional[torch.Tensor] = None, feat_hw: Optional[Tuple[int, int]] = None,
                losses: Optional[Sequence[str]] = None) -> Dict[str, torch.Tensor]:
        """Compute the losses.

        Args:
            outputs: network outputs (boxes sigmoid cxcywh normalised to the search crop).
            targets: (B,4) normalised cxcywh ground-truth boxes, or a list of dicts with
                ``'boxes'`` (1,4) as in the reference training code.
            valid: optional (B,) bool; samples marked False (e.g. target not visible) get
                no positive tokens: no box loss, all-background classification.
            feat_hw: score-map size when it is not square.
            losses: the groups to compute in this call (default: the criterion's ``losses``);
                SLT's arms switch the classification group on and off with it.

        Returns:
            dict with the requested terms (``loss_ce``, ``class_error``, ``loss_bbox``,
            ``loss_giou``, ``iou``, ``num_pos``) and ``total`` = weighted sum of the terms
            named in ``weight_dict``. ``class_error``, ``iou`` and ``num_pos`` are detached
            statistics.
        """
        groups = self.losses if losses is None else tuple(losses)
        for name in groups:
            if name not in ("labels", "boxes"):
                raise ValueError(f"unknown loss group {name!r}; use 'labels' and/or 'boxes'")
        logits, pred_boxes = outputs["pred_logits"], outputs["pred_boxes"]
        bsz, n = logits.shape[:2]
        hw = _map_size(n, feat_hw)
        tgt = _target_boxes(targets).to(device=pred_boxes.device, dtype=pred_boxes.dtype)
        if tgt.shape[0] != bsz:
            raise ValueError(f"{tgt.shape[0]} targets for a batch of {bsz}")

        if isinstance(self.matcher, TrackingMatcher):
            pos = self.matcher.positive_mask(tgt, hw, valid)
        else:
            pos = self._indices_to_mask(self.matcher(outputs, tgt, hw), (bsz, n), logits.device)
            if valid is not None:
                pos &= valid.to(device=pos.device, dtype=torch.bool)[:, None]
        # Normalise box losses by the positives of the whole batch (at least 1).
        num_pos = max(int(pos.sum().item()), 1)

        out: Dict[str, torch.Tensor] = {}
        if "labels" in groups:
            target_classes = torch.full((bsz, n), self.num_classes, dtype=torch.int64, device=logits.device)
            target_classes[pos] = 0
            weight = self.empty_weight.to(logits.dtype)
            out["loss_ce"] = F.cross_entropy(logits.transpose(1, 2), target_classes, weight)
            with torch.no_grad():
                if pos.any():
                    acc = (logits[pos].argmax(-1) == 0).float().mean() * 100
                    out["class_error"] = 100 - acc
                else:
                    out["class_error"] = logits.new_tensor(100.0)  # as the reference: no positives = 100 %
        if "boxes" in groups:
            src = pred_boxes[pos]                                            # (P, 4) row-major per sample
            tgt_rep = tgt[:, None, :].expand(bsz, n, 4)[pos]                 # (P, 4)
            out["loss_bbox"] = F.l1_loss(src, tgt_rep, reduction="sum") / num_pos
            giou, iou = elementwise_box_giou(box_cxcywh_to_xyxy(src), box_cxcywh_to_xyxy(tgt_rep))
            out["loss_giou"] = (1 - giou).sum() / num_pos
            out["iou"] = iou.detach().sum() / num_pos
        out["num_pos"] = torch.tensor(float(pos.sum().item()))
        total = None
        for k, wgt in self.weight_dict.items():
            if k in out:
                term = out[k] * wgt
                total = term if total is None else total + term
        out["total"] = total if total is not None else logits.new_zeros(())
        return out


def build_transt_loss(losses: Sequence[str] = ("labels", "boxes"), matcher: str = "tracking") -> SetCriterion:
    """TransT criterion. ``losses=('boxes',)`` gives the SLT variant (box terms only,
    weights 5 and 2); ``matcher='hungarian'`` swaps in the one-to-one matcher."""
    if matcher == "tracking":
        m: nn.Module = TrackingMatcher()
    elif matcher == "hungarian":
        m = HungarianMatcher()
    else:
        raise ValueError(f"unknown matcher {matcher!r}")
    weights = dict(TRANST_LOSS_WEIGHTS)
    if "labels" not in losses:
        del weights["loss_ce"]
    return SetCriterion(matcher=m, weight_dict=weights, eos_coef=0.0625, losses=losses)
