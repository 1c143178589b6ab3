"""Conv + norm + ReLU block of SiamAttn's fusion neck and mask head (mmdetection's ConvModule).

The norm layer is registered under the name ``BN<channels>`` (``BN256`` in the paper-size model),
as the official ``ConvModule`` names it, so that state-dict keys such as
``feature_fusion.lateral_convs.0.BN256.weight`` match the released checkpoints.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

__all__ = ["ConvModule"]


class ConvModule(nn.Module):
    """``conv`` (no bias) -> norm (attribute ``BN<out_channels>``) -> ReLU.

    Args:
        in_channels, out_channels, kernel_size, padding: of the convolution.
        norm_layer: ``f(channels) -> module``; BatchNorm2d as in the official model.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, padding: int = 0,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False)
        self.norm_name = f"BN{out_channels}"
        self.add_module(self.norm_name, norm_layer(out_channels))
        self.activate = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(getattr(self, self.norm_name)(self.conv(x)))
