"""Precise RoI Pooling (PrRoIPool) in plain PyTorch.

PrRoIPool (Jiang et al., "Acquisition of Localization Confidence for Accurate Object
Detection", ECCV 2018) treats a feature map as a continuous function: the bilinear
interpolant of the values stored at the integer grid points ``(h, w)``, with every point
outside the map contributing zero. Each output bin is the exact integral of that
function over the bin divided by the bin area, so the output is a smooth function of
the RoI coordinates and can be differentiated with respect to them (the IoU-Net box
refinement relies on this).

Closed form used here. The interpolant is separable,
``f(y, x) = sum_{h, w} F[h, w] * k(y - h) * k(x - w)`` with the hat kernel
``k(t) = max(0, 1 - |t|)``, so the integral over a bin ``[y0, y1] x [x0, x1]`` is

    sum_{h, w} F[h, w] * Ky[h] * Kx[w],   Ky[h] = K(y1 - h) - K(y0 - h),

where ``K`` is the antiderivative of the hat kernel. ``K(t) = 0.5 + u - 0.5 * u * |u|``
with ``u = clamp(t, -1, 1)``. Ky and Kx are small dense matrices (bins x map rows,
bins x map columns), and the pooling becomes two batched matrix products. Everything is
ordinary differentiable tensor algebra, so autograd yields the exact gradients with
respect to the features and the RoI corners, on any device.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn

__all__ = ["prroi_pool2d", "PrRoIPool2D"]


def _hat_antiderivative(t: torch.Tensor) -> torch.Tensor:
    """Integral of the hat kernel ``max(0, 1 - |s|)`` from -inf to ``t``."""
    u = t.clamp(-1.0, 1.0)
    return 0.5 + u - 0.5 * u * u.abs()


def _axis_weights(start: torch.Tensor, length: torch.Tensor, num_bins: int, size: int) -> torch.Tensor:
    """Integration weights of each bin against each grid line along one axis.

    Args:
        start: (K,) RoI start coordinate in feature-map units.
        length: (K,) RoI extent (already clamped to >= 0).
        num_bins: number of output bins along this axis.
        size: number of grid points (feature rows or columns) along this axis.

    Returns:
        (K, num_bins, size) tensor; entry [k, p, i] integrates the hat centred on grid
        point ``i`` over bin ``p`` of RoI ``k``.
    """
    dtype, device = start.dtype, start.device
    bin_size = length / num_bins
    # Bin edges computed the same way as the reference kernel: start + bin_size * index.
    idx = torch.arange(num_bins, dtype=dtype, device=device)
    bin_start = start[:, None] + bin_size[:, None] * idx[None, :]
    bin_end = bin_start + bin_size[:, None]
    grid = torch.arange(size, dtype=dtype, device=device)
    return (_hat_antiderivative(bin_end[:, :, None] - grid)
            - _hat_antiderivative(bin_start[:, :, None] - grid))


def prroi_pool2d(features: torch.Tensor, rois: torch.Tensor, pooled_height: int, pooled_width: int,
                 spatial_scale: float) -> torch.Tensor:
    """Precise RoI pooling of ``rois`` on ``features``.

    Args:
        features: (B, C, H, W) feature maps. Grid point ``(h, w)`` sits at coordinate
            ``(h, w)`` in feature units; values outside the map are zero.
        rois: (K, 5) rows ``[batch_index, x1, y1, x2, y2]`` in input (image) coordinates;
            they are multiplied by ``spatial_scale`` to get feature-map coordinates.
            Boxes with ``x2 < x1`` or ``y2 < y1`` are treated as having zero extent.
        pooled_height: number of output bins along y.
        pooled_width: number of output bins along x.
        spatial_scale: factor mapping ``rois`` coordinates to feature coordinates
            (``1 / stride``).

    Returns:
        (K, C, pooled_height, pooled_width): each bin is the integral of the bilinear
        interpolant over the bin divided by the bin area; bins of zero area give 0.
        Differentiable with respect to ``features`` and ``rois[:, 1:]`` (the batch index
        receives no gradient).
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5) [batch_index, x1, y1, x2, y2], got shape {tuple(rois.shape)}")
    num_batch, num_channels, height, width = features.shape
    num_rois = rois.shape[0]
    ph, pw = int(pooled_height), int(pooled_width)
    if num_rois == 0:
        return features.new_zeros(0, num_channels, ph, pw)

    batch_idx = rois[:, 0].detach().round().long()
    if bool(((batch_idx < 0) | (batch_idx >= num_batch)).any()):
        raise ValueError(f"rois contain a batch index outside [0, {num_batch - 1}]")
    # Box geometry stays in at least the RoI precision even for half-precision features:
    # fp16 cannot resolve sub-pixel positions of coordinates in the hundreds.
    coord_dtype = torch.promote_types(torch.promote_types(features.dtype, rois.dtype), torch.float32)
    coords = rois[:, 1:].to(coord_dtype) * spatial_scale
    x1, y1, x2, y2 = coords.unbind(dim=1)
    roi_w = (x2 - x1).clamp(min=0.0)
    roi_h = (y2 - y1).clamp(min=0.0)

    area = (roi_w / pw) * (roi_h / ph)
    valid = area > 0
    # Fold 1/area into the row weights; empty bins get all-zero weights (output 0 as in the
    # reference op) and the guarded denominator keeps their gradients finite.
    inv_area = torch.where(valid, 1.0 / torch.where(valid, area, torch.ones_like(area)), torch.zeros_like(area))
    wy = _axis_weights(y1, roi_h, ph, height) * inv_area[:, None, None]  # (K, ph, H)
    wx = _axis_weights(x1, roi_w, pw, width)                              # (K, pw, W)
    wy, wx = wy.to(features.dtype), wx.to(features.dtype)

    # Group the RoIs by image so that each image's features are contracted only with
    # its own RoIs (padding groups to the largest one keeps it one batched product).
    order = torch.argsort(batch_idx, stable=True)
    counts = torch.bincount(batch_idx, minlength=num_batch)
    group_start = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(batch_idx)
    slot[order] = torch.arange(num_rois, device=batch_idx.device) - group_start[batch_idx[order]]
    max_per_image = int(counts.max().item())

    wy_pad = wy.new_zeros(num_batch, max_per_image, ph, height).index_put((batch_idx, slot), wy)
    wx_pad = wx.new_zeros(num_batch, max_per_image, pw, width).index_put((batch_idx, slot), wx)

    # Contract columns: (B, C, H, W) x (B, 1, W, N*pw) -> (B, C, H, N*pw).
    tmp = torch.matmul(features, wx_pad.reshape(num_batch, 1, max_per_image * pw, width).transpose(-1, -2))
    tmp = tmp.reshape(num_batch, num_channels, height, max_per_image, pw)
    # Contract rows per RoI: (B, N, ph, H) x (B, C, H, N, pw) -> (B, N, C, ph, pw).
    pooled = torch.einsum("bnph,bchnq->bncpq", wy_pad, tmp)
    return pooled[batch_idx, slot]  # (K, C, ph, pw) in the input RoI order


class PrRoIPool2D(nn.Module):
    """Module form of :func:`prroi_pool2d` (no parameters).

    Args:
        pooled_height: output bins along y.
        pooled_width: output bins along x.
        spatial_scale: factor from RoI coordinates to feature coordinates (1 / stride).
    """

    def __init__(self, pooled_height: int, pooled_width: int, spatial_scale: float) -> None:
        super().__init__()
        self.pooled_height = int(pooled_height)
        self.pooled_width = int(pooled_width)
        self.spatial_scale = float(spatial_scale)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """features (B, C, H, W), rois (K, 5) [batch_index, x1, y1, x2, y2] -> (K, C, ph, pw)."""
        return prroi_pool2d(features, rois, self.pooled_height, self.pooled_width, self.spatial_scale)

    def extra_repr(self) -> str:
        return (f"pooled_height={self.pooled_height}, pooled_width={self.pooled_width}, "
                f"spatial_scale={self.spatial_scale}")

    @property
    def output_size(self) -> Tuple[int, int]:
        """(pooled_height, pooled_width)."""
        return self.pooled_height, self.pooled_width
