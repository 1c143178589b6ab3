"""Vision Transformer over joint template/search tokens with candidate elimination (OSTrack).

Plain PyTorch (no timm). The parameter names are those of OSTrack's ``VisionTransformerCE``, so
an official state dict loads strictly:

* ``cls_token`` (1,1,C) and ``pos_embed`` (1, 1 + G*G, C): the ImageNet/MAE pretraining grid
  (G = 14 for 224-pixel pretraining). Neither is used by the forward pass; they are kept because
  the official checkpoints hold them and strict loading needs them, and because
  :meth:`VisionTransformerCE.load_pretrained` derives ``pos_embed_z``/``pos_embed_x`` from
  ``pos_embed``.
* ``pos_embed_z`` (1, Nz, C), ``pos_embed_x`` (1, Nx, C): the position embeddings of the
  template and search token grids actually used.
* ``patch_embed.proj``: one Conv(P x P, stride P) shared by template and search.
* ``blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``.

Token layout: ``[template tokens (Nz) ; search tokens (Nx)]``, no cls token, no segment
embeddings. Candidate elimination (CE) at the blocks ``ce_loc``: after the block's attention,
the search tokens are ranked by the attention the template's centre token pays them (averaged
over heads) and only the top ``ceil(keep * N)`` continue; template tokens are never dropped.
The selection is deterministic (a sort), not differentiable, gradients flow through the kept
tokens. After the final norm the eliminated search tokens are put back as zero vectors in
their original order, so the head sees a full (B, C, S, S) map with zeros at eliminated cells.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["DropPath", "Attention", "Mlp", "CEBlock", "PatchEmbed", "VisionTransformerCE",
           "candidate_elimination", "ctr_point_token", "resize_pos_embed"]


class DropPath(nn.Module):
    """Stochastic depth: drop the residual branch per sample with probability ``p`` in training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Attention(nn.Module):
    """Multi-head self-attention (``qkv``, ``proj``), optionally returning attention rows.

    ``forward(x, rows)`` returns ``(out (B,L,C), attn_rows (B, heads, len(rows), L) or None)``:
    the softmax attention of the query tokens ``rows`` (what candidate elimination reads). The
    output itself goes through ``scaled_dot_product_attention``; the few rows are recomputed
    explicitly, which gives the same softmax as the full map.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embedding width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rows: Optional[Sequence[int]] = None
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                                  # (B, heads, L, d)
        out = F.scaled_dot_product_attention(q, k, v)
        attn_rows = None
        if rows is not None:
            q_rows = q[:, :, list(rows)]                                  # (B, heads, r, d)
            attn_rows = (q_rows @ k.transpose(-2, -1) * self.scale).float().softmax(dim=-1)
        return self.proj(out.transpose(1, 2).reshape(b, n, c)), attn_rows


class Mlp(nn.Module):
    """``fc1`` -> GELU -> ``fc2``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def candidate_elimination(attn_rows: torch.Tensor, tokens: torch.Tensor, lens_t: int, keep_ratio: float,
                          global_index: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """Keep the search tokens the template's selected tokens attend to most.

    Args:
        attn_rows: (B, heads, r, L) attention of the r selected template tokens to all L tokens.
        tokens: (B, L, C) = [template (lens_t) ; search (L - lens_t)].
        lens_t: number of template tokens.
        keep_ratio: fraction of the search tokens to keep (``ceil(keep_ratio * Ns)``).
        global_index: (B, Ns) original positions of the current search tokens.

    Returns:
        ``(tokens (B, lens_t + keep, C), kept global index (B, keep), removed global index
        (B, Ns - keep) or None when nothing is removed)``.
    """
    lens_s = tokens.shape[1] - lens_t
    lens_keep = math.ceil(keep_ratio * lens_s)
    if lens_keep >= lens_s:
        return tokens, global_index, None
    score = attn_rows[..., lens_t:].mean(dim=2).mean(dim=1)                # (B, Ns)
    order = torch.sort(score, dim=1, descending=True).indices
    keep_idx, drop_idx = order[:, :lens_keep], order[:, lens_keep:]
    channels = tokens.shape[-1]
    search = tokens[:, lens_t:].gather(1, keep_idx.unsqueeze(-1).expand(-1, -1, channels))
    return (torch.cat([tokens[:, :lens_t], search], dim=1), global_index.gather(1, keep_idx),
            global_index.gather(1, drop_idx))


class CEBlock(nn.Module):
    """Pre-norm transformer block; with ``keep_ratio < 1`` it eliminates search tokens after attention."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 drop_path: float = 0.0, keep_ratio: float = 1.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.keep_ratio = float(keep_ratio)

    def forward(self, x: torch.Tensor, lens_t: int, global_index_s: torch.Tensor,
                template_rows: Sequence[int], keep_ratio: Optional[float] = None
                ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """``keep_ratio``: None uses the block's own ratio; a value >= 1 skips elimination (as
        OSTrack's ``ce_keep_rate``); elimination only happens in blocks built with a ratio < 1."""
        eliminate = self.keep_ratio < 1.0 and (keep_ratio is None or keep_ratio < 1.0)
        out, attn_rows = self.attn(self.norm1(x), template_rows if eliminate else None)
        x = x + self.drop_path(out)
        removed = None
        if eliminate:
            ratio = self.keep_ratio if keep_ratio is None else float(keep_ratio)
            x, global_index_s, removed = candidate_elimination(attn_rows, x, lens_t, ratio, global_index_s)
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, global_index_s, removed


class PatchEmbed(nn.Module):
    """(B,3,H,W) -> (B, (H/P)(W/P), C) through ``proj`` = Conv(P x P, stride P)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.patch_size or x.shape[-2] % self.patch_size:
            raise ValueError(f"input {tuple(x.shape[-2:])} is not a multiple of the patch size {self.patch_size}")
        return self.proj(x).flatten(2).transpose(1, 2)


def ctr_point_token(grid: int) -> int:
    """Index of the template token OSTrack's CE reads (``CE_TEMPLATE_RANGE 'CTR_POINT'``):
    row = col = (grid - 1) // 2, i.e. token 27 on the 8x8 grid of a 128 template, 65 on 12x12."""
    centre = (grid - 1) // 2
    return centre * grid + centre


def resize_pos_embed(grid_embed: torch.Tensor, size: int) -> torch.Tensor:
    """(1, G*G, C) position embedding on a G x G grid -> (1, size*size, C), bicubic, as OSTrack's
    ``finetune_track`` turns the 14x14 pretraining grid into the template and search grids."""
    g = int(round(math.sqrt(grid_embed.shape[1])))
    if g * g != grid_embed.shape[1]:
        raise ValueError(f"position embedding of {grid_embed.shape[1]} tokens is not a square grid")
    grid = grid_embed.reshape(1, g, g, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=(size, size), mode="bicubic", align_corners=False)
    return grid.flatten(2).transpose(1, 2).to(grid_embed.dtype)


class VisionTransformerCE(nn.Module):
    """ViT with joint template/search tokens and candidate elimination (see the module docstring).

    Args:
        template_size, search_size: input sides in pixels (128/256 or 192/384 for ViT-B/16).
        patch_size, embed_dim, depth, num_heads, mlp_ratio: ViT dimensions (16, 768, 12, 12, 4).
        pretrain_grid: side G of the pretraining token grid held by ``pos_embed`` (14).
        ce_loc: 0-based indices of the CE blocks ((3, 6, 9)); ce_keep_ratio: their keep ratios.
        drop_path_rate: stochastic depth, rising linearly from 0 to this value over the blocks.
    """

    def __init__(self, template_size: int = 128, search_size: int = 256, patch_size: int = 16,
                 embed_dim: int = 768, depth: int = 12, num_heads: int = 12, mlp_ratio: float = 4.0,
                 pretrain_grid: int = 14, ce_loc: Sequence[int] = (3, 6, 9),
                 ce_keep_ratio: Sequence[float] = (0.7, 0.7, 0.7), drop_path_rate: float = 0.1) -> None:
        super().__init__()
        if len(ce_loc) != len(ce_keep_ratio):
            raise ValueError(f"ce_loc {tuple(ce_loc)} and ce_keep_ratio {tuple(ce_keep_ratio)} differ in length")
        if any(not 0 <= i < depth for i in ce_loc):
            raise ValueError(f"ce_loc {tuple(ce_loc)} names blocks outside 0..{depth - 1}")
        self.embed_dim = embed_dim
        self.template_grid = template_size // patch_size
        self.search_grid = search_size // patch_size
        # Own parameters first: the official state-dict order.
        # Unused by forward (kept for strict loading and as the source of the grid embeddings), so
        # frozen: no optimiser state, and DDP needs no find_unused_parameters.
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim), requires_grad=False)
        self.pos_embed = nn.Parameter(torch.zeros(1, pretrain_grid * pretrain_grid + 1, embed_dim),
                                      requires_grad=False)
        self.pos_embed_z = nn.Parameter(torch.zeros(1, self.template_grid ** 2, embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, self.search_grid ** 2, embed_dim))
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        rates = [drop_path_rate * i / (depth - 1) for i in range(depth)] if depth > 1 else [0.0]
        keep = dict(zip(ce_loc, ce_keep_ratio))
        self.blocks = nn.ModuleList(
            CEBlock(embed_dim, num_heads, mlp_ratio, True, rates[i], keep.get(i, 1.0)) for i in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.template_rows: Tuple[int, ...] = (ctr_point_token(self.template_grid),)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.cls_token, self.pos_embed, self.pos_embed_z, self.pos_embed_x):
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embed_template(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised template crops (B,3,Z,Z) -> template tokens (B, Nz, C) with position embedding."""
        return self.patch_embed(z) + self.pos_embed_z

    def forward_tokens(self, z_tokens: torch.Tensor, x: torch.Tensor, ce_keep_rate: Optional[float] = None
                       ) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Run the blocks on cached template tokens (B or 1, Nz, C) and search crops (B,3,X,X).

        Returns ``(search tokens (B, Nx, C) after the final norm, zero at eliminated positions,
        [removed global indices per CE block that removed any])``.
        """
        x_tokens = self.patch_embed(x) + self.pos_embed_x
        b, nx = x_tokens.shape[0], x_tokens.shape[1]
        if z_tokens.shape[0] != b:
            if z_tokens.shape[0] != 1:
                raise ValueError(f"template batch {z_tokens.shape[0]} does not match search batch {b}")
            z_tokens = z_tokens.expand(b, -1, -1)
        lens_t = z_tokens.shape[1]
        tokens = torch.cat([z_tokens.to(x_tokens.dtype), x_tokens], dim=1)
        global_index = torch.arange(nx, device=x.device).unsqueeze(0).expand(b, -1)
        removed: List[torch.Tensor] = []
        for block in self.blocks:
            tokens, global_index, gone = block(tokens, lens_t, global_index, self.template_rows, ce_keep_rate)
            if gone is not None:
                removed.append(gone)
        tokens = self.norm(tokens)
        search = tokens[:, lens_t:]
        if removed:
            channels = search.shape[-1]
            order = torch.cat([global_index] + removed, dim=1)
            padded = torch.cat([search, search.new_zeros(b, nx - search.shape[1], channels)], dim=1)
            search = torch.zeros_like(padded).scatter(1, order.unsqueeze(-1).expand(-1, -1, channels), padded)
        return search, removed

    def load_pretrained(self, path: str | Path) -> Tuple[List[str], List[str]]:
        """Initialise from a local MAE/ImageNet ViT file (never downloaded), as OSTrack does.

        Reads ``model`` (MAE) or ``state_dict`` or a bare state dict with ``weights_only``; drops
        decoder/head entries; loads the encoder non-strictly, then sets ``pos_embed_z`` and
        ``pos_embed_x`` from ``pos_embed`` (cls entry dropped, grid resized bicubically).

        Returns ``(missing keys, unexpected keys)`` of the non-strict load.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ViT weights '{path}' do not exist; give a local MAE/ImageNet ViT file.")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        state = blob.get("model", blob.get("state_dict", blob)) if isinstance(blob, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f"'{path}' holds no state dict ('model', 'state_dict' or a bare dict)")
        own = self.state_dict()
        wanted = {k: v for k, v in state.items() if k in own and k not in ("pos_embed_z", "pos_embed_x")}
        bad = [k for k, v in wanted.items() if tuple(v.shape) != tuple(own[k].shape)]
        if bad:
            raise ValueError(f"'{path}' does not fit this ViT: shapes differ for {bad[:5]}")
        result = self.load_state_dict(wanted, strict=False)
        with torch.no_grad():
            grid = self.pos_embed[:, 1:]
            self.pos_embed_z.copy_(resize_pos_embed(grid, self.template_grid))
            self.pos_embed_x.copy_(resize_pos_embed(grid, self.search_grid))
        missing = [k for k in result.missing_keys if k not in ("pos_embed_z", "pos_embed_x")]
        return missing, [k for k in state if k not in own]
