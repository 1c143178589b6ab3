"""Initial target filters for DiMP: pool the target region of the (convolved) train features."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ltr.models.ops.prroi_pool import PrRoIPool2D

__all__ = ["FilterPool", "FilterInitializerLinear", "FilterInitializerZero"]


class FilterPool(nn.Module):
    """Pool the target box of every feature map into a ``filter_size x filter_size`` patch.

    Args:
        filter_size: output side (the filter size).
        feature_stride: image pixels per feature cell.
        pool_square: pool a square of the box's area, centred on the box, instead of the box.
    """

    def __init__(self, filter_size: int = 1, feature_stride: int = 16, pool_square: bool = False) -> None:
        super().__init__()
        self.prroi_pool = PrRoIPool2D(filter_size, filter_size, 1.0 / feature_stride)
        self.pool_square = pool_square

    def forward(self, feat: torch.Tensor, bb: torch.Tensor) -> torch.Tensor:
        """feat (N, C, H, W), bb (N, 4) boxes (x, y, w, h) in image pixels, one per map -> (N, C, f, f)."""
        bb = bb.reshape(-1, 4)
        if bb.shape[0] != feat.shape[0]:
            raise ValueError(f"{bb.shape[0]} boxes for {feat.shape[0]} feature maps")
        xy, wh = bb[:, :2], bb[:, 2:]
        if self.pool_square:
            side = wh.prod(dim=1, keepdim=True).sqrt()
            xy = xy + wh / 2 - side / 2
            wh = side.expand(-1, 2)
        batch_index = torch.arange(bb.shape[0], dtype=bb.dtype, device=bb.device).reshape(-1, 1)
        rois = torch.cat((batch_index, xy, xy + wh), dim=1)  # [b, x1, y1, x2, y2]
        return self.prroi_pool(feat, rois)


class FilterInitializerLinear(nn.Module):
    """Initial filter = mean over train images of the pooled target region after a linear conv.

    Args:
        filter_size: filter side.
        feature_dim: channels of the classification features (input and filter).
        feature_stride: image pixels per feature cell.
        pool_square: see :class:`FilterPool`.
        filter_norm: divide the filter by its number of elements.
        conv_ksz: kernel size of the conv applied before pooling.
        init_weights: 'default' (He-normal over fan-out) or 'zero'.
    """

    def __init__(self, filter_size: int = 1, feature_dim: int = 256, feature_stride: int = 16,
                 pool_square: bool = False, filter_norm: bool = True, conv_ksz: int = 3,
                 init_weights: str = "default") -> None:
        super().__init__()
        self.filter_conv = nn.Conv2d(feature_dim, feature_dim, kernel_size=conv_ksz, padding=conv_ksz // 2)
        self.filter_pool = FilterPool(filter_size=filter_size, feature_stride=feature_stride,
                                      pool_square=pool_square)
        self.filter_norm = filter_norm
        if init_weights == "default":
            n = conv_ksz * conv_ksz * feature_dim
            nn.init.normal_(self.filter_conv.weight, 0.0, math.sqrt(2.0 / n))
        elif init_weights == "zero":
            nn.init.zeros_(self.filter_conv.weight)
        else:
            raise ValueError(f"init_weights must be 'default' or 'zero', got {init_weights!r}")
        nn.init.zeros_(self.filter_conv.bias)

    def forward(self, feat: torch.Tensor, bb: torch.Tensor) -> torch.Tensor:
        """Compute the initial filter.

        Args:
            feat: (images, [sequences], C, H, W) classification features.
            bb: (images, [sequences], 4) target boxes (x, y, w, h) in image pixels.

        Returns:
            (sequences, C, f, f).
        """
        num_images = feat.shape[0]
        feat = self.filter_conv(feat.reshape(-1, *feat.shape[-3:]))
        weights = self.filter_pool(feat, bb)
        if num_images > 1:
            weights = weights.reshape(num_images, -1, *weights.shape[-3:]).mean(dim=0)
        if self.filter_norm:
            weights = weights / (weights.shape[1] * weights.shape[2] * weights.shape[3])
        return weights


class FilterInitializerZero(nn.Module):
    """Initial filter of zeros (no parameters).

    Args:
        filter_size: filter side.
        feature_dim: filter channels.
    """

    def __init__(self, filter_size: int = 1, feature_dim: int = 256) -> None:
        super().__init__()
        self.filter_shape = (feature_dim, filter_size, filter_size)

    def forward(self, feat: torch.Tensor, bb: torch.Tensor) -> torch.Tensor:
        """feat (images, [sequences], C, H, W) -> zeros (sequences, C, f, f)."""
        num_sequences = feat.shape[1] if feat.dim() == 5 else 1
        return feat.new_zeros(num_sequences, *self.filter_shape)
