"""SiamAttn's deformable Siamese attention: self-attention, cross (channel) attention, deformable conv.

Per feature level (weights shared between template ``z`` and search ``x``):

* ``PAM`` (spatial self-attention, DANet/SAGAN): ``A = softmax_j(q_i . k_j)`` (no scaling),
  ``out = gamma * (V A^T) + f`` with ``gamma`` initialised to 0;
* ``cam_attention`` (channel attention, no parameters) of the *un-enhanced* features:
  ``E = F F^T``, ``A = softmax(rowmax(E) - E)``;
* ``CAMUse``: ``gamma_c * (A f) + f`` with one ``gamma_c`` per level (initialised to 0);
* ``z' = PAM(z) + CAMUse(z, A_z) + CAMUse(z, A_x)`` and ``x' = PAM(x) + CAMUse(x, A_x) + CAMUse(x, A_z)``:
  the cross-attention is the other branch's channel-attention matrix, and each term carries its own
  residual (the identity enters three times, as in the official code);
* then a 3x3 ``DeformConvPack`` (no bias, no norm or activation after it).

Shapes are unchanged. Module names (``pams``, ``cam_uses``, ``deform_convs``) follow the official
checkpoints.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltr.models.ops.deform_conv import DeformConvPack

__all__ = ["PAM", "CAMUse", "cam_attention", "FeatureEnhance"]


class PAM(nn.Module):
    """Position (spatial) self-attention with query/key width ``channels // 8``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        self.query_conv = nn.Conv2d(channels, channels // 8, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, channels // 8, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        query = self.query_conv(x).flatten(2).transpose(1, 2)        # (B, N, C/8)
        key = self.key_conv(x).flatten(2)                             # (B, C/8, N)
        attention = F.softmax(torch.bmm(query, key), dim=-1)          # (B, N, N)
        value = self.value_conv(x).flatten(2)                         # (B, C, N)
        out = torch.bmm(value, attention.transpose(1, 2)).view(b, c, h, w)
        return self.gamma * out + x


def cam_attention(x: torch.Tensor) -> torch.Tensor:
    """Channel-attention matrix (B, C, C) of features (B, C, H, W): ``softmax(rowmax(E) - E)``, ``E = F F^T``."""
    f = x.flatten(2)
    energy = torch.bmm(f, f.transpose(1, 2))
    energy = energy.max(dim=-1, keepdim=True).values.expand_as(energy) - energy
    return F.softmax(energy, dim=-1)


class CAMUse(nn.Module):
    """Apply a channel-attention matrix: ``gamma * (A f) + f``."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        out = torch.bmm(attention, x.flatten(2)).view(b, c, h, w)
        return self.gamma * out + x


class FeatureEnhance(nn.Module):
    """One attention + deformable-conv block per level, applied jointly to template and search features."""

    def __init__(self, in_channels: Sequence[int]) -> None:
        super().__init__()
        self.pams = nn.ModuleList([PAM(c) for c in in_channels])
        self.cam_uses = nn.ModuleList([CAMUse() for _ in in_channels])
        self.deform_convs = nn.ModuleList([DeformConvPack(c, c, kernel_size=3, padding=1) for c in in_channels])

    def forward(self, z_fs: List[torch.Tensor], x_fs: List[torch.Tensor]
                ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Per-level template (B or 1, C, h, w) and search (B, C, H, W) features -> enhanced lists.

        A single template (batch 1) is shared by all B searches.
        """
        z_out, x_out = [], []
        for i, (z, x) in enumerate(zip(z_fs, x_fs)):
            if z.shape[0] == 1 and x.shape[0] > 1:
                z = z.expand(x.shape[0], -1, -1, -1)
            pam, cam_use, deform = self.pams[i], self.cam_uses[i], self.deform_convs[i]
            att_z, att_x = cam_attention(z), cam_attention(x)
            z_e = pam(z) + cam_use(z, att_z) + cam_use(z, att_x)
            x_e = pam(x) + cam_use(x, att_x) + cam_use(x, att_z)
            z_out.append(deform(z_e))
            x_out.append(deform(x_e))
        return z_out, x_out
