"""The attention block of the TrDiMP transformer.

Each head embeds queries and keys with one shared linear map (``WK``), L2-normalises the
embeddings and takes a softmax over ``temperature * cosine similarity``; the values are
used as given. ``WV`` is part of the released checkpoints but takes no part in the
computation (it is kept so that those checkpoints load strictly). Head outputs are
concatenated along the feature axis.

Sequences are laid out as ``(length, batch, dim)``.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["RelationUnit", "MultiheadAttention"]


class RelationUnit(nn.Module):
    """One attention head.

    Args:
        feature_dim: input feature size.
        key_feature_dim: size of the key/query embedding.
        temperature: multiplier of the cosine similarities before the softmax.
    """

    def __init__(self, feature_dim: int = 512, key_feature_dim: int = 64, temperature: float = 30.0) -> None:
        super().__init__()
        self.temp = temperature
        self.WK = nn.Linear(feature_dim, key_feature_dim)
        self.WV = nn.Linear(feature_dim, feature_dim)
        for lin in (self.WK, self.WV):
            nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0 / lin.out_features))
            nn.init.zeros_(lin.bias)
        # WV never enters the computation; freezing it keeps it out of optimisers and lets
        # DistributedDataParallel run without searching for unused parameters.
        self.WV.requires_grad_(False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(L, B, feature_dim) -> L2-normalised (B, L, key_feature_dim)."""
        return F.normalize(self.WK(x), p=2, dim=-1).transpose(0, 1)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_embedding: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend from ``query`` (Lq, B, D) over ``key`` (Lk, B, D) to ``value`` (Lk, B, Dv).

        ``key_embedding`` (B, Lk, key_dim) may be passed to reuse :meth:`embed` of ``key``.
        Returns (Lq, B, Dv).
        """
        k = self.embed(key) if key_embedding is None else key_embedding
        q = self.embed(query)
        affinity = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * self.temp, dim=-1)  # (B, Lq, Lk)
        return torch.bmm(affinity, value.transpose(0, 1)).transpose(0, 1)


class MultiheadAttention(nn.Module):
    """Concatenation of ``n_head`` :class:`RelationUnit` heads (TrDiMP uses one head).

    Args:
        feature_dim: input feature size.
        n_head: number of heads; the output has ``n_head * value_dim`` features.
        key_feature_dim: key/query embedding size of each head.
    """

    def __init__(self, feature_dim: int = 512, n_head: int = 8, key_feature_dim: int = 64) -> None:
        super().__init__()
        self.Nh = n_head
        self.head = nn.ModuleList([RelationUnit(feature_dim, key_feature_dim) for _ in range(n_head)])

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """query (Lq, B, D), key (Lk, B, D), value (Lk, B, Dv) -> (Lq, B, n_head * Dv)."""
        outs = [h(query, key, value) for h in self.head]
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
