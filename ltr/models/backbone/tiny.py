"""A tiny convolutional backbone with total stride 8, for CPU experiments and tests.

Four 3x3 conv + norm + ReLU stages: three with stride 2 (total stride 8) and one with
stride 1 and dilation 2 to widen the receptive field without shrinking the map. All convs
are padded, so an input of side ``s`` gives feature maps of side ``ceil(s / 8)``
(64 -> 8, 128 -> 16), and feature cell ``i`` is centred on input pixel ``8 * i``.

Input convention: like the official Siamese trackers, images are BGR float in [0, 255];
the backbone rescales them to about [-0.5, 0.5] itself so that callers share one
preprocessing path with the paper-size model. GroupNorm is the default normalisation
because it behaves the same in train and eval mode, which keeps the log-probabilities of
sequence-level rollouts (collected without gradients) equal to those recomputed for the
loss.
"""
from __future__ import annotations

from typing import Callable, List, Sequence

import torch
import torch.nn as nn

__all__ = ["TinyBackbone", "norm_factory"]


def norm_factory(kind: str, groups: int = 8) -> Callable[[int], nn.Module]:
    """Return ``f(channels) -> norm layer`` for ``kind`` in {'group', 'batch'}.

    GroupNorm uses ``min(groups, channels)`` groups (reduced until it divides ``channels``).
    """
    if kind == "batch":
        return nn.BatchNorm2d
    if kind == "group":
        def make(channels: int) -> nn.Module:
            g = min(groups, channels)
            while channels % g:
                g -= 1
            return nn.GroupNorm(g, channels)
        return make
    raise ValueError(f"Unknown norm kind {kind!r}; use 'group' or 'batch'.")


def _stage(cin: int, cout: int, stride: int, dilation: int, norm: Callable[[int], nn.Module]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        norm(cout),
        nn.ReLU(inplace=True),
    )


class TinyBackbone(nn.Module):
    """Four-stage conv net, stride 8, returning the outputs of ``used_layers``.

    Args:
        channels: output channels of stages 1..4 (stride 2, 4, 8, 8).
        used_layers: 1-based stage indices to return; only stages 3 and 4 are at stride 8.
        norm: 'group' (default) or 'batch'.
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 48, 48), used_layers: Sequence[int] = (4,),
                 norm: str = "group") -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError("TinyBackbone needs four channel counts.")
        if any(i not in (1, 2, 3, 4) for i in used_layers):
            raise ValueError(f"used_layers must be in 1..4, got {tuple(used_layers)}.")
        make_norm = norm_factory(norm)
        c = list(channels)
        self.used_layers = tuple(used_layers)
        self.layer1 = _stage(3, c[0], 2, 1, make_norm)
        self.layer2 = _stage(c[0], c[1], 2, 1, make_norm)
        self.layer3 = _stage(c[1], c[2], 2, 1, make_norm)
        self.layer4 = _stage(c[2], c[3], 1, 2, make_norm)
        self._channels = c
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @property
    def out_channels(self) -> List[int]:
        """Channel count of each returned feature level."""
        return [self._channels[i - 1] for i in self.used_layers]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """x: (B, 3, H, W) BGR float 0-255 -> list of (B, C_i, ceil(H/2^k), ceil(W/2^k))."""
        x = (x * (1.0 / 255.0)).sub_(0.5)  # in place: one fresh crop-sized buffer instead of two
        outs = []
        last = max(self.used_layers)
        for i, layer in enumerate((self.layer1, self.layer2, self.layer3, self.layer4), start=1):
            if i > last:
                break
            x = layer(x)
            outs.append(x)
        return [outs[i - 1] for i in self.used_layers]
