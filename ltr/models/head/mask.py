"""SiamAttn's mask head (official ``FusedSemanticHead``, module name ``mask_head``).

Deformable RoI pooling (``roi_pool_m``, P x P bins on the fused mask feature) -> ``num_convs`` 3x3
``ConvModule`` -> ``upsample`` (transposed conv, stride ``upsample_ratio``) + ReLU -> ``conv_logits``
(1x1 to one channel). Output: mask **logits** (K, 1, P * ratio, P * ratio); callers apply the sigmoid.
Paper size: P 16, ratio 4, 64x64 masks.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ltr.models.head.conv_module import ConvModule
from ltr.models.ops.deform_roi_pool import DeformRoIPoolingPack

__all__ = ["MaskHead"]


class MaskHead(nn.Module):
    """Args:
        channels: channels of the mask feature (paper 256).
        pool_size: RoI bins per side (paper 16).
        spatial_scale: feature cells per search-crop pixel (paper 63 / 255).
        upsample_ratio: stride of the transposed conv (paper 4).
        num_convs: 3x3 conv blocks (paper 4).
        offset_fc_channels: width of the deformable pooling's offset MLP (paper 1024).
        norm_layer: ``f(channels) -> module``.
    """

    def __init__(self, channels: int = 256, pool_size: int = 16, spatial_scale: float = 63 / 255,
                 upsample_ratio: int = 4, num_convs: int = 4, offset_fc_channels: int = 1024,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.convs = nn.ModuleList([ConvModule(channels, channels, 3, padding=1, norm_layer=norm_layer)
                                    for _ in range(num_convs)])
        self.conv_logits = nn.Conv2d(channels, 1, kernel_size=1)
        self.upsample = nn.ConvTranspose2d(channels, channels, upsample_ratio, stride=upsample_ratio)
        self.relu = nn.ReLU(inplace=True)
        self.roi_pool_m = DeformRoIPoolingPack(spatial_scale, pool_size, channels, no_trans=False, trans_std=0.1,
                                               deform_fc_channels=offset_fc_channels)
        self.out_size = pool_size * upsample_ratio
        for m in (self.upsample, self.conv_logits):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)

    def forward(self, mask_feature: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """mask_feature (B, C, M, M); rois (K, 5) [batch index, x1, y1, x2, y2] crop pixels -> (K, 1, out, out) logits."""
        x = self.roi_pool_m(mask_feature, rois)
        for conv in self.convs:
            x = conv(x)
        return self.conv_logits(self.relu(self.upsample(x)))
