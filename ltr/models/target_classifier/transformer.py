"""The TrDiMP transformer (Wang et al., "Transformer Meets Tracker", CVPR 2021).

Feature maps are treated as sequences of ``H*W`` tokens per image. The encoder lets all
train (memory) images attend to each other; the decoder refines each query image (train
or test) independently in two ways, using the train images as memory:

* feature transformation: ``x + Attn(x, memory, memory * label)`` (the target's features
  are propagated from the memory), and
* mask transformation: ``x * Attn(x, memory, label)`` (the train labels are propagated to
  a soft target mask),

and adds the two. Every residual step is followed by the per-image instance L2
normalisation of the DiMP features. There is no feed-forward network and no positional
encoding. One attention module serves as self-attention in both the encoder and the
decoder; the decoder's cross-attention is a second module.

Layouts: image stacks are (images, sequences, C, H, W); token sequences are
(images * H * W, sequences, C) with tokens ordered image-major, then row-major.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .features import InstanceL2Norm
from .multihead_attention import MultiheadAttention

__all__ = ["Transformer", "TransformerEncoder", "TransformerEncoderLayer", "TransformerDecoder",
           "TransformerDecoderLayer"]


def _norm_tokens(norm: nn.Module, tokens: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Instance-normalise tokens (N*H*W, B, C) per (image, sequence); ``shape`` = (N, B, C, H, W)."""
    n, b, c, h, w = shape
    maps = tokens.reshape(n, h, w, b, c).permute(0, 3, 4, 1, 2).reshape(n * b, c, h, w)
    maps = norm(maps)
    return maps.reshape(n, b, c, h * w).permute(0, 3, 1, 2).reshape(n * h * w, b, c)


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(N, B, C, H, W) -> (N*H*W, B, C)."""
    n, b, c, h, w = x.shape
    return x.reshape(n, b, c, h * w).permute(0, 3, 1, 2).reshape(n * h * w, b, c)


def _to_maps(tokens: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """(N*H*W, B, C) -> (N*B, C, H, W) for ``shape`` = (N, B, C, H, W)."""
    n, b, c, h, w = shape
    return tokens.reshape(n, h, w, b, c).permute(0, 3, 4, 1, 2).reshape(n * b, c, h, w)


class TransformerEncoderLayer(nn.Module):
    """Self-attention over all memory tokens, residual, instance L2 norm."""

    def __init__(self, multihead_attn: MultiheadAttention, d_model: int, norm_scale: float) -> None:
        super().__init__()
        self.self_attn = multihead_attn
        self.norm = InstanceL2Norm(scale=norm_scale)

    def forward(self, src: torch.Tensor, input_shape: Sequence[int]) -> torch.Tensor:
        """src (N*H*W, B, C) -> same; ``input_shape`` = (N, B, C, H, W)."""
        src = src + self.self_attn(query=src, key=src, value=src)
        return _norm_tokens(self.norm, src, input_shape)


class TransformerEncoder(nn.Module):
    """Stack of encoder layers (the same layer object repeated, as in the reference model).

    Args:
        multihead_attn: the (shared) self-attention module.
        d_model: feature size.
        num_layers: number of repetitions.
        norm_scale: scale of the instance L2 normalisation.
    """

    def __init__(self, multihead_attn: MultiheadAttention, d_model: int = 512, num_layers: int = 1,
                 norm_scale: float = 1.0) -> None:
        super().__init__()
        layer = TransformerEncoderLayer(multihead_attn, d_model, norm_scale)
        self.layers = nn.ModuleList([layer for _ in range(num_layers)])

    def forward(self, src: torch.Tensor, pos: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode memory images.

        Args:
            src: (N, B, C, H, W) classification features of the memory (train) images.
            pos: unused (the encoder has no positional encoding); kept for call compatibility.

        Returns:
            (memory tokens (N*H*W, B, C), encoded maps (N*B, C, H, W)).
        """
        if src.dim() != 5:
            raise ValueError(f"encoder input must be (images, sequences, C, H, W), got {tuple(src.shape)}")
        shape = tuple(src.shape)
        out = _to_tokens(src)
        for layer in self.layers:
            out = layer(out, input_shape=shape)
        return out, _to_maps(out, shape)


class TransformerDecoderLayer(nn.Module):
    """Per-image self-attention, then feature and mask transformation from the memory."""

    def __init__(self, multihead_attn: MultiheadAttention, d_model: int, norm_scale: float,
                 key_feature_dim: int = 128) -> None:
        super().__init__()
        self.self_attn = multihead_attn
        self.cross_attn = MultiheadAttention(feature_dim=d_model, n_head=1, key_feature_dim=key_feature_dim)
        self.norm = InstanceL2Norm(scale=norm_scale)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, input_shape: Sequence[int],
                pos: torch.Tensor) -> torch.Tensor:
        """Decode query tokens.

        Args:
            tgt: (N*H*W, B, C) query tokens of N images, each decoded independently.
            memory: (M, B, C) encoded memory tokens.
            input_shape: (N, B, C, H, W) of the query images.
            pos: (M, B, 1) label value of every memory token.

        Returns:
            (N*H*W, B, C).
        """
        n, b, c, h, w = input_shape
        hw = h * w
        # Self-attention within each image: fold the image index into the batch.
        per_image = tgt.reshape(n, hw, b, c).permute(1, 0, 2, 3).reshape(hw, n * b, c)
        attn = self.self_attn(query=per_image, key=per_image, value=per_image)
        attn = attn.reshape(hw, n, b, c).permute(1, 0, 2, 3).reshape(n * hw, b, c)
        tgt = _norm_tokens(self.norm, tgt + attn, input_shape)

        # Both cross-attentions use the same queries and keys, hence the same affinities:
        # one pass with the two value sets stacked along the feature axis. Queries attend
        # independently, so all images can share one pass over the memory.
        head = self.cross_attn.head[0]
        values = torch.cat((pos, memory * pos), dim=-1)
        cross = head(query=tgt, key=memory, value=values)
        mask, transformed = cross[..., :1], cross[..., 1:]

        masked = _norm_tokens(self.norm, tgt * mask, input_shape)
        feat = _norm_tokens(self.norm, tgt + transformed, input_shape)
        return _norm_tokens(self.norm, masked + feat, input_shape)


class TransformerDecoder(nn.Module):
    """Stack of decoder layers (the same layer object repeated, as in the reference model).

    Args:
        multihead_attn: the self-attention module shared with the encoder.
        d_model: feature size.
        num_layers: number of repetitions.
        norm_scale: scale of the instance L2 normalisation.
        key_feature_dim: key embedding size of the cross-attention.
    """

    def __init__(self, multihead_attn: MultiheadAttention, d_model: int = 512, num_layers: int = 1,
                 norm_scale: float = 1.0, key_feature_dim: int = 128) -> None:
        super().__init__()
        layer = TransformerDecoderLayer(multihead_attn, d_model, norm_scale, key_feature_dim)
        self.layers = nn.ModuleList([layer for _ in range(num_layers)])

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor,
                query_pos: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Decode query images against the memory.

        Args:
            tgt: (N, B, C, H, W) query features; each image is decoded on its own.
            memory: (M*H*W, B, C) memory tokens from :class:`TransformerEncoder`.
            pos: (M, B, H, W) label maps of the memory images (Gaussian at the target).
            query_pos: unused; kept for call compatibility.

        Returns:
            (decoded tokens (N*H*W, B, C), decoded maps (N*B, C, H, W)).
        """
        if tgt.dim() != 5:
            raise ValueError(f"decoder input must be (images, sequences, C, H, W), got {tuple(tgt.shape)}")
        shape = tuple(tgt.shape)
        num_pos, batch = pos.shape[:2]
        pos_tokens = pos.reshape(num_pos, batch, 1, -1).permute(0, 3, 1, 2).reshape(-1, batch, 1)
        if pos_tokens.shape[0] != memory.shape[0]:
            raise ValueError(f"label maps give {pos_tokens.shape[0]} tokens but the memory has {memory.shape[0]}; "
                             "the labels must have the size of the classification feature map")
        out = _to_tokens(tgt)
        for layer in self.layers:
            out = layer(out, memory, input_shape=shape, pos=pos_tokens.to(out.dtype))
        return out, _to_maps(out, shape)


class Transformer(nn.Module):
    """Encoder-decoder of TrDiMP.

    Args:
        d_model: feature size (classification feature channels).
        nhead: must be 1 (the reference model always uses a single head).
        num_layers: encoder and decoder layers.
        key_feature_dim: key embedding size of the attention heads.
        filter_size: filter size, which sets the normalisation scale ``sqrt(1/(d_model*f*f))``.
    """

    def __init__(self, d_model: int = 512, nhead: int = 1, num_layers: int = 1, key_feature_dim: int = 128,
                 filter_size: int = 4) -> None:
        super().__init__()
        if nhead != 1:
            raise ValueError("the TrDiMP transformer supports a single attention head")
        norm_scale = math.sqrt(1.0 / (d_model * filter_size * filter_size))
        # One module, registered under both encoder and decoder: the checkpoints hold both
        # key sets, and they must stay the same tensors.
        shared_attn = MultiheadAttention(feature_dim=d_model, n_head=1, key_feature_dim=key_feature_dim)
        self.encoder = TransformerEncoder(shared_attn, d_model, num_layers, norm_scale)
        self.decoder = TransformerDecoder(shared_attn, d_model, num_layers, norm_scale, key_feature_dim)

    def forward(self, train_feat: torch.Tensor, test_feat: torch.Tensor,
                train_label: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode the train images, then decode train and test images against them.

        Args:
            train_feat: (Ntr, B, C, H, W).
            test_feat: (Nte, B, C, H, W).
            train_label: (Ntr, B, H, W) Gaussian labels of the train targets.

        Returns:
            (encoded train maps (Ntr*B, C, H, W), decoded test maps (Nte*B, C, H, W)).
        """
        memory, _ = self.encoder(train_feat)
        # Images are decoded independently, so train and test images share one decoder pass.
        _, decoded = self.decoder(torch.cat((train_feat, test_feat), dim=0), memory=memory, pos=train_label)
        num_train = train_feat.shape[0] * train_feat.shape[1]
        return decoded[:num_train], decoded[num_train:]
