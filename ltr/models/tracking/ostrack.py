"""OSTrack: one-stream ViT tracker with candidate elimination (Ye et al., ECCV 2022).

The template crop and the search crop are cut into patches by one shared patch embedding; the
joint token sequence ``[template ; search]`` runs through a ViT whose blocks 3, 6 and 9 drop
the search tokens the template's centre token attends to least (keep ratio 0.7). The search
tokens after the final norm (zeros where eliminated) form a (C, S, S) map read by the centre
head (:mod:`ltr.models.head.center_head`): score, size and offset maps.

Sizes (:class:`OSTrackConfig`):

=============  =========================  =========================  ===========================
               ``paper`` (vitb_256_ce)    ``paper384`` (vitb_384_ce)  ``tiny`` (CPU experiments)
=============  =========================  =========================  ===========================
ViT            B/16: 768 wide, 12 blocks, same                        patch 8, 64 wide, 4 blocks,
               12 heads, MLP 4x                                       4 heads, MLP 2x
CE             blocks 3, 6, 9, keep 0.7   same                        blocks 1, 2, keep 0.7
template       128 px (8x8 tokens)        192 px (12x12)              64 px (8x8)
search         256 px (16x16 = 256 cells) 384 px (24x24 = 576)        128 px (16x16 = 256)
search factor  4                          5                           4
head width     256                        256                         64
parameters     92,518,533                 92,825,733                  about 0.3 M
=============  =========================  =========================  ===========================

The paper sizes are state-dict equal to the official checkpoints (``backbone.*`` 152 keys,
``box_head.*`` 90 keys), including the unused ``cls_token`` and 224-grid ``pos_embed``.

Images enter as RGB crops normalised with the ImageNet mean/std (``'rgb_imagenet'``).
Mixed precision (:meth:`OSTrack.set_mixed_precision`, off by default): the backbone and the
head convolutions run under bfloat16 autocast; the clamped sigmoids, the boxes and every loss
stay float32.
"""
from __future__ import annotations

import dataclasses
import math
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn

from ltr.models.backbone.vit_ce import VisionTransformerCE
from ltr.models.head.center_head import CenterPredictor, boxes_at

__all__ = ["OSTrackConfig", "OSTrack", "build_ostrack", "crop_sizes", "ce_keep_rate", "MIXED_PRECISION"]

#: Mixed-precision modes: name -> autocast dtype (None: float32 throughout).
MIXED_PRECISION: Dict[str, Optional[torch.dtype]] = {"off": None, "bf16": torch.bfloat16}


@dataclass
class OSTrackConfig:
    """Model dimensions and test-time numbers of one OSTrack size.

    Crops: a target of (w, h) pixels is cropped with side ``ceil(sqrt(w h) * factor)``
    (``template_factor`` 2, ``search_factor`` 4 or 5), resized to ``template_size`` /
    ``search_size``, zero-padded outside the image (OSTrack's ``sample_target``).
    """

    name: str = "paper"
    # --- network
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    pretrain_grid: int = 14
    ce_loc: Tuple[int, ...] = (3, 6, 9)
    ce_keep_ratio: Tuple[float, ...] = (0.7, 0.7, 0.7)
    drop_path_rate: float = 0.1
    head_channels: int = 256
    # --- test time
    template_size: int = 128
    search_size: int = 256
    template_factor: float = 2.0
    search_factor: float = 4.0
    min_box_size: float = 10.0   # clip_box margin
    crop_padding: str = "zero"

    @property
    def feat_size(self) -> int:
        """Side S of the score map (16 for the 256 config)."""
        return self.search_size // self.patch_size

    @property
    def num_candidates(self) -> int:
        return self.feat_size ** 2

    @classmethod
    def paper(cls) -> "OSTrackConfig":
        """vitb_256_mae_ce_32x4_ep300."""
        return cls()

    @classmethod
    def paper384(cls) -> "OSTrackConfig":
        """vitb_384_mae_ce_32x4_ep300: 192/384 crops, search factor 5."""
        return cls(name="paper384", template_size=192, search_size=384, search_factor=5.0)

    @classmethod
    def tiny(cls) -> "OSTrackConfig":
        """CPU size: patch 8, 64 wide, 4 blocks (CE at 1 and 2), 64/128 crops, 16x16 map."""
        return cls(name="tiny", patch_size=8, embed_dim=64, depth=4, num_heads=4, mlp_ratio=2.0, pretrain_grid=8,
                   ce_loc=(1, 2), ce_keep_ratio=(0.7, 0.7), drop_path_rate=0.1, head_channels=64,
                   template_size=64, search_size=128)

    @classmethod
    def from_size(cls, size: str) -> "OSTrackConfig":
        """``'paper'`` (256), ``'paper384'`` or ``'tiny'``."""
        builders = {"paper": cls.paper, "paper384": cls.paper384, "tiny": cls.tiny}
        if size not in builders:
            raise ValueError(f"unknown OSTrack size {size!r}; use 'paper', 'paper384' or 'tiny'")
        return builders[size]()

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


class OSTrack(nn.Module):
    """OSTrack network: ``backbone`` (:class:`VisionTransformerCE`) and ``box_head`` (:class:`CenterPredictor`)."""

    def __init__(self, backbone: VisionTransformerCE, box_head: CenterPredictor,
                 cfg: Optional[OSTrackConfig] = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.box_head = box_head
        self.cfg = cfg if cfg is not None else OSTrackConfig.paper()
        self.amp_dtype: Optional[torch.dtype] = None

    def set_mixed_precision(self, mode: str) -> "OSTrack":
        """``'off'`` (default, float32) or ``'bf16'`` (autocast for backbone and head convolutions)."""
        if mode not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {sorted(MIXED_PRECISION)}, got {mode!r}")
        self.amp_dtype = MIXED_PRECISION[mode]
        return self

    def _autocast(self, device: torch.device):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.amp_dtype)

    def template_features(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised template crops (B,3,Z,Z) -> template tokens (B, Nz, C); what a tracker caches."""
        with self._autocast(z.device):
            return self.backbone.embed_template(z)

    def track(self, template_tokens: torch.Tensor, x: torch.Tensor,
              ce_keep_rate: Optional[float] = None) -> Dict[str, torch.Tensor]:
        """Predict on search crops x (B,3,X,X) given cached template tokens (B or 1, Nz, C).

        ``ce_keep_rate``: None uses every CE block's own ratio (test time, 0.7); a value < 1
        replaces it; >= 1 turns elimination off (the first epochs of the official training).

        Returns float32 ``score_map`` (B,1,S,S), ``size_map`` (B,2,S,S), ``offset_map`` (B,2,S,S),
        ``pred_boxes`` (B,4) cxcywh normalised at the argmax of the raw score map (what the
        frame-level loss supervises), and ``removed`` (number of eliminated search tokens).
        """
        with self._autocast(x.device):
            search, removed = self.backbone.forward_tokens(template_tokens, x, ce_keep_rate)
            s = self.backbone.search_grid
            feat = search.transpose(1, 2).reshape(search.shape[0], -1, s, s)
            out = self.box_head(feat)
        index = out["score_map"].flatten(1).argmax(dim=1)
        out["pred_boxes"] = boxes_at(index, out["size_map"], out["offset_map"])
        out["removed"] = torch.tensor(sum(r.shape[1] for r in removed))
        return out

    def forward(self, template: torch.Tensor, search: torch.Tensor,
                ce_keep_rate: Optional[float] = None) -> Dict[str, torch.Tensor]:
        """Training forward on pairs: template (B,3,Z,Z), search (B,3,X,X), both normalised."""
        return self.track(self.template_features(template), search, ce_keep_rate)

    def load_backbone_weights(self, path: str) -> None:
        """Initialise the ViT from a local MAE/ImageNet file (see :meth:`VisionTransformerCE.load_pretrained`)."""
        self.backbone.load_pretrained(path)


def build_ostrack(size: Union[str, OSTrackConfig] = "paper", backbone_weights: Optional[str] = None) -> OSTrack:
    """Build OSTrack: ``'paper'`` (256), ``'paper384'``, ``'tiny'`` or a config; optional local ViT weights."""
    cfg = size if isinstance(size, OSTrackConfig) else OSTrackConfig.from_size(size)
    backbone = VisionTransformerCE(cfg.template_size, cfg.search_size, cfg.patch_size, cfg.embed_dim, cfg.depth,
                                   cfg.num_heads, cfg.mlp_ratio, cfg.pretrain_grid, cfg.ce_loc, cfg.ce_keep_ratio,
                                   cfg.drop_path_rate)
    net = OSTrack(backbone, CenterPredictor(cfg.embed_dim, cfg.head_channels, cfg.feat_size), cfg)
    if backbone_weights:
        net.load_backbone_weights(backbone_weights)
    return net


def crop_sizes(size_wh: torch.Tensor, cfg: OSTrackConfig) -> Tuple[torch.Tensor, torch.Tensor]:
    """Template and search crop sides (image pixels) for targets of size (..., 2) = (w, h):
    ``ceil(sqrt(w h) * factor)`` with the template and search factors, float64 whole numbers."""
    s = torch.as_tensor(size_wh).to(torch.float64)
    root = torch.sqrt((s[..., 0] * s[..., 1]).clamp_min(0.0))
    return torch.ceil(root * cfg.template_factor), torch.ceil(root * cfg.search_factor)


def ce_keep_rate(epoch: int, start_epoch: int, warm_epochs: int, keep_ratio: float) -> float:
    """OSTrack's candidate-elimination schedule (``ce_utils.adjust_keep_rate``) at 1-based ``epoch``:
    1 (no elimination) before ``start_epoch``; a cosine from 1 down to ``keep_ratio`` over the
    next ``warm_epochs``; ``keep_ratio`` afterwards. Only frame-level training follows it; the
    tracker and SLT always use the fixed test-time ratio."""
    if epoch < start_epoch:
        return 1.0
    if epoch >= start_epoch + warm_epochs or warm_epochs <= 0:
        return float(keep_ratio)
    progress = (epoch - start_epoch) / warm_epochs
    return float(keep_ratio + (1.0 - keep_ratio) * (math.cos(progress * math.pi) + 1.0) * 0.5)
