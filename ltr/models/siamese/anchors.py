"""Anchor grid, cosine window and box-delta coding of Siamese RPN trackers.

Candidate ``n`` of a score map of side S with A anchors per cell is
``n = a * S * S + row * S + col``; this is the order of the head's output channels
flattened as (A, S, S). Anchors are (cx, cy, w, h) in search-crop pixels; their centres
are relative to the crop centre unless an explicit ``center`` is given (the training
targets use the absolute crop pixel ``instance_size // 2``).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = ["base_anchor_sizes", "generate_anchors", "cosine_window", "encode_deltas", "decode_deltas",
           "cxcywh_to_xyxy", "box_iou_xyxy"]


def base_anchor_sizes(stride: int, ratios: Sequence[float], scales: Sequence[float]) -> torch.Tensor:
    """Anchor (w, h) in pixels, shape (len(ratios) * len(scales), 2), ratio-major order.

    Follows the official integer truncation: for ratio r (= h / w),
    ``ws = int(sqrt(stride**2 / r))``, ``hs = int(ws * r)``, then (ws * scale, hs * scale).
    SiamRPN++ (stride 8, ratios [0.33, 0.5, 1, 2, 3], scale 8) gives
    (104, 32), (88, 40), (64, 64), (40, 80), (32, 96).
    """
    sizes = []
    for r in ratios:
        ws = int(math.sqrt(stride * stride / r))
        hs = int(ws * r)
        for s in scales:
            sizes.append((ws * s, hs * s))
    return torch.tensor(sizes, dtype=torch.float32)


def generate_anchors(score_size: int, stride: int, ratios: Sequence[float], scales: Sequence[float],
                     center: float = 0.0) -> torch.Tensor:
    """All anchors of a score map as (A * S * S, 4) cxcywh, in search-crop pixels.

    Cell (row, col) is centred at ``center + (col - S // 2) * stride`` horizontally and
    ``center + (row - S // 2) * stride`` vertically, so with ``center = 0`` the central cell
    sits on the crop centre (the convention of the test-time tracker); pass
    ``center = instance_size // 2`` for absolute crop pixels (the training targets).
    """
    sizes = base_anchor_sizes(stride, ratios, scales)  # (A, 2)
    a = sizes.shape[0]
    offsets = (torch.arange(score_size, dtype=torch.float32) - score_size // 2) * stride + center
    cy, cx = torch.meshgrid(offsets, offsets, indexing="ij")  # (S, S), row-major
    anchors = torch.empty(a, score_size, score_size, 4, dtype=torch.float32)
    anchors[..., 0] = cx
    anchors[..., 1] = cy
    anchors[..., 2] = sizes[:, 0].view(a, 1, 1)
    anchors[..., 3] = sizes[:, 1].view(a, 1, 1)
    return anchors.view(-1, 4)


def cosine_window(score_size: int, anchor_num: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Outer product of two symmetric Hann windows, flattened and tiled over anchors: (A * S * S,).

    Equal to ``np.tile(np.outer(np.hanning(S), np.hanning(S)).flatten(), A)``: values in
    [0, 1], 1 only at the centre cell of an odd-sized map, 0 on the border.
    """
    h = torch.hann_window(score_size, periodic=False, dtype=torch.float64)
    return torch.outer(h, h).flatten().repeat(anchor_num).to(dtype)


def encode_deltas(boxes: torch.Tensor, anchors: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Regression targets of cxcywh ``boxes`` with respect to cxcywh ``anchors`` (broadcast).

    Returns (..., 4) with dx = (bx - ax) / aw, dy = (by - ay) / ah, dw = log(bw / aw),
    dh = log(bh / ah). Box sizes are clamped to ``eps`` so degenerate boxes give finite
    (and, where unweighted, harmless) values instead of -inf.
    """
    dx = (boxes[..., 0] - anchors[..., 0]) / anchors[..., 2]
    dy = (boxes[..., 1] - anchors[..., 1]) / anchors[..., 3]
    dw = torch.log(boxes[..., 2].clamp_min(eps) / anchors[..., 2])
    dh = torch.log(boxes[..., 3].clamp_min(eps) / anchors[..., 3])
    return torch.stack([dx, dy, dw, dh], -1)


def decode_deltas(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Inverse of ``encode_deltas``: (..., 4) deltas and cxcywh anchors -> (..., 4) cxcywh boxes."""
    cx = deltas[..., 0] * anchors[..., 2] + anchors[..., 0]
    cy = deltas[..., 1] * anchors[..., 3] + anchors[..., 1]
    w = torch.exp(deltas[..., 2]) * anchors[..., 2]
    h = torch.exp(deltas[..., 3]) * anchors[..., 3]
    return torch.stack([cx, cy, w, h], -1)


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) cxcywh -> (..., 4) x1y1x2y2 (continuous coordinates, x2 = cx + w / 2)."""
    half = boxes[..., 2:] * 0.5
    return torch.cat([boxes[..., :2] - half, boxes[..., :2] + half], -1)


def box_iou_xyxy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of x1y1x2y2 boxes ``a`` (..., 4) and ``b`` (..., 4), broadcast; area = (x2 - x1)(y2 - y1)."""
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp_min(0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp_min(0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter)
