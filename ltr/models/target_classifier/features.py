"""Classification feature head of DiMP: optional residual blocks, a final conv and L2 normalisation."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
from torchvision.models.resnet import Bottleneck

__all__ = ["InstanceL2Norm", "residual_bottleneck", "init_feature_head"]


class InstanceL2Norm(nn.Module):
    """Scale each sample so that its mean squared activation is ``scale ** 2``.

    ``x * scale * sqrt(C*H*W / (sum(x**2) + eps))`` per sample (with ``size_average``), or
    ``x * scale / sqrt(sum(x**2) + eps)`` otherwise. Has no parameters.
    """

    def __init__(self, size_average: bool = True, eps: float = 1e-5, scale: float = 1.0) -> None:
        super().__init__()
        self.size_average = size_average
        self.eps = eps
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> same shape."""
        sq_sum = (x * x).reshape(x.shape[0], -1).sum(dim=1).reshape(-1, 1, 1, 1)
        if self.size_average:
            numel = x.shape[1] * x.shape[2] * x.shape[3]
            return x * (self.scale * (numel / (sq_sum + self.eps)).sqrt())
        return x * (self.scale / (sq_sum + self.eps).sqrt())

    def extra_repr(self) -> str:
        return f"scale={self.scale:.5g}, eps={self.eps}, size_average={self.size_average}"


def residual_bottleneck(feature_dim: int = 256, num_blocks: int = 1, l2norm: bool = True,
                        final_conv: bool = False, norm_scale: float = 1.0,
                        out_dim: Optional[int] = None) -> nn.Sequential:
    """Build the DiMP classification feature head.

    Args:
        feature_dim: bottleneck width; the input has ``4 * feature_dim`` channels
            (ResNet-50 layer3: 1024 = 4 * 256).
        num_blocks: number of ResNet bottleneck blocks before the final conv.
        l2norm: append :class:`InstanceL2Norm`.
        final_conv: append a bias-free 3x3 conv ``4 * feature_dim -> out_dim``.
        norm_scale: scale of the L2 normalisation; DiMP uses ``sqrt(1 / (out_dim * f * f))``
            for filter size ``f``.
        out_dim: output channels (default ``feature_dim``).

    Returns:
        ``nn.Sequential`` whose indices give the state-dict names (``0.weight`` for the
        final conv when ``num_blocks == 0``).
    """
    out_dim = feature_dim if out_dim is None else out_dim
    layers = []
    for i in range(num_blocks):
        # The last block maps to out_dim when there is no final conv to do it.
        planes = feature_dim if i < num_blocks - 1 + int(final_conv) else out_dim // 4
        layers.append(Bottleneck(4 * feature_dim, planes))
    if final_conv:
        layers.append(nn.Conv2d(4 * feature_dim, out_dim, kernel_size=3, padding=1, bias=False))
    if l2norm:
        layers.append(InstanceL2Norm(scale=norm_scale))
    return nn.Sequential(*layers)


def init_feature_head(module: nn.Module) -> None:
    """DiMP initialisation of the classification head: He-normal over fan-out, BN identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
