"""Deformable RoI pooling (DeformablePSROIPool with group_size 1) in plain PyTorch.

This re-states the ``DeformablePSROIPoolForwardKernel`` that SiamAttn compiles (mmdetection v1,
``deform_pool_cuda_kernel.cu``) with tensor operations, so the same code runs on CPU and GPU.
For RoI ``n`` = ``[b, x1, y1, x2, y2]`` (input-image pixels), scale ``s`` and ``P x P`` bins:

1. ``sw = round(x1) * s - 0.5``, ``sh = round(y1) * s - 0.5``, ``ew = (round(x2) + 1) * s - 0.5``,
   ``eh = (round(y2) + 1) * s - 0.5`` with C ``round`` (half away from zero);
   ``rw = max(ew - sw, 0.1)``, ``rh = max(eh - sh, 0.1)``; bins are ``rw / P`` by ``rh / P``.
2. Bin ``(ph, pw)`` is translated by ``offsets[n, 0, part(ph), part(pw)] * trans_std * rw`` along x
   and ``offsets[n, 1, ...] * trans_std * rh`` along y (channel 0 is x); ``part(p) =
   floor(p / P * Q)`` for a ``Q x Q`` offset grid, i.e. the bin itself when ``Q == P``.
3. ``S x S`` samples (``S = sample_per_part``) sit at the *starts* of the sub-bins:
   ``w = wstart + iw * rw / P / S``, ``h = hstart + ih * rh / P / S``.
4. A sample with ``w < -0.5``, ``w > W - 0.5``, ``h < -0.5`` or ``h > H - 0.5`` is skipped; any
   other is clamped to ``[0, W - 1] x [0, H - 1]`` and interpolated bilinearly between its
   ``floor`` and ``ceil`` neighbours.
5. The bin is the mean of its valid samples, 0 if it has none. Output channel ``c`` reads
   input channel ``c`` (group_size 1: not position-sensitive).

Why not ``torchvision.ops.roi_align``: roi_align does not round the RoI corners (with
``aligned=True`` it shifts the unrounded ``x * s`` by -0.5, without it there is no shift), samples
at sub-bin *centres* instead of starts, gives samples more than one cell outside the map the
value 0 and still counts them in the average (instead of skipping them at half a cell), clamps
the RoI size to at least 1 cell (unaligned) or not at all (instead of 0.1), and has no per-bin
translation. The outputs differ on every RoI, not only at the borders.

Gradients (through autograd) reach ``features`` and ``offsets``; RoIs receive none, as in the
kernel. Autograd of this forward *is* the kernel's backward: the feature gradient scatters
``grad / count`` with the bilinear weights, and the offset gradient is the bilinear derivative at
the clamped point (``U(ceil) - U(floor)`` combinations times ``trans_std * rw`` or ``rh``). The
kernel does not mask the clamp; at a clamped coordinate ``floor == ceil``, so its derivative
along that axis is 0, which is exactly what autograd of the clamp gives. Skipped samples
contribute nothing to either gradient. ``tests/test_deform_ops.py`` checks forward and
backward against loop re-statements of both kernels.

Precision: geometry is computed in ``features.dtype`` (at least float32), and ``spatial_scale``
and ``trans_std`` are first rounded to float32 because the kernel receives them as C ``float``.
Computation: each RoI reads a window of its image that holds all its contributing taps (the
windows share the largest RoI's size); the tap weights are scattered into a dense
(P * P x window pixels) matrix per RoI, and the pooling is one batched matrix product with the
windows. Memory is ``K * (P * P + C) * window`` and no gathered copy of the features per sample is
made; offsets that spread a RoI's bins over the whole map make the window the whole map.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

__all__ = ["deform_roi_pool", "DeformRoIPoolingPack"]


def _round_half_away_from_zero(values: torch.Tensor) -> torch.Tensor:
    """C ``round``: halves go away from zero (``torch.round`` rounds halves to even)."""
    magnitude = values.abs()
    floor = magnitude.floor()
    rounded = torch.where(magnitude - floor >= 0.5, floor + 1.0, floor)
    return torch.copysign(rounded, values)


def _as_c_float(value: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A kernel argument declared ``float`` in C, then cast to the data type."""
    return torch.tensor(float(value), dtype=torch.float32, device=device).to(dtype)


def _check_inputs(features: torch.Tensor, rois: torch.Tensor, offsets: Optional[torch.Tensor], out_size: int,
                  sample_per_part: int) -> None:
    if features.dim() != 4:
        raise ValueError(f"deform_roi_pool: features must be (N, C, H, W), got shape {tuple(features.shape)}")
    if not features.is_floating_point():
        raise ValueError(f"deform_roi_pool: features must be floating point, got {features.dtype}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError("deform_roi_pool: rois must be (K, 5) rows [batch_index, x1, y1, x2, y2], "
                         f"got shape {tuple(rois.shape)}")
    if out_size < 1 or sample_per_part < 1:
        raise ValueError(f"deform_roi_pool: out_size ({out_size}) and sample_per_part ({sample_per_part}) "
                         "must be >= 1")
    if offsets is not None:
        if offsets.dim() != 4 or offsets.shape[0] != rois.shape[0] or offsets.shape[1] != 2 \
                or offsets.shape[2] != offsets.shape[3]:
            raise ValueError(f"deform_roi_pool: offsets must be (K={rois.shape[0]}, 2, Q, Q) with channel 0 = x "
                             f"and 1 = y, got shape {tuple(offsets.shape)}; pass None for no translation")


def deform_roi_pool(features: torch.Tensor, rois: torch.Tensor, offsets: Optional[torch.Tensor],
                    spatial_scale: float, out_size: int, sample_per_part: int = 4,
                    trans_std: float = 0.1) -> torch.Tensor:
    """Deformable RoI pooling with the semantics of the official CUDA kernel (see the module doc).

    Args:
        features: (N, C, H, W) feature maps.
        rois: (K, 5) rows ``[batch_index, x1, y1, x2, y2]`` in input-image pixels (the batch
            index is truncated to an integer as the kernel does). No gradient flows to them.
        offsets: (K, 2, Q, Q) normalised bin translations (channel 0 = x, channel 1 = y; Q is
            the part size, ``out_size`` in practice), or None for no translation.
        spatial_scale: factor from image pixels to feature cells.
        out_size: P, the number of bins along each axis.
        sample_per_part: S, samples per bin along each axis.
        trans_std: scale applied to ``offsets`` (translation = offset * trans_std * RoI size).

    Returns:
        (K, C, P, P): the mean of the valid samples of each bin, 0 for a bin without one.
    """
    out_size, sample_per_part = int(out_size), int(sample_per_part)
    _check_inputs(features, rois, offsets, out_size, sample_per_part)
    num_images, channels, height, width = features.shape
    num_rois = rois.shape[0]
    if num_rois == 0:
        return features.new_zeros(0, channels, out_size, out_size)
    device = features.device
    dtype = torch.promote_types(features.dtype, torch.float32)  # geometry precision
    rois = rois.detach().to(device=device, dtype=dtype)
    batch_index = rois[:, 0].long()
    if bool(((batch_index < 0) | (batch_index >= num_images)).any()):
        raise ValueError(f"deform_roi_pool: rois[:, 0] holds a batch index outside [0, {num_images - 1}] "
                         f"(features have N={num_images})")

    scale = _as_c_float(spatial_scale, dtype, device)
    corners = _round_half_away_from_zero(rois[:, 1:])
    start_w = corners[:, 0] * scale - 0.5
    start_h = corners[:, 1] * scale - 0.5
    end_w = (corners[:, 2] + 1.0) * scale - 0.5
    end_h = (corners[:, 3] + 1.0) * scale - 0.5
    roi_w = (end_w - start_w).clamp(min=0.1)
    roi_h = (end_h - start_h).clamp(min=0.1)
    bin_w, bin_h = roi_w / out_size, roi_h / out_size
    sub_w, sub_h = bin_w / sample_per_part, bin_h / sample_per_part

    bins = torch.arange(out_size, device=device, dtype=dtype)
    # (K, P, P) bin starts, index order (n, ph, pw) as the kernel's output.
    wstart = (bins[None, :] * bin_w[:, None] + start_w[:, None])[:, None, :].expand(num_rois, out_size, out_size)
    hstart = (bins[None, :] * bin_h[:, None] + start_h[:, None])[:, :, None].expand(num_rois, out_size, out_size)
    if offsets is not None:
        part_size = offsets.shape[-1]
        part = torch.floor(bins / out_size * part_size).long().clamp(max=part_size - 1)
        trans = offsets.to(dtype)[:, :, part][:, :, :, part] * _as_c_float(trans_std, dtype, device)
        wstart = wstart + trans[:, 0] * roi_w[:, None, None]
        hstart = hstart + trans[:, 1] * roi_h[:, None, None]

    steps = torch.arange(sample_per_part, device=device, dtype=dtype)
    # Samples: x varies with iw only, y with ih only -> (K, P, P, S) each.
    w = wstart[..., None] + steps * sub_w[:, None, None, None]
    h = hstart[..., None] + steps * sub_h[:, None, None, None]
    valid_w = (w >= -0.5) & (w <= width - 0.5)
    valid_h = (h >= -0.5) & (h <= height - 0.5)
    valid = valid_h[..., :, None] & valid_w[..., None, :]            # (K, P, P, S_h, S_w)
    count = valid.sum(dim=(-2, -1))                                  # (K, P, P)

    w = w.clamp(0.0, width - 1.0)
    h = h.clamp(0.0, height - 1.0)
    x_lo, x_hi = w.detach().floor(), w.detach().ceil()
    y_lo, y_hi = h.detach().floor(), h.detach().ceil()
    dist_x, dist_y = w - x_lo, h - y_lo                              # differentiable in the offsets
    wx = torch.stack([1.0 - dist_x, dist_x], dim=-1)                 # (K, P, P, S_w, 2): [floor, ceil]
    wy = torch.stack([1.0 - dist_y, dist_y], dim=-1)                 # (K, P, P, S_h, 2)
    col = torch.stack([x_lo, x_hi], dim=-1).long()
    row = torch.stack([y_lo, y_hi], dim=-1).long()

    # Weight of every (sample_h, sample_w, corner_h, corner_w) tap, the 1 / count of the bin mean folded in.
    weight = wy[..., :, None, :, None] * wx[..., None, :, None, :]   # (K, P, P, S_h, S_w, 2, 2)
    weight = weight * (valid.to(dtype) / count.clamp(min=1).to(dtype)[..., None, None])[..., None, None]

    # Each bin is a sparse combination of the pixels of its RoI's image. Every RoI reads a window
    # of the map that holds all its contributing taps; scattering the tap weights into a dense
    # (bins x window pixels) matrix turns the pooling into one batched matrix product. That is
    # cheaper than gathering K * P * P * S * S * 4 feature vectors, and autograd of the product
    # gives the kernel's feature gradient (matrix^T grad) and, through the scattered weights, the
    # bilinear offset gradient, without materialising gathered copies of the features.
    row_used = valid_h & valid_w.any(dim=-1, keepdim=True)         # (K, P, P, S_h)
    col_used = valid_w & valid_h.any(dim=-1, keepdim=True)         # (K, P, P, S_w)
    top, win_h = _window(row, row_used, height)
    left, win_w = _window(col, col_used, width)
    local_row = (row - top[:, None, None, None, None]).clamp(0, win_h - 1)   # unused taps have weight 0
    local_col = (col - left[:, None, None, None, None]).clamp(0, win_w - 1)
    local_pixel = local_row[..., :, None, :, None] * win_w + local_col[..., None, :, None, :]

    bins_per_roi, window = out_size * out_size, win_h * win_w
    flat_index = torch.arange(num_rois * bins_per_roi, device=device).view(num_rois, bins_per_roi, 1) * window \
        + local_pixel.reshape(num_rois, bins_per_roi, -1)
    matrix = weight.new_zeros(num_rois * bins_per_roi * window) \
        .index_add(0, flat_index.reshape(-1), weight.reshape(-1))
    matrix = matrix.view(num_rois, bins_per_roi, window).to(features.dtype)
    # Windows as rows of the channels-last map: a contiguous row gather, and its backward an index_add.
    rows = (batch_index * height + top)[:, None] + torch.arange(win_h, device=device)   # (K, win_h)
    cols = left[:, None] + torch.arange(win_w, device=device)                          # (K, win_w)
    map_pixel = (rows[:, :, None] * width + cols[:, None, :]).reshape(-1)
    pixel_rows = features.permute(0, 2, 3, 1).reshape(num_images * height * width, channels)
    patch = pixel_rows.index_select(0, map_pixel).view(num_rois, window, channels)
    pooled = torch.bmm(matrix, patch)                                                  # (K, P*P, C)
    return pooled.view(num_rois, out_size, out_size, channels).permute(0, 3, 1, 2).contiguous()


def _window(index: torch.Tensor, used: torch.Tensor, size: int) -> Tuple[torch.Tensor, int]:
    """Per-RoI start and common length of a window along one axis covering every used tap.

    Args:
        index: (K, P, P, S, 2) map rows (or columns) of the floor/ceil corners of each sample.
        used: (K, P, P, S) whether the sample contributes to its bin.
        size: map height (or width).

    Returns:
        (start (K,), length): ``start + length <= size``; RoIs without a used tap get start 0.
    """
    used = used[..., None].expand_as(index)
    first = torch.where(used, index, torch.full_like(index, size)).flatten(1).amin(dim=1)
    last = torch.where(used, index, torch.full_like(index, -1)).flatten(1).amax(dim=1)
    empty = last < first
    first = torch.where(empty, torch.zeros_like(first), first)
    last = torch.where(empty, torch.zeros_like(last), last)
    length = int((last - first).max()) + 1
    return first.clamp(max=size - length), length


class DeformRoIPoolingPack(nn.Module):
    """Two-pass deformable RoI pooling with an offset MLP, as the official ``DeformRoIPoolingPack``.

    ``forward(features, rois)``: (a) pool without translation, (b) predict per-bin offsets
    ``offset_fc(pooled.view(K, -1)).view(K, 2, P, P)`` (first P*P outputs are x offsets in
    row-major (ph, pw) order, the next P*P the y offsets), (c) pool again with them. Gradients
    reach the features through both passes. With ``no_trans=True`` there is no ``offset_fc`` and
    forward is the single untranslated pooling.

    ``offset_fc`` is ``num_offset_fcs`` Linear layers with ReLU between them (keys ``offset_fc.0``,
    ``.2``, ``.4`` for the default 3): in = P*P*out_channels, hidden = ``deform_fc_channels``,
    out = 2*P*P; the last layer starts at zero, so a fresh module pools untranslated.

    Args:
        spatial_scale: factor from RoI pixels to feature cells.
        out_size: P.
        out_channels: channels of the pooled features (must equal the input's channels).
        no_trans: pool without translation and build no offset MLP.
        group_size: must be 1 (position-sensitive pooling is not used by SiamAttn).
        part_size: must be None or ``out_size`` (the offset MLP predicts one offset per bin).
        sample_per_part: samples per bin along each axis.
        trans_std: offset scale (the official class defaults to 0.0; SiamAttn passes 0.1).
        num_offset_fcs: Linear layers in the offset MLP.
        deform_fc_channels: hidden width of the offset MLP.
    """

    def __init__(self, spatial_scale: float, out_size: int, out_channels: int, no_trans: bool = False,
                 group_size: int = 1, part_size: Optional[int] = None, sample_per_part: int = 4,
                 trans_std: float = 0.1, num_offset_fcs: int = 3, deform_fc_channels: int = 1024) -> None:
        super().__init__()
        if group_size != 1:
            raise ValueError(f"DeformRoIPoolingPack: group_size={group_size} is not supported (only 1, "
                             "the non-position-sensitive pooling SiamAttn uses)")
        if part_size is not None and part_size != out_size:
            raise ValueError(f"DeformRoIPoolingPack: part_size={part_size} must be None or out_size={out_size}, "
                             "because offset_fc predicts one offset per bin")
        if num_offset_fcs < 1:
            raise ValueError(f"DeformRoIPoolingPack: num_offset_fcs={num_offset_fcs} must be >= 1")
        self.spatial_scale = float(spatial_scale)
        self.out_size = int(out_size)
        self.out_channels = int(out_channels)
        self.no_trans = bool(no_trans)
        self.sample_per_part = int(sample_per_part)
        self.trans_std = float(trans_std)
        self.num_offset_fcs = int(num_offset_fcs)
        self.deform_fc_channels = int(deform_fc_channels)
        if not self.no_trans:
            layers = []
            in_features = self.out_size * self.out_size * self.out_channels
            for i in range(self.num_offset_fcs):
                last = i == self.num_offset_fcs - 1
                out_features = self.out_size * self.out_size * 2 if last else self.deform_fc_channels
                layers.append(nn.Linear(in_features, out_features))
                if not last:
                    layers.append(nn.ReLU(inplace=True))
                in_features = out_features
            self.offset_fc = nn.Sequential(*layers)
            nn.init.zeros_(self.offset_fc[-1].weight)
            nn.init.zeros_(self.offset_fc[-1].bias)

    def _pool(self, features: torch.Tensor, rois: torch.Tensor, offsets: Optional[torch.Tensor]) -> torch.Tensor:
        return deform_roi_pool(features, rois, offsets, self.spatial_scale, self.out_size,
                               self.sample_per_part, self.trans_std)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """features (N, out_channels, H, W), rois (K, 5) image pixels -> (K, out_channels, P, P)."""
        if features.dim() != 4 or features.shape[1] != self.out_channels:
            raise ValueError(f"DeformRoIPoolingPack expects features (N, {self.out_channels}, H, W), "
                             f"got {tuple(features.shape)}")
        untranslated = self._pool(features, rois, None)
        if self.no_trans:
            return untranslated
        num_rois = rois.shape[0]
        offsets = self.offset_fc(untranslated.reshape(num_rois, -1)).view(num_rois, 2, self.out_size, self.out_size)
        return self._pool(features, rois, offsets)

    def extra_repr(self) -> str:
        return (f"spatial_scale={self.spatial_scale}, out_size={self.out_size}, out_channels={self.out_channels}, "
                f"no_trans={self.no_trans}, sample_per_part={self.sample_per_part}, trans_std={self.trans_std}")
