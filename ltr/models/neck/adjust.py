"""Channel-adjust neck of SiamRPN++: a 1x1 conv + norm per feature level.

Template features are additionally cropped to their central ``center_size`` x
``center_size`` cells when narrower than ``crop_below``: a 127 px template gives 15x15
stride-8 features, of which the central 7x7 (about the target itself, without most of
the context margin) become the correlation kernel. Search features (31x31) are wider
than the threshold and pass uncropped.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import torch
import torch.nn as nn

__all__ = ["AdjustLayer", "AdjustAllLayer"]


class AdjustLayer(nn.Module):
    """1x1 conv (no bias) + norm, then the central crop of narrow (template) maps.

    Args:
        in_channels / out_channels: channel counts.
        center_size: side of the central crop; None disables cropping.
        crop_below: crop only maps whose width is smaller than this.
        norm_layer: ``f(channels) -> module``; BatchNorm2d as in the official model.
    """

    def __init__(self, in_channels: int, out_channels: int, center_size: Optional[int] = 7,
                 crop_below: int = 20, norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
            norm_layer(out_channels),
        )
        self.center_size = center_size
        self.crop_below = crop_below

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        if self.center_size is not None and x.size(3) < self.crop_below:
            lo = (x.size(3) - self.center_size) // 2
            hi = lo + self.center_size
            x = x[:, :, lo:hi, lo:hi]
        return x


class AdjustAllLayer(nn.Module):
    """One ``AdjustLayer`` per feature level, named ``downsample2``, ``downsample3``, ...

    The names follow the official checkpoints, whose levels are backbone layers 2, 3, 4.
    ``forward`` maps a list of feature maps to a list of adjusted maps of the same length.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int], center_size: Optional[int] = 7,
                 crop_below: int = 20, norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        if len(in_channels) != len(out_channels):
            raise ValueError("in_channels and out_channels must have the same length.")
        self.num = len(out_channels)
        for i, (cin, cout) in enumerate(zip(in_channels, out_channels)):
            self.add_module(f"downsample{i + 2}", AdjustLayer(cin, cout, center_size, crop_below, norm_layer))

    def forward(self, features: List[torch.Tensor]) -> List[torch.Tensor]:
        if len(features) != self.num:
            raise ValueError(f"Expected {self.num} feature levels, got {len(features)}.")
        return [getattr(self, f"downsample{i + 2}")(f) for i, f in enumerate(features)]
