"""SiamRPN++ (Li et al., CVPR 2019) in its paper size and in a tiny CPU size.

Paper size: atrous ResNet-50 (layers 2, 3, 4) -> ``AdjustAllLayer`` neck (1x1 conv + BN to
256 channels, template cropped to the central 7x7) -> weighted ``MultiRPN`` of three
depthwise-correlation RPNs with 5 anchors at stride 8. Its ``state_dict()`` has exactly the
keys, shapes, dtypes and order of the official SiamRPN++ / SLT-SiamRPN++ checkpoints, so
``model.load_state_dict(ckpt['state_dict'])`` works strictly.

Tiny size: the same neck, head and anchor logic on a 4-stage ``TinyBackbone`` with
GroupNorm everywhere, 64 px templates and 128 px search regions, giving a 9x9 score map.

Input convention (both sizes): images are BGR, float in [0, 255], without mean/std
normalisation, as cropped by the official tracker (the tiny backbone rescales internally).
Templates are ``exemplar_size`` square crops, search regions ``instance_size`` square crops.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ltr.models.backbone.resnet_atrous import WeightLoadReport, load_resnet_weights, resnet50_atrous
from ltr.models.backbone.tiny import TinyBackbone, norm_factory
from ltr.models.head.rpn import MultiRPN
from ltr.models.neck.adjust import AdjustAllLayer

__all__ = ["SiamRPNConfig", "SiamRPNPP", "build_siamrpnpp"]


@dataclass(frozen=True)
class SiamRPNConfig:
    """Geometry, anchors, test-time post-processing and training-target settings of a Siamese RPN tracker.

    Geometry (pixels): templates are ``exemplar_size`` square crops, search regions
    ``instance_size`` square crops, the score map is ``score_size`` x ``score_size`` with
    ``stride`` pixels between cells, and ``score_size == (instance_size - exemplar_size) //
    stride + 1 + base_size`` as in the official tracker.

    Anchors: one per (ratio, scale), base side ``stride``; see ``ltr.models.siamese.anchors``.

    Test time (official SiamRPN++ numbers in ``paper()``): ``context_amount`` (template crop
    side ``sqrt((w + c(w+h)) (h + c(w+h)))``), ``penalty_k`` (scale/ratio change penalty),
    ``window_influence`` (cosine window weight) and ``lr`` (size smoothing rate, multiplied by
    penalty x score of the chosen candidate).

    Training targets and loss: IoU thresholds ``thr_high`` / ``thr_low``, at most ``pos_num``
    positives and ``total_num - pos_num`` negatives per pair, ``neg_num`` negatives for
    negative pairs, and loss weights ``cls_weight`` / ``loc_weight``.
    """

    exemplar_size: int = 127
    instance_size: int = 255
    stride: int = 8
    score_size: int = 25
    base_size: int = 8
    anchor_ratios: Tuple[float, ...] = (0.33, 0.5, 1.0, 2.0, 3.0)
    anchor_scales: Tuple[float, ...] = (8.0,)
    context_amount: float = 0.5
    penalty_k: float = 0.05
    window_influence: float = 0.42
    lr: float = 0.38
    thr_high: float = 0.6
    thr_low: float = 0.3
    pos_num: int = 16
    neg_num: int = 16
    total_num: int = 64
    cls_weight: float = 1.0
    loc_weight: float = 1.2

    def __post_init__(self) -> None:
        expected = (self.instance_size - self.exemplar_size) // self.stride + 1 + self.base_size
        if expected != self.score_size:
            raise ValueError(f"score_size {self.score_size} != (instance - exemplar) // stride + 1 + base_size "
                             f"= {expected}.")

    @property
    def anchor_num(self) -> int:
        """Anchors per score-map cell."""
        return len(self.anchor_ratios) * len(self.anchor_scales)

    @property
    def num_candidates(self) -> int:
        """Candidates per search region: anchor_num * score_size**2."""
        return self.anchor_num * self.score_size ** 2

    @classmethod
    def paper(cls) -> "SiamRPNConfig":
        """Official SiamRPN++ (SLT-SiamRPN++) settings: 127/255 crops, 25x25x5 candidates."""
        return cls()

    @classmethod
    def tiny(cls) -> "SiamRPNConfig":
        """CPU size: 64 px templates, 128 px search regions, 9x9x5 candidates, stride 8.

        The anchor scale is halved (4 instead of 8) because a target fills about half of
        the 64 px template (32 px) rather than half of 127 px.
        """
        return cls(exemplar_size=64, instance_size=128, stride=8, score_size=9, base_size=0,
                   anchor_scales=(4.0,))


class SiamRPNPP(nn.Module):
    """Backbone -> neck -> MultiRPN. Attribute names match the official checkpoints.

    Inputs are BGR float 0-255 crops (see the module docstring); outputs are the raw head
    logits ``cls`` (B, 2A, S, S) in layout [background a0.., foreground a0..] and box
    deltas ``loc`` (B, 4A, S, S) in layout [dx a0.., dy a0.., dw a0.., dh a0..].
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, rpn_head: nn.Module, cfg: SiamRPNConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.rpn_head = rpn_head
        self.cfg = cfg

    def template_features(self, z: torch.Tensor) -> List[torch.Tensor]:
        """z: (B, 3, exemplar, exemplar) templates -> per-level template features (cropped by the neck)."""
        return self.neck(self.backbone(z))

    def search_features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """x: (B, 3, instance, instance) search crops -> per-level search features."""
        return self.neck(self.backbone(x))

    def track(self, zf: List[torch.Tensor], x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Score search crops ``x`` (B, 3, instance, instance) against template features ``zf``.

        ``zf`` comes from ``template_features`` with batch B (one template per search,
        e.g. B independent trackers) or batch 1 (one template shared by all searches).
        Returns (cls (B, 2A, S, S), loc (B, 4A, S, S)).
        """
        return self.rpn_head(zf, self.search_features(x))

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Training forward on (template, search) pairs; same outputs as ``track``."""
        return self.track(self.template_features(template), search)

    def load_backbone_weights(self, path: str) -> WeightLoadReport:
        """Load ImageNet ResNet weights for the backbone from a local file (never downloaded)."""
        return load_resnet_weights(self.backbone, path)


def _build_paper(cfg: SiamRPNConfig) -> SiamRPNPP:
    backbone = resnet50_atrous(used_layers=(2, 3, 4))
    neck = AdjustAllLayer([512, 1024, 2048], [256, 256, 256], center_size=7, crop_below=20)
    head = MultiRPN(cfg.anchor_num, [256, 256, 256], weighted=True)
    return SiamRPNPP(backbone, neck, head, cfg)


def _build_tiny(cfg: SiamRPNConfig, channels: Sequence[int], used_layers: Sequence[int], width: int) -> SiamRPNPP:
    norm: Callable[[int], nn.Module] = norm_factory("group")
    backbone = TinyBackbone(channels, used_layers=used_layers, norm="group")
    levels = len(used_layers)
    # No template crop: the 8x8 template map of a 64 px crop is already small.
    neck = AdjustAllLayer(backbone.out_channels, [width] * levels, center_size=None, norm_layer=norm)
    head = MultiRPN(cfg.anchor_num, [width] * levels, weighted=True, norm_layer=norm)
    return SiamRPNPP(backbone, neck, head, cfg)


def build_siamrpnpp(size: str = "paper", cfg: Optional[SiamRPNConfig] = None,
                    tiny_channels: Sequence[int] = (16, 32, 48, 48), tiny_levels: Sequence[int] = (4,),
                    tiny_width: int = 32) -> SiamRPNPP:
    """Build SiamRPN++ with random weights.

    Args:
        size: 'paper' (official ResNet-50 model, checkpoint-compatible) or 'tiny' (CPU model).
        cfg: geometry/test-time settings; defaults to ``SiamRPNConfig.paper()`` / ``.tiny()``.
        tiny_channels, tiny_levels, tiny_width: tiny backbone stage channels, the backbone
            stages fed to the head (3 and/or 4, both stride 8), and neck/head channels.
    """
    if size == "paper":
        return _build_paper(cfg or SiamRPNConfig.paper())
    if size == "tiny":
        return _build_tiny(cfg or SiamRPNConfig.tiny(), tiny_channels, tiny_levels, tiny_width)
    raise ValueError(f"Unknown SiamRPN++ size {size!r}; use 'paper' or 'tiny'.")
