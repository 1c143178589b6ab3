"""Sine position encoding for 2-D feature maps (no learned weights).

Each cell (row y, column x) of an H x W map, counted from 1, gets
``[sin/cos(y_n / T^(2i/F)) for i < F/2 pairs] ++ [same for x_n]`` with F = ``num_pos_feats``
per axis, so the output has ``2*F`` channels (= the transformer width). With
``normalize=True`` (TransT) the coordinates are rescaled to ``y_n = y / H * 2*pi``,
which makes the encoding depend on relative position in the map rather than on its size.
A padding mask (True = padded cell) excludes padded cells from the running count, as
in DETR; without a mask all cells are valid.
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn

__all__ = ["PositionEmbeddingSine", "build_position_encoding"]


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine 2-D position encoding.

    Args:
        num_pos_feats: channels per axis (half the output channels).
        temperature: frequency base T.
        normalize: rescale coordinates to [0, scale] over the valid extent.
        scale: range after normalisation (2*pi by default; only with ``normalize``).
    """

    def __init__(self, num_pos_feats: int = 64, temperature: float = 10000.0, normalize: bool = False,
                 scale: Optional[float] = None) -> None:
        super().__init__()
        if scale is not None and not normalize:
            raise ValueError("scale is only used with normalize=True")
        if num_pos_feats % 2:
            raise ValueError(f"num_pos_feats must be even, got {num_pos_feats}")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = 2 * math.pi if scale is None else scale
        # Encodings of unmasked maps depend only on (H, W); keep a few so tracking does
        # not recompute them every frame. Plain attribute, so nothing enters the state dict.
        self._cache: Dict[Tuple[int, int, str, torch.dtype, bool], torch.Tensor] = {}

    def _encode(self, not_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        # not_mask: (B, H, W) bool. Computed in float32 like the reference implementation.
        y_embed = not_mask.cumsum(1, dtype=torch.float32)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=not_mask.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_pos_feats)
        pos_x = x_embed[..., None] / dim_t
        pos_y = y_embed[..., None] / dim_t
        # Interleave sin (even channels) and cos (odd channels) per axis.
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2).to(dtype)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encoding for feature map ``x`` (B,C,H,W) -> (B, 2*num_pos_feats, H, W).

        ``mask`` (B,H,W) bool, True on padded cells, or None for no padding. Without a
        mask the result is an expanded view of one (1, 2F, H, W) tensor (do not write to it).
        """
        b, _, h, w = x.shape
        if mask is not None:
            return self._encode(~mask.to(torch.bool), x.dtype)
        # Inference-mode tensors must not leak into autograd graphs, hence the mode in the key.
        key = (h, w, str(x.device), x.dtype, torch.is_inference_mode_enabled())
        pos = self._cache.get(key)
        if pos is None:
            pos = self._encode(torch.ones(1, h, w, dtype=torch.bool, device=x.device), x.dtype)
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = pos
        return pos.expand(b, -1, -1, -1)


def build_position_encoding(hidden_dim: int, kind: str = "sine") -> PositionEmbeddingSine:
    """Position encoding for a transformer of width ``hidden_dim`` (TransT: normalised sine)."""
    if kind not in ("sine", "v2"):
        raise ValueError(f"unsupported position encoding {kind!r}; only 'sine' is implemented")
    return PositionEmbeddingSine(hidden_dim // 2, normalize=True)
