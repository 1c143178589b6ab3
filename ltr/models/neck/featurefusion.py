"""TransT feature fusion network (attention-based template/search fusion).

Structure (module names follow the official checkpoint layout):

* ``encoder.layers[i]`` (:class:`FeatureFusionLayer`), repeated ``num_featurefusion_layers``
  times. Branch 1 is the template, branch 2 the search region. Each layer applies

  - ego-context augment: self-attention within each branch
    (``self_attn1``/``self_attn2``, post-norm ``norm11``/``norm21``),
  - cross-feature augment: each branch attends to the other
    (``multihead_attn1``: template queries search; ``multihead_attn2``: search queries
    template; post-norm ``norm12``/``norm22``), followed by a ReLU FFN per branch
    (``linear11``/``linear12``, ``linear21``/``linear22``; post-norm ``norm13``/``norm23``).

  Both branches are updated from the *same* inputs of the cross step, i.e. the two
  cross attentions run in parallel, not one after the other.
* ``decoder.layers[0]`` (:class:`DecoderCFALayer`): one more cross attention in which the
  search tokens query the template tokens, an FFN, then ``decoder.norm``.

Positional encodings are added to queries and keys, never to values. Sequences are
kept batch-first, (B, L, d); the parameters are identical to the sequence-first layout.
"""
from __future__ import annotations

import copy
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["FeatureFusionNetwork", "FeatureFusionLayer", "DecoderCFALayer", "build_featurefusion_network"]


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name == "relu":
        return F.relu
    if name == "gelu":
        return F.gelu
    raise ValueError(f"activation must be 'relu' or 'gelu', got {name!r}")


def _with_pos(x: torch.Tensor, pos: Optional[torch.Tensor]) -> torch.Tensor:
    return x if pos is None else x + pos


def _attend(attn: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
            key_padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
    # need_weights=False lets PyTorch use its fused scaled-dot-product kernel.
    return attn(query, key, value, key_padding_mask=key_padding_mask, need_weights=False)[0]


class FeatureFusionLayer(nn.Module):
    """One encoder layer: self-attention per branch, then two-way cross attention + FFNs."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu") -> None:
        super().__init__()
        # Attribute order = state-dict order of the official checkpoints.
        self.self_attn1 = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.self_attn2 = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.multihead_attn1 = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.multihead_attn2 = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear11 = nn.Linear(d_model, dim_feedforward)
        self.dropout1 = nn.Dropout(dropout)
        self.linear12 = nn.Linear(dim_feedforward, d_model)
        self.linear21 = nn.Linear(d_model, dim_feedforward)
        self.dropout2 = nn.Dropout(dropout)
        self.linear22 = nn.Linear(dim_feedforward, d_model)
        self.norm11 = nn.LayerNorm(d_model)
        self.norm12 = nn.LayerNorm(d_model)
        self.norm13 = nn.LayerNorm(d_model)
        self.norm21 = nn.LayerNorm(d_model)
        self.norm22 = nn.LayerNorm(d_model)
        self.norm23 = nn.LayerNorm(d_model)
        self.dropout11 = nn.Dropout(dropout)
        self.dropout12 = nn.Dropout(dropout)
        self.dropout13 = nn.Dropout(dropout)
        self.dropout21 = nn.Dropout(dropout)
        self.dropout22 = nn.Dropout(dropout)
        self.dropout23 = nn.Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src1: torch.Tensor, src2: torch.Tensor,
                pos1: Optional[torch.Tensor] = None, pos2: Optional[torch.Tensor] = None,
                mask1: Optional[torch.Tensor] = None, mask2: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """src1 (B,L1,d) template tokens, src2 (B,L2,d) search tokens; pos* same shapes;
        mask* (B,L) True on padded tokens. Returns the updated (src1, src2)."""
        # Ego-context augment.
        q1 = _with_pos(src1, pos1)
        src1 = self.norm11(src1 + self.dropout11(_attend(self.self_attn1, q1, q1, src1, mask1)))
        q2 = _with_pos(src2, pos2)
        src2 = self.norm21(src2 + self.dropout21(_attend(self.self_attn2, q2, q2, src2, mask2)))

        # Cross-feature augment: both directions read the same (self-attended) inputs.
        q1 = _with_pos(src1, pos1)
        q2 = _with_pos(src2, pos2)
        cross1 = _attend(self.multihead_attn1, q1, q2, src2, mask2)
        cross2 = _attend(self.multihead_attn2, q2, q1, src1, mask1)

        src1 = self.norm12(src1 + self.dropout12(cross1))
        src1 = self.norm13(src1 + self.dropout13(self.linear12(self.dropout1(self.activation(self.linear11(src1))))))
        src2 = self.norm22(src2 + self.dropout22(cross2))
        src2 = self.norm23(src2 + self.dropout23(self.linear22(self.dropout2(self.activation(self.linear21(src2))))))
        return src1, src2


class DecoderCFALayer(nn.Module):
    """Final cross-feature augment: search tokens (queries) attend to template tokens."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu") -> None:
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor,
                pos_tgt: Optional[torch.Tensor] = None, pos_memory: Optional[torch.Tensor] = None,
                memory_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tgt (B,Lt,d) search tokens, memory (B,Lm,d) template tokens -> (B,Lt,d)."""
        att = _attend(self.multihead_attn, _with_pos(tgt, pos_tgt), _with_pos(memory, pos_memory), memory,
                      memory_mask)
        tgt = self.norm1(tgt + self.dropout1(att))
        tgt = self.norm2(tgt + self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(tgt))))))
        return tgt


class _Encoder(nn.Module):
    def __init__(self, layer: FeatureFusionLayer, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))

    def forward(self, src1: torch.Tensor, src2: torch.Tensor, pos1: Optional[torch.Tensor],
                pos2: Optional[torch.Tensor], mask1: Optional[torch.Tensor], mask2: Optional[torch.Tensor]
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        for layer in self.layers:
            src1, src2 = layer(src1, src2, pos1, pos2, mask1, mask2)
        return src1, src2


class _Decoder(nn.Module):
    def __init__(self, layer: DecoderCFALayer, norm: nn.LayerNorm) -> None:
        super().__init__()
        self.layers = nn.ModuleList([layer])
        self.norm = norm

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, pos_tgt: Optional[torch.Tensor],
                pos_memory: Optional[torch.Tensor], memory_mask: Optional[torch.Tensor]) -> torch.Tensor:
        for layer in self.layers:
            tgt = layer(tgt, memory, pos_tgt, pos_memory, memory_mask)
        return self.norm(tgt)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    # (B, C, H, W) -> (B, H*W, C), row-major over (H, W): token n = row * W + col.
    return x.flatten(2).transpose(1, 2)


class FeatureFusionNetwork(nn.Module):
    """Template/search fusion network of TransT.

    Args:
        d_model: token width (256 in the paper).
        nhead: attention heads (8).
        num_featurefusion_layers: encoder layers (4).
        dim_feedforward: FFN hidden size (2048).
        dropout: dropout in attention and FFNs (0.1).
        activation: FFN non-linearity.
    """

    def __init__(self, d_model: int = 256, nhead: int = 8, num_featurefusion_layers: int = 4,
                 dim_feedforward: int = 2048, dropout: float = 0.1, activation: str = "relu") -> None:
        super().__init__()
        if d_model % nhead:
            raise ValueError(f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.encoder = _Encoder(FeatureFusionLayer(d_model, nhead, dim_feedforward, dropout, activation),
                                num_featurefusion_layers)
        self.decoder = _Decoder(DecoderCFALayer(d_model, nhead, dim_feedforward, dropout, activation),
                                nn.LayerNorm(d_model))
        self.d_model = d_model
        self.nhead = nhead
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src_temp: torch.Tensor, src_search: torch.Tensor, pos_temp: torch.Tensor,
                pos_search: torch.Tensor, mask_temp: Optional[torch.Tensor] = None,
                mask_search: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Fuse template and search feature maps.

        Args:
            src_temp: (B, d, Hz, Wz) projected template features.
            src_search: (B, d, Hx, Wx) projected search features.
            pos_temp, pos_search: position encodings of the same shapes.
            mask_temp, mask_search: optional (B, H, W) bool padding masks (True = padded).

        Returns:
            (B, Hx*Wx, d) fused search tokens in row-major order.
        """
        t, s = _flatten(src_temp), _flatten(src_search)
        pt, ps = _flatten(pos_temp), _flatten(pos_search)
        mt = None if mask_temp is None else mask_temp.flatten(1)
        ms = None if mask_search is None else mask_search.flatten(1)
        memory_temp, memory_search = self.encoder(t, s, pt, ps, mt, ms)
        return self.decoder(memory_search, memory_temp, ps, pt, mt)


def build_featurefusion_network(hidden_dim: int = 256, nheads: int = 8, featurefusion_layers: int = 4,
                                dim_feedforward: int = 2048, dropout: float = 0.1) -> FeatureFusionNetwork:
    """Fusion network with TransT's settings by default."""
    return FeatureFusionNetwork(d_model=hidden_dim, nhead=nheads, num_featurefusion_layers=featurefusion_layers,
                                dim_feedforward=dim_feedforward, dropout=dropout)
