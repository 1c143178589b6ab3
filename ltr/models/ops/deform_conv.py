"""Deformable convolution (DCN v1) in plain PyTorch, parameterised like the official ``DeformConvPack``.

The sampling itself is ``torchvision.ops.deform_conv2d`` (no mask), which runs on CPU and GPU
from the same call. Its semantics are those of the ``deformable_im2col`` CUDA kernel that
SiamAttn compiles (mmdetection v1):

* the offset tensor is (B, deformable_groups * 2 * kh * kw, H_out, W_out); for kernel tap
  ``k = i * kw + j`` of offset group ``g``, channel ``g * 2 * kh * kw + 2 * k`` is the row
  offset (dy) and channel ``... + 2 * k + 1`` the column offset (dx);
* output pixel (h, w) reads the input at ``(h * stride - pad + i * dilation + dy,
  w * stride - pad + j * dilation + dx)``;
* bilinear interpolation with zeros outside the map: a sample contributes only when
  ``-1 < y < H`` and ``-1 < x < W``, and each of its four corners only when it lies inside.

``tests/test_deform_ops.py`` checks this against a loop re-statement of the kernel.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from torch.nn.modules.utils import _pair
from torchvision.ops import deform_conv2d

__all__ = ["DeformConvPack"]

IntPair = Union[int, Tuple[int, int]]


class DeformConvPack(nn.Module):
    """Deformable 3x3 (or k x k) convolution whose offsets come from a zero-initialised conv.

    State-dict keys: ``weight`` (out, in / groups, kh, kw), ``bias`` (only with ``bias=True``;
    the official op has none), ``conv_offset.weight`` (deformable_groups * 2 * kh * kw, in, kh, kw)
    and ``conv_offset.bias``. Because ``conv_offset`` starts at zero, a fresh module computes
    a plain convolution with ``weight``.

    ``conv_offset`` uses the same stride, padding and dilation as the deformable conv so that
    its output grid is the deformable conv's output grid. (The official module gives
    ``conv_offset`` no dilation; the two agree for dilation 1, the only value SiamAttn uses.)

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: kernel size (int or (kh, kw)).
        stride, padding, dilation: as for ``nn.Conv2d``.
        groups: convolution groups (``in_channels`` and ``out_channels`` divisible by it).
        deformable_groups: number of offset groups (``in_channels`` divisible by it).
        bias: add a learnable bias (the official op has none).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair = 3, stride: IntPair = 1,
                 padding: IntPair = 1, dilation: IntPair = 1, groups: int = 1, deformable_groups: int = 1,
                 bias: bool = False) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"DeformConvPack: in_channels={in_channels} and out_channels={out_channels} "
                             f"must both be divisible by groups={groups}")
        if in_channels % deformable_groups:
            raise ValueError(f"DeformConvPack: in_channels={in_channels} must be divisible by "
                             f"deformable_groups={deformable_groups}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = int(groups)
        self.deformable_groups = int(deformable_groups)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias: Optional[nn.Parameter]
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        kh, kw = self.kernel_size
        self.conv_offset = nn.Conv2d(in_channels, self.deformable_groups * 2 * kh * kw, self.kernel_size,
                                     stride=self.stride, padding=self.padding, dilation=self.dilation, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Official init: weight ~ U(-1/sqrt(n), 1/sqrt(n)) with n = in_channels * kh * kw; offsets 0."""
        fan = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in_channels, H, W) -> (B, out_channels, H_out, W_out)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DeformConvPack expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        offset = self.conv_offset(x)
        return deform_conv2d(x, offset, self.weight, self.bias, stride=self.stride, padding=self.padding,
                             dilation=self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
                f"deformable_groups={self.deformable_groups}, bias={self.bias is not None}")
