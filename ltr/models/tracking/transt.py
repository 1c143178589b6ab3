"""TransT: transformer tracking network (Chen et al., CVPR 2021).

A ResNet feature extractor (stride 8) embeds a template crop and a search crop; a 1x1
convolution projects both to the transformer width; the feature fusion network mixes
them; two MLP heads read every fused search token:

* ``class_embed`` -> 2 logits per token, index 0 = target, index 1 = background;
* ``bbox_embed`` -> sigmoid (cx, cy, w, h) of the target box, normalised to [0, 1] by
  the search crop's width/height.

Sizes (see :class:`TransTConfig`):

===========  ==========================================  =====================================
             ``paper`` (state-dict compatible)           ``tiny`` (CPU experiments)
===========  ==========================================  =====================================
backbone     ResNet-50 to layer3, stride 8, 1024 ch      Bottleneck ResNet, width 8, 1 block
                                                         per stage, to layer3, stride 8, 128 ch
fusion       4 encoder layers + decoder, d 256, 8 heads, 1 encoder layer + decoder, d 64,
             FFN 2048, dropout 0.1                       2 heads, FFN 128, dropout 0.1
template     128x128 -> 16x16 tokens                     64x64 -> 8x8 tokens
search       256x256 -> 32x32 = 1024 candidates          128x128 -> 16x16 = 256 candidates
parameters   23,016,006                                  about 0.2 M
===========  ==========================================  =====================================

Images enter as RGB crops scaled to [0, 1] and normalised with the ImageNet mean/std
(:func:`normalize_crops`).

The paper-size state dict (keys, shapes, dtypes and order) equals the official
checkpoints: ``featurefusion_network.*``, ``class_embed.*``, ``bbox_embed.*``,
``input_proj.*``, ``backbone.0.body.*`` (``backbone.1`` is the weight-free position
encoding).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltr.models.backbone.resnet import ResNet, load_imagenet_weights, resnet50, resnet_tiny
from ltr.models.neck.featurefusion import FeatureFusionNetwork
from ltr.models.neck.position_encoding import PositionEmbeddingSine, build_position_encoding

__all__ = ["TransTConfig", "TransT", "MLP", "TransTBackbone", "build_transt", "transt_resnet50"]


@dataclass
class TransTConfig:
    """Model dimensions and test-time numbers of one TransT size.

    Box/crop conventions used with these numbers: a target of size (w, h) pixels is
    cropped with side ``s_z = ceil(sqrt((w + (f_z-1)(w+h)/2) (h + (f_z-1)(w+h)/2)))`` for
    the template (``f_z = template_factor``) and likewise ``s_x`` with
    ``f_x = search_factor`` for the search region, then resized to ``template_size`` /
    ``search_size``.
    """

    name: str = "paper"
    # --- network
    backbone: str = "resnet50"                 # 'resnet50' or 'resnet_tiny'
    backbone_inplanes: int = 64
    backbone_blocks: Tuple[int, ...] = (3, 4, 6)
    backbone_channels: int = 1024
    hidden_dim: int = 256
    nheads: int = 8
    dim_feedforward: int = 2048
    featurefusion_layers: int = 4
    dropout: float = 0.1
    # --- test time
    template_size: int = 128
    search_size: int = 256
    template_factor: float = 2.0
    search_factor: float = 4.0
    window_influence: float = 0.49
    stride: int = 8
    min_box_size: float = 10.0
    mean: Tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: Tuple[float, float, float] = (0.229, 0.224, 0.225)

    @property
    def template_feature_size(self) -> int:
        """Side of the template token map (16 for the paper size)."""
        return self.template_size // self.stride

    @property
    def score_size(self) -> int:
        """Side of the search token map = Hanning window size (32 for the paper size)."""
        return self.search_size // self.stride

    @property
    def num_candidates(self) -> int:
        """Candidates (box predictions) per search crop: score_size**2."""
        return self.score_size ** 2

    @classmethod
    def paper(cls) -> "TransTConfig":
        """The published TransT-ResNet50 settings."""
        return cls()

    @classmethod
    def tiny(cls) -> "TransTConfig":
        """A small variant that trains on a CPU: 64/128 crops, 16x16 score map."""
        return cls(name="tiny", backbone="resnet_tiny", backbone_inplanes=8, backbone_blocks=(1, 1, 1),
                   backbone_channels=128, hidden_dim=64, nheads=2, dim_feedforward=128, featurefusion_layers=1,
                   template_size=64, search_size=128)

    @classmethod
    def from_size(cls, size: str) -> "TransTConfig":
        """``'paper'`` or ``'tiny'``."""
        if size == "paper":
            return cls.paper()
        if size == "tiny":
            return cls.tiny()
        raise ValueError(f"unknown TransT size {size!r}; use 'paper' or 'tiny'")

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict copy (for checkpoints and logs)."""
        return dataclasses.asdict(self)


class MLP(nn.Module):
    """Linear layers with ReLU in between (none after the last): ``layers.0`` ... ``layers.{n-1}``."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        return x


class _FeatureBody(nn.Module):
    """Holds the ResNet as ``body`` so parameter names read ``backbone.0.body.*``."""

    def __init__(self, body: ResNet, num_channels: int, layer: str = "layer3") -> None:
        super().__init__()
        self.body = body
        self.num_channels = num_channels
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x, [self.layer])[self.layer]


class TransTBackbone(nn.Sequential):
    """Feature extractor (``[0]``) plus position encoding (``[1]``, no weights).

    ``forward(x)`` maps normalised images (B,3,H,W) to ``(features (B,C,H/8,W/8),
    pos (B,d,H/8,W/8))``.
    """

    def __init__(self, body: ResNet, num_channels: int, position_encoding: PositionEmbeddingSine) -> None:
        super().__init__(_FeatureBody(body, num_channels), position_encoding)
        self.num_channels = num_channels

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        feat = self[0](x)
        return feat, self[1](feat)

    @property
    def resnet(self) -> ResNet:
        """The ResNet feature extractor."""
        return self[0].body


class TransT(nn.Module):
    """TransT network.

    Args:
        backbone: :class:`TransTBackbone`.
        featurefusion_network: :class:`FeatureFusionNetwork`.
        cfg: sizes and test-time numbers (kept as ``self.cfg``).
        num_classes: foreground classes (1 for single-object tracking).
    """

    def __init__(self, backbone: TransTBackbone, featurefusion_network: FeatureFusionNetwork,
                 cfg: Optional[TransTConfig] = None, num_classes: int = 1) -> None:
        super().__init__()
        hidden = featurefusion_network.d_model
        # Registration order = official state-dict order.
        self.featurefusion_network = featurefusion_network
        self.class_embed = MLP(hidden, hidden, num_classes + 1, 3)
        self.bbox_embed = MLP(hidden, hidden, 4, 3)
        self.input_proj = nn.Conv2d(backbone.num_channels, hidden, kernel_size=1)
        self.backbone = backbone
        self.cfg = cfg if cfg is not None else TransTConfig.paper()

    # ------------------------------------------------------------------ pieces
    def template_features(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Embed normalised template crops z (B,3,Hz,Wz).

        Returns ``(feat, pos)``, both (B, d, Hz/8, Wz/8): the *projected* template features
        and their position encoding. This is what a tracker caches after initialisation.
        """
        feat, pos = self.backbone(z)
        return self.input_proj(feat), pos

    def search_features(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Embed normalised search crops x (B,3,Hx,Wx) -> projected (feat, pos), (B,d,Hx/8,Wx/8)."""
        return self.template_features(x)

    def head(self, hs: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Prediction heads on fused tokens hs (B,N,d).

        Returns ``{'pred_logits': (B,N,2), 'pred_boxes': (B,N,4)}``; boxes are sigmoid
        (cx, cy, w, h) normalised to the search crop.
        """
        return {"pred_logits": self.class_embed(hs), "pred_boxes": self.bbox_embed(hs).sigmoid()}

    # ------------------------------------------------------------------ public API
    def track(self, template_feat: torch.Tensor, template_pos: torch.Tensor, x: torch.Tensor
              ) -> Dict[str, torch.Tensor]:
        """Predict on search crops x (B,3,Hx,Wx) given cached template embeddings.

        ``template_feat``/``template_pos`` come from :meth:`template_features` and hold
        either B templates (one per search crop, e.g. batched rollouts of different
        episodes) or 1 template shared by all crops.

        Returns ``{'pred_logits': (B,N,2), 'pred_boxes': (B,N,4)}`` with N = (Hx/8)*(Wx/8)
        candidates in row-major order over the score map.
        """
        b = x.shape[0]
        if template_feat.shape[0] != b:
            if template_feat.shape[0] != 1:
                raise ValueError(f"template batch {template_feat.shape[0]} does not match search batch {b}")
            template_feat = template_feat.expand(b, -1, -1, -1)
        if template_pos.shape[0] != b:
            template_pos = template_pos[:1].expand(b, -1, -1, -1)
        src, pos = self.search_features(x)
        hs = self.featurefusion_network(template_feat, src, template_pos, pos)
        return self.head(hs)

    def forward(self, search: torch.Tensor, template: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Training forward on pairs: search (B,3,Hx,Wx), template (B,3,Hz,Wz), both normalised.

        Same output as :meth:`track`.
        """
        zf, zpos = self.template_features(template)
        return self.track(zf, zpos, search)

    def load_backbone_weights(self, path: str) -> None:
        """Initialise the ResNet from a local ImageNet file (layer4/fc entries are skipped)."""
        load_imagenet_weights(self.backbone.resnet, path)


def build_transt(size: Union[str, TransTConfig] = "paper", backbone_weights: Optional[str] = None,
                 frozen_backbone_layers: Sequence[str] = ()) -> TransT:
    """Build TransT.

    Args:
        size: ``'paper'``, ``'tiny'`` or a :class:`TransTConfig`.
        backbone_weights: optional local ImageNet ResNet file (paper size; never downloaded).
        frozen_backbone_layers: ResNet blocks to freeze (TransT itself freezes none).
    """
    cfg = size if isinstance(size, TransTConfig) else TransTConfig.from_size(size)
    if cfg.backbone == "resnet50":
        body = resnet50(output_layers=["layer3"], last_layer="layer3", include_fc=False,
                        layer3_dilation="first_block", pretrained_path=backbone_weights)
    elif cfg.backbone == "resnet_tiny":
        body = resnet_tiny(output_layers=["layer3"], inplanes=cfg.backbone_inplanes,
                           layers=tuple(cfg.backbone_blocks), last_layer="layer3", layer3_dilation="first_block")
        if backbone_weights is not None:
            load_imagenet_weights(body, backbone_weights)
    else:
        raise ValueError(f"unknown backbone {cfg.backbone!r}")
    if body.out_feature_channels("layer3") != cfg.backbone_channels:
        raise ValueError(f"backbone gives {body.out_feature_channels('layer3')} channels, "
                         f"config says {cfg.backbone_channels}")
    if body.out_feature_strides("layer3") != cfg.stride:
        raise ValueError(f"backbone stride {body.out_feature_strides('layer3')} != config stride {cfg.stride}")
    if frozen_backbone_layers:
        body.freeze(list(frozen_backbone_layers))
    backbone = TransTBackbone(body, cfg.backbone_channels, build_position_encoding(cfg.hidden_dim))
    fusion = FeatureFusionNetwork(d_model=cfg.hidden_dim, nhead=cfg.nheads,
                                  num_featurefusion_layers=cfg.featurefusion_layers,
                                  dim_feedforward=cfg.dim_feedforward, dropout=cfg.dropout)
    return TransT(backbone, fusion, cfg)


def transt_resnet50(settings: Any = None) -> TransT:
    """Builder with the official signature: reads ``hidden_dim``, ``nheads``,
    ``dim_feedforward``, ``featurefusion_layers``, ``dropout`` and (optionally)
    ``backbone_weights`` from a settings object; missing ones take the paper values.
    Nothing is downloaded and the model stays on the CPU."""
    cfg = TransTConfig.paper()
    for name in ("hidden_dim", "nheads", "dim_feedforward", "featurefusion_layers", "dropout"):
        if settings is not None and hasattr(settings, name):
            setattr(cfg, name, getattr(settings, name))
    if settings is not None and getattr(settings, "position_embedding", "sine") not in ("sine", "v2"):
        raise ValueError("only the sine position embedding is implemented")
    return build_transt(cfg, backbone_weights=getattr(settings, "backbone_weights", None))


# ------------------------------------------------------------------ input geometry
# Crop sides and input normalisation are shared by training (ltr/data/transt_processing.py) and
# the test-time tracker (pytracking/tracker/transt/core.py), so they live with the network.

def normalize_crops(crops: torch.Tensor, cfg: "TransTConfig") -> torch.Tensor:
    """RGB crops (B,3,H,W) with values 0..255 (any dtype) -> network input.

    Scales to [0, 1], clamps (interpolation may overshoot) and applies ``cfg.mean``/``cfg.std``.
    """
    x = crops.float().mul(1.0 / 255.0).clamp_(0.0, 1.0)
    mean = torch.tensor(cfg.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def _context_side(size_wh: torch.Tensor, factor: float) -> torch.Tensor:
    w, h = size_wh[..., 0], size_wh[..., 1]
    pad = (factor - 1.0) * (w + h) * 0.5
    return torch.ceil(torch.sqrt((w + pad) * (h + pad)))


def crop_sizes(size_wh: torch.Tensor, cfg: "TransTConfig") -> Tuple[torch.Tensor, torch.Tensor]:
    """Template and search crop sides in image pixels for targets of size (..., 2) = (w, h).

    ``s_z = ceil(sqrt((w + (f_z-1)(w+h)/2) (h + (f_z-1)(w+h)/2)))`` with f_z = template
    factor 2, i.e. ``ceil(sqrt((w + (w+h)/2)(h + (w+h)/2)))``; ``s_x`` the same with the search
    factor 4, i.e. ``ceil(sqrt((w + 1.5(w+h))(h + 1.5(w+h))))``. Computed in float64;
    returns two (...) float64 tensors of whole numbers.
    """
    s = torch.as_tensor(size_wh).to(torch.float64)
    return _context_side(s, cfg.template_factor), _context_side(s, cfg.search_factor)
