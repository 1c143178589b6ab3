"""SiamAttn (Yu et al., CVPR 2020, "Deformable Siamese Attention Networks") in its paper size and a tiny CPU size.

Paper size, in forward order (all shapes for 127 px templates and 255 px search crops):

* the SiamRPN++ atrous ResNet-50 (:func:`~ltr.models.backbone.resnet_atrous.resnet50_atrous`), all five
  outputs (conv1 64 @ 125, layer1 256 @ 63, layer2-4 512/1024/2048 @ 31);
* the SiamRPN++ ``AdjustAllLayer`` neck on layers 2-4 (templates cropped to the central 7x7);
* ``feature_enhance``: self / cross attention and a deformable conv per level
  (:mod:`ltr.models.neck.enhance`), template and search together; at test time the template is
  re-enhanced with every search crop;
* the SiamRPN++ weighted ``MultiRPN`` on the enhanced features (cls (B, 10, 25, 25), loc (B, 20, 25, 25));
* ``feature_fusion`` (:mod:`ltr.models.neck.feature_fusion`): the box feature (256 @ 25) and the mask
  feature (256 @ 63);
* ``refine_head`` (:mod:`ltr.models.head.refine`) and ``mask_head`` (:mod:`ltr.models.head.mask`),
  both on deformable RoI pooling of RoIs given in search-crop pixels.

Its ``state_dict()`` has exactly the keys, shapes, dtypes and order of the official SiamAttn /
SLT-SiamAttn checkpoints (645 keys, 140,242,881 parameters; ``ltr/admin/manifests/siamattn.json``).
Files from the original SiamAttn code name the refinement head ``bbox_head``; the checkpoint
import (:func:`ltr.admin.loading.normalize_state_dict`) renames it.

Tiny size: the 4-stage ``TinyBackbone`` with GroupNorm, 64 / 128 px crops, stages 3-4 correlated
(9x9 score map), stage 2 (32x32) as the mask level, narrow heads and 16x16 masks.

Input convention (both sizes): BGR float 0-255 crops without normalisation, as in SiamRPN++.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn

from ltr.models.backbone.resnet_atrous import WeightLoadReport, load_resnet_weights, resnet50_atrous
from ltr.models.backbone.tiny import TinyBackbone, norm_factory
from ltr.models.head.mask import MaskHead
from ltr.models.head.refine import RefineHead
from ltr.models.head.rpn import MultiRPN
from ltr.models.neck.adjust import AdjustAllLayer
from ltr.models.neck.enhance import FeatureEnhance
from ltr.models.neck.feature_fusion import FeatureFusionAllNeck
from ltr.models.tracking.siamrpnpp import SiamRPNConfig

__all__ = ["SiamAttnConfig", "SiamAttnOutputs", "SiamAttn", "build_siamattn"]


@dataclass(frozen=True)
class SiamAttnConfig(SiamRPNConfig):
    """SiamRPN++'s geometry and anchors with SiamAttn's test-time numbers, heads and losses.

    Beyond :class:`SiamRPNConfig` (test time: penalty_k 0.10, window influence 0.25, lr 0.45):

    * ``mask_side``: side of the mask feature (the backbone level it is fused at; 63 for 255 crops);
    * ``refine_pool`` / ``mask_pool``: RoI bins per side of the refine / mask heads (4 / 16);
      ``mask_upsample``: the mask head's upsampling ratio (4: 64x64 masks);
    * ``mask_threshold`` on the mask probability (0.2; SLT-SiamAttn 0.45) and ``mask_mean_centred``
      (SLT-SiamAttn's ``sigmoid(logits - mean(logits))``);
    * training: ``loc_weight`` 0.5, ``refine_weight`` 0.5, ``mask_weight`` 0.2, ``rois_per_image`` 16
      foreground RoIs of IoU >= ``roi_fg_iou`` 0.5, ``mask_ohem`` 0.7 (share of pixel losses kept).
    """

    penalty_k: float = 0.10
    window_influence: float = 0.25
    lr: float = 0.45
    loc_weight: float = 0.5
    mask_side: int = 63
    refine_pool: int = 4
    mask_pool: int = 16
    mask_upsample: int = 4
    mask_threshold: float = 0.2
    mask_mean_centred: bool = False
    refine_weight: float = 0.5
    mask_weight: float = 0.2
    rois_per_image: int = 16
    roi_fg_iou: float = 0.5
    mask_ohem: float = 0.7

    @property
    def refine_scale(self) -> float:
        """Box-feature cells per search-crop pixel (the official 25 / 255)."""
        return self.score_size / self.instance_size

    @property
    def mask_scale(self) -> float:
        """Mask-feature cells per search-crop pixel (the official 63 / 255)."""
        return self.mask_side / self.instance_size

    @property
    def mask_size(self) -> int:
        """Side of the predicted masks (64 in the paper size)."""
        return self.mask_pool * self.mask_upsample

    @classmethod
    def paper(cls) -> "SiamAttnConfig":
        """Official SiamAttn settings (siamattn.yaml)."""
        return cls()

    @classmethod
    def tiny(cls) -> "SiamAttnConfig":
        """CPU size: SiamRPN++'s tiny geometry (64 / 128 px, 9x9x5 candidates), a 32x32 mask level, 16x16 masks."""
        return cls(exemplar_size=64, instance_size=128, stride=8, score_size=9, base_size=0, anchor_scales=(4.0,),
                   mask_side=32, mask_pool=8, mask_upsample=2)


class SiamAttnOutputs(NamedTuple):
    """Network outputs on B search crops: RPN ``cls`` (B, 2A, S, S) / ``loc`` (B, 4A, S, S) in SiamRPN++'s
    layout, the fused ``box_feature`` (B, C, S, S) and ``mask_feature`` (B, C, M, M) for the RoI heads."""

    cls: torch.Tensor
    loc: torch.Tensor
    box_feature: torch.Tensor
    mask_feature: torch.Tensor


class SiamAttn(nn.Module):
    """Backbone -> neck -> feature_enhance -> rpn_head, feature_fusion -> refine_head / mask_head.

    Attribute names and their order match the official checkpoints. ``neck_start`` is the first
    backbone output the neck adjusts (the earlier ones feed only the mask feature).
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, rpn_head: nn.Module, feature_enhance: nn.Module,
                 feature_fusion: nn.Module, refine_head: nn.Module, mask_head: nn.Module, cfg: SiamAttnConfig,
                 neck_start: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.rpn_head = rpn_head
        self.feature_enhance = feature_enhance
        self.feature_fusion = feature_fusion
        self.refine_head = refine_head
        self.mask_head = mask_head
        self.cfg = cfg
        self.neck_start = neck_start

    def template_features(self, z: torch.Tensor) -> List[torch.Tensor]:
        """z: (B, 3, exemplar, exemplar) -> adjusted (not yet enhanced) template levels."""
        return self.neck(self.backbone(z)[self.neck_start:])

    def track(self, zf: List[torch.Tensor], x: torch.Tensor) -> SiamAttnOutputs:
        """Search crops x (B, 3, instance, instance) against template levels ``zf`` (batch B or 1).

        The template is enhanced together with each search crop (cross attention), as the official
        tracker does on every frame.
        """
        x_all = self.backbone(x)
        xf = self.neck(x_all[self.neck_start:])
        zf_e, xf_e = self.feature_enhance(zf, xf)
        cls, loc = self.rpn_head(zf_e, xf_e)
        box_feature, mask_feature = self.feature_fusion(zf_e, xf_e, list(x_all[:self.neck_start]) + list(xf_e))
        return SiamAttnOutputs(cls, loc, box_feature, mask_feature)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> SiamAttnOutputs:
        """Training forward on (template, search) pairs; same outputs as ``track``."""
        return self.track(self.template_features(template), search)

    def refine(self, outputs: SiamAttnOutputs, rois: torch.Tensor) -> torch.Tensor:
        """Refinement deltas (K, 4) of rois (K, 5) [batch index, x1, y1, x2, y2] in search-crop pixels."""
        return self.refine_head(outputs.box_feature, rois)

    def mask(self, outputs: SiamAttnOutputs, rois: torch.Tensor) -> torch.Tensor:
        """Mask logits (K, 1, m, m) of rois (K, 5) [batch index, x1, y1, x2, y2] in search-crop pixels."""
        return self.mask_head(outputs.mask_feature, rois)

    def load_backbone_weights(self, path: str) -> WeightLoadReport:
        """Load ImageNet ResNet weights for the backbone from a local file (never downloaded)."""
        return load_resnet_weights(self.backbone, path)


def _build_paper(cfg: SiamAttnConfig) -> SiamAttn:
    backbone = resnet50_atrous(used_layers=(0, 1, 2, 3, 4))
    neck = AdjustAllLayer([512, 1024, 2048], [256, 256, 256], center_size=7, crop_below=20)
    head = MultiRPN(cfg.anchor_num, [256, 256, 256], weighted=True)
    enhance = FeatureEnhance([256, 256, 256])
    fusion = FeatureFusionAllNeck([64, 256, 256, 256, 256], [256, 256, 256], 256, fusion_level=1)
    refine = RefineHead(256, cfg.refine_pool, cfg.refine_scale, hidden=512, offset_fc_channels=1024)
    mask = MaskHead(256, cfg.mask_pool, cfg.mask_scale, cfg.mask_upsample, num_convs=4, offset_fc_channels=1024)
    return SiamAttn(backbone, neck, head, enhance, fusion, refine, mask, cfg, neck_start=2)


def _build_tiny(cfg: SiamAttnConfig, channels: Sequence[int], width: int) -> SiamAttn:
    norm: Callable[[int], nn.Module] = norm_factory("group")
    backbone = TinyBackbone(channels, used_layers=(1, 2, 3, 4), norm="group")
    c = backbone.out_channels
    neck = AdjustAllLayer(c[2:], [width, width], center_size=None, norm_layer=norm)
    head = MultiRPN(cfg.anchor_num, [width, width], weighted=True, norm_layer=norm)
    enhance = FeatureEnhance([width, width])
    fusion = FeatureFusionAllNeck(list(c[:2]) + [width, width], [width, width], width, fusion_level=1,
                                  norm_layer=norm)
    refine = RefineHead(width, cfg.refine_pool, cfg.refine_scale, hidden=2 * width, offset_fc_channels=2 * width)
    mask = MaskHead(width, cfg.mask_pool, cfg.mask_scale, cfg.mask_upsample, num_convs=2,
                    offset_fc_channels=2 * width, norm_layer=norm)
    return SiamAttn(backbone, neck, head, enhance, fusion, refine, mask, cfg, neck_start=2)


def build_siamattn(size: str = "paper", cfg: Optional[SiamAttnConfig] = None,
                   tiny_channels: Sequence[int] = (16, 32, 48, 48), tiny_width: int = 32) -> SiamAttn:
    """Build SiamAttn with random weights.

    Args:
        size: 'paper' (official model, checkpoint-compatible) or 'tiny' (CPU model).
        cfg: geometry / test-time / loss settings; defaults to ``SiamAttnConfig.paper()`` / ``.tiny()``.
        tiny_channels, tiny_width: tiny backbone stage channels and the neck / head width.
    """
    if size == "paper":
        return _build_paper(cfg or SiamAttnConfig.paper())
    if size == "tiny":
        return _build_tiny(cfg or SiamAttnConfig.tiny(), tiny_channels, tiny_width)
    raise ValueError(f"Unknown SiamAttn size {size!r}; use 'paper' or 'tiny'.")
