"""Depthwise-correlation RPN heads of SiamRPN++.

Output channel layout (the same as the official checkpoints, so released head weights
can be reused):

* cls: ``2 * A`` channels, ``[background a0..a(A-1), foreground a0..a(A-1)]``;
* loc: ``4 * A`` channels, ``[dx a0.., dy a0.., dw a0.., dh a0..]``.

With the score map of side S, the flattened candidate index is ``a * S * S + row * S + col``.
"""
from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["xcorr_depthwise", "DepthwiseXCorr", "DepthwiseRPN", "MultiRPN"]


def xcorr_depthwise(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Per-channel cross-correlation of ``search`` (B, C, H, W) with ``kernel`` (B or 1, C, h, w).

    Each sample is correlated with its own kernel (one template per tracker); a single
    kernel (batch 1) is shared by all searches. Returns (B, C, H - h + 1, W - w + 1).
    """
    b, c = search.shape[:2]
    if kernel.size(0) == 1 and b > 1:
        kernel = kernel.expand(b, -1, -1, -1)
    if kernel.size(0) != b or kernel.size(1) != c:
        raise ValueError(f"Kernel batch/channels {tuple(kernel.shape[:2])} do not match search {(b, c)}.")
    x = search.reshape(1, b * c, search.size(2), search.size(3))
    k = kernel.reshape(b * c, 1, kernel.size(2), kernel.size(3))
    out = F.conv2d(x, k, groups=b * c)
    return out.view(b, c, out.size(2), out.size(3))


class DepthwiseXCorr(nn.Module):
    """conv_kernel / conv_search (3x3 conv + norm + ReLU, unpadded), depthwise xcorr, 1x1 head.

    ``head`` = 1x1 conv + norm + ReLU + 1x1 conv (with bias) to ``out_channels``.
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, kernel_size: int = 3,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv_kernel = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=kernel_size, bias=False),
            norm_layer(hidden),
            nn.ReLU(inplace=True),
        )
        self.conv_search = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=kernel_size, bias=False),
            norm_layer(hidden),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel_size=1, bias=False),
            norm_layer(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, kernel_size=1),
        )

    def forward(self, kernel: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        return self.head(xcorr_depthwise(self.conv_search(search), self.conv_kernel(kernel)))


class DepthwiseRPN(nn.Module):
    """A cls branch (2A outputs) and a loc branch (4A outputs) for one feature level."""

    def __init__(self, anchor_num: int = 5, in_channels: int = 256, hidden: int = 256,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.cls = DepthwiseXCorr(in_channels, hidden, 2 * anchor_num, norm_layer=norm_layer)
        self.loc = DepthwiseXCorr(in_channels, hidden, 4 * anchor_num, norm_layer=norm_layer)

    def forward(self, z_f: torch.Tensor, x_f: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.cls(z_f, x_f), self.loc(z_f, x_f)


class MultiRPN(nn.Module):
    """One ``DepthwiseRPN`` per level (``rpn2``, ``rpn3``, ...) fused by a weighted mean.

    With ``weighted=True`` the fusion weights are ``softmax(cls_weight)`` and
    ``softmax(loc_weight)`` (learned, one per level, initialised equal); otherwise the
    plain mean is used.
    """

    def __init__(self, anchor_num: int, in_channels: Sequence[int], weighted: bool = True,
                 norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.weighted = weighted
        self.num_levels = len(in_channels)
        for i, c in enumerate(in_channels):
            self.add_module(f"rpn{i + 2}", DepthwiseRPN(anchor_num, c, c, norm_layer))
        if weighted:
            self.cls_weight = nn.Parameter(torch.ones(len(in_channels)))
            self.loc_weight = nn.Parameter(torch.ones(len(in_channels)))

    def forward(self, z_fs: List[torch.Tensor], x_fs: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """z_fs / x_fs: per-level template / search features -> (cls (B, 2A, S, S), loc (B, 4A, S, S))."""
        if len(z_fs) != self.num_levels or len(x_fs) != self.num_levels:
            raise ValueError(f"Expected {self.num_levels} feature levels.")
        outs = [getattr(self, f"rpn{i + 2}")(z, x) for i, (z, x) in enumerate(zip(z_fs, x_fs))]
        cls = torch.stack([o[0] for o in outs])
        loc = torch.stack([o[1] for o in outs])
        if self.weighted:
            wc = F.softmax(self.cls_weight, 0)
            wl = F.softmax(self.loc_weight, 0)
        else:
            wc = wl = cls.new_full((self.num_levels,), 1.0 / self.num_levels)
        return (cls * wc.view(-1, 1, 1, 1, 1)).sum(0), (loc * wl.view(-1, 1, 1, 1, 1)).sum(0)
