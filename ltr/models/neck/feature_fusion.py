"""SiamAttn's feature fusion neck (official ``FeatureFusionAllNeck``): box and mask features.

* Box feature: for each correlated level, a depthwise cross-correlation (``DepthwiseXCorr`` of the
  RPN, with a ``channels``-wide output) of the enhanced template and search features, then a 1x1
  ``ConvModule``; the levels are summed without weights. Paper size: 256 @ 25x25.
* Mask feature (search only, no correlation): every search level (raw backbone levels and the
  enhanced ones) is resized bilinearly (``align_corners=True``) to the side of level
  ``fusion_level`` and passed through its own 1x1 lateral ``ConvModule``; all are summed. Paper
  size: level 1 (layer1, 256 @ 63x63).
"""
from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltr.models.head.conv_module import ConvModule
from ltr.models.head.rpn import DepthwiseXCorr

__all__ = ["FeatureFusionAllNeck"]


class FeatureFusionAllNeck(nn.Module):
    """Args:
        in_channels: channels of every search level fed to the mask feature (paper [64, 256, 256, 256, 256]).
        xcorr_channels: channels of the correlated (enhanced) levels (paper [256, 256, 256]).
        channels: output channels of both features (paper 256).
        fusion_level: index (into ``in_channels``) of the level whose side the mask feature takes.
        norm_layer: ``f(channels) -> module``.
    """

    def __init__(self, in_channels: Sequence[int], xcorr_channels: Sequence[int], channels: int = 256,
                 fusion_level: int = 1, norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.fusion_level = fusion_level
        self.lateral_convs = nn.ModuleList([ConvModule(c, channels, 1, norm_layer=norm_layer) for c in in_channels])
        self.xcorr = nn.ModuleList([DepthwiseXCorr(c, channels, channels, norm_layer=norm_layer)
                                    for c in xcorr_channels])
        self.convs = nn.ModuleList([ConvModule(channels, channels, 1, norm_layer=norm_layer) for _ in xcorr_channels])

    def forward(self, z_fs: List[torch.Tensor], x_fs: List[torch.Tensor], x_all: List[torch.Tensor]
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """z_fs / x_fs: enhanced template / search levels; x_all: every search level for the mask feature
        (raw backbone levels, then the enhanced ones). Returns (box feature, mask feature)."""
        box = None
        for xcorr, conv, z, x in zip(self.xcorr, self.convs, z_fs, x_fs):
            level = conv(xcorr(z, x))
            box = level if box is None else box + level
        side = x_all[self.fusion_level].shape[-2:]
        mask = None
        for i, (lateral, x) in enumerate(zip(self.lateral_convs, x_all)):
            if i != self.fusion_level and tuple(x.shape[-2:]) != tuple(side):
                x = F.interpolate(x, size=side, mode="bilinear", align_corners=True)
            level = lateral(x)
            mask = level if mask is None else mask + level
        return box, mask
