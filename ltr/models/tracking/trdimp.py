"""TrDiMP: DiMP with a transformer between the features and the filter (Wang et al., CVPR 2021).

Pipeline (per training sample: Ntr train images and Nte test images of B sequences):

1. backbone (ResNet) -> ``layer2`` (stride 8) and ``layer3`` (stride 16) features;
2. classification head (3x3 conv to ``out_feature_dim`` + instance L2 norm) on layer3;
3. transformer: encode the train features, decode train and test features against them
   (the train Gaussian labels steer the decoder);
4. DiMP filter learning on the decoded train features: linear initialiser (PrRoIPool of
   the target) + ``optim_iter`` steepest-descent steps with learned label/mask/weight;
5. scores = filter * decoded test features, one score map per filter iterate;
6. ATOM IoU-Net on layer2/layer3: IoU of each test proposal, modulated by train image 0.

Sizes (:class:`TrDiMPConfig`):

=============  ==========================================  ====================================
               ``paper`` (state-dict compatible)           ``tiny`` (CPU experiments)
=============  ==========================================  ====================================
backbone       ResNet-50 (layer4 and fc kept, unused),     Bottleneck ResNet, width 8, 1 block
               conv1/bn1/layer1/layer2 frozen              per stage, to layer3, nothing frozen
features       layer2 512 ch / 8, layer3 1024 ch / 16      layer2 64 ch / 8, layer3 128 ch / 16
image sample   352x352 -> 22x22 features, 23x23 scores     128x128 -> 8x8 features, 9x9 scores
classifier     512 ch, filter 4x4, 5 iterations            32 ch, filter 4x4, 5 iterations
transformer    1 layer, 1 head, key dim 128                1 layer, 1 head, key dim 16
IoU-Net        convs 128/256, pred input/inter 256/256     convs 16/32, pred input/inter 32/32
parameters     43,753,943 (unique)                         about 0.25 M
=============  ==========================================  ====================================

Images enter as RGB in [0, 1] normalised with the ImageNet mean/std
(:func:`normalize_images`). Boxes are (x, y, w, h) in pixels of the image sample.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ltr.models.backbone.resnet import ResNet, load_imagenet_weights, resnet50, resnet_tiny
from ltr.models.bbreg.atom_iou_net import AtomIoUNet
from ltr.models.target_classifier.features import residual_bottleneck
from ltr.models.target_classifier.initializer import FilterInitializerLinear
from ltr.models.target_classifier.linear_filter import LinearFilter
from ltr.models.target_classifier.optimizer import DiMPSteepestDescentGN
from ltr.models.target_classifier.transformer import Transformer

__all__ = ["TrDiMPConfig", "TrDiMPNet", "build_trdimp", "dimpnet50", "gaussian_train_label", "normalize_images",
           "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN: Tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: Tuple[float, float, float] = (0.229, 0.224, 0.225)


def normalize_images(images: torch.Tensor, value_range: float = 255.0) -> torch.Tensor:
    """RGB images (..., 3, H, W) in ``[0, value_range]`` -> ImageNet-normalised network input."""
    mean = images.new_tensor(IMAGENET_MEAN).reshape(3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).reshape(3, 1, 1)
    return (images / value_range - mean) / std


@dataclass
class TrDiMPConfig:
    """Network dimensions and the image-sample geometry of one TrDiMP size."""

    name: str = "paper"
    # --- backbone
    backbone: str = "resnet50"                  # 'resnet50' or 'resnet_tiny'
    backbone_inplanes: int = 64
    backbone_blocks: Tuple[int, ...] = (3, 4, 6, 3)
    frozen_backbone_layers: Tuple[str, ...] = ("conv1", "bn1", "layer1", "layer2")
    # --- classifier
    filter_size: int = 4
    out_feature_dim: int = 512
    clf_feat_blocks: int = 0
    clf_feat_norm: bool = True
    final_conv: bool = True
    init_filter_norm: bool = False
    optim_iter: int = 5
    optim_init_step: float = 0.9
    optim_init_reg: float = 0.1
    init_gauss_sigma: float = 1.0 / 4.0 / 6.0 * 22.0   # output_sigma_factor / search_area_factor * feature_sz
    num_dist_bins: int = 100
    bin_displacement: float = 0.1
    mask_init_factor: float = 3.0
    score_act: str = "relu"
    target_mask_act: str = "sigmoid"
    # --- transformer
    transformer_key_dim: int = 128
    transformer_layers: int = 1
    train_label_sigma_factor: float = 0.1       # Gaussian train labels fed to the transformer
    # --- IoU-Net
    iou_ref_dim: int = 128
    iou_hidden_dim: int = 256
    iou_input_dim: Tuple[int, int] = (256, 256)
    iou_inter_dim: Tuple[int, int] = (256, 256)
    # --- geometry
    feat_stride: int = 16
    image_sample_size: int = 352
    search_area_scale: float = 6.0

    @property
    def feature_size(self) -> int:
        """Side of the classification feature map (22 for the paper size)."""
        return self.image_sample_size // self.feat_stride

    @property
    def score_size(self) -> int:
        """Side of the score map: feature size + 1 for an even filter."""
        return self.feature_size + (self.filter_size + 1) % 2

    @classmethod
    def paper(cls) -> "TrDiMPConfig":
        """The released TrDiMP settings."""
        return cls()

    @classmethod
    def tiny(cls) -> "TrDiMPConfig":
        """A small variant for CPUs: 128x128 samples, 8x8 features, about 0.25 M parameters."""
        return cls(name="tiny", backbone="resnet_tiny", backbone_inplanes=8, backbone_blocks=(1, 1, 1),
                   frozen_backbone_layers=(), out_feature_dim=32, init_gauss_sigma=1.0 / 4.0 / 6.0 * 8.0,
                   transformer_key_dim=16, iou_ref_dim=16, iou_hidden_dim=32, iou_input_dim=(32, 32),
                   iou_inter_dim=(32, 32), image_sample_size=128)

    @classmethod
    def from_size(cls, size: str) -> "TrDiMPConfig":
        """``'paper'`` or ``'tiny'``."""
        if size == "paper":
            return cls.paper()
        if size == "tiny":
            return cls.tiny()
        raise ValueError(f"unknown TrDiMP size {size!r}; use 'paper' or 'tiny'")

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict copy (for checkpoints and logs)."""
        return dataclasses.asdict(self)


def gaussian_train_label(train_bb: torch.Tensor, feature_size: Sequence[int], image_size: Sequence[int],
                         filter_size: int = 4, sigma_factor: float = 0.1) -> torch.Tensor:
    """Gaussian label maps of the train targets, of the classification feature map's size.

    Matches the train labels of the TrDiMP training pipeline: the peak sits at the target
    centre in feature cells (shifted by half a cell for an even filter), and the standard
    deviation is ``sigma_factor * sqrt(feat_h * feat_w)`` cells.

    Args:
        train_bb: (..., 4) boxes (x, y, w, h) in image pixels.
        feature_size: (feat_h, feat_w).
        image_size: (img_h, img_w) in pixels.
        filter_size: filter side (even filters shift the peak by half a cell).
        sigma_factor: relative standard deviation.

    Returns:
        (..., feat_h, feat_w) labels with peak value up to 1.
    """
    fh, fw = int(feature_size[0]), int(feature_size[1])
    ih, iw = float(image_size[0]), float(image_size[1])
    dtype, device = train_bb.dtype, train_bb.device
    shift = 0.5 * ((filter_size + 1) % 2)
    cx = train_bb[..., 0] + 0.5 * train_bb[..., 2]
    cy = train_bb[..., 1] + 0.5 * train_bb[..., 3]
    # Coordinates measured from the map centre, as the label grid is centred.
    cx = fw * (cx - iw / 2) / iw + shift
    cy = fh * (cy - ih / 2) / ih + shift
    sigma = sigma_factor * math.sqrt(fh * fw)
    kx = torch.arange(fw, dtype=dtype, device=device) - (fw - 1) / 2
    ky = torch.arange(fh, dtype=dtype, device=device) - (fh - 1) / 2
    gx = torch.exp(-0.5 / sigma ** 2 * (kx - cx[..., None]) ** 2)
    gy = torch.exp(-0.5 / sigma ** 2 * (ky - cy[..., None]) ** 2)
    return gy[..., :, None] * gx[..., None, :]


class TrDiMPNet(nn.Module):
    """The TrDiMP network (``DiMPnet`` in the released checkpoints).

    Args:
        feature_extractor: backbone returning a dict of named feature maps.
        classifier: :class:`LinearFilter` with a transformer.
        bb_regressor: :class:`AtomIoUNet`.
        classification_layer: backbone layer of the classifier.
        bb_regressor_layer: backbone layers of the IoU-Net (stride 8, stride 16).
        config: the :class:`TrDiMPConfig` it was built from (geometry for default labels).
    """

    def __init__(self, feature_extractor: nn.Module, classifier: LinearFilter, bb_regressor: AtomIoUNet,
                 classification_layer: Union[str, Sequence[str]] = "layer3",
                 bb_regressor_layer: Sequence[str] = ("layer2", "layer3"),
                 config: Optional[TrDiMPConfig] = None) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.bb_regressor = bb_regressor
        self.classification_layer = ([classification_layer] if isinstance(classification_layer, str)
                                     else list(classification_layer))
        self.bb_regressor_layer = list(bb_regressor_layer)
        self.output_layers = sorted(set(self.classification_layer + self.bb_regressor_layer))
        self.config = config if config is not None else TrDiMPConfig.paper()

    # ------------------------------------------------------------------ training forward
    def forward(self, train_imgs: torch.Tensor, test_imgs: torch.Tensor, train_bb: torch.Tensor,
                test_proposals: torch.Tensor, train_label: Optional[torch.Tensor] = None,
                **kwargs: Any) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """Learn the filter on the train images and evaluate it and the IoU-Net on the test images.

        Args:
            train_imgs: (Ntr, B, 3, H, W) normalised images.
            test_imgs: (Nte, B, 3, H, W) normalised images.
            train_bb: (Ntr, B, 4) train target boxes (x, y, w, h) in pixels.
            test_proposals: (Nte, B, P, 4) proposal boxes (x, y, w, h) in the test images.
            train_label: (Ntr, B, h, w) Gaussian train labels for the transformer; computed with
                :func:`gaussian_train_label` when omitted.
            **kwargs: passed to the filter optimiser (e.g. ``num_iter``).

        Returns:
            (target_scores: list of (Nte, B, s, s), one per filter iterate (initial first),
             iou_pred: (Nte, B, P)).
        """
        if train_imgs.dim() != 5 or test_imgs.dim() != 5:
            raise ValueError("train_imgs and test_imgs must be (images, sequences, 3, H, W)")
        num_train, num_test = train_imgs.shape[0], test_imgs.shape[0]
        train_feat = self.extract_backbone_features(train_imgs.reshape(-1, *train_imgs.shape[-3:]))
        test_feat = self.extract_backbone_features(test_imgs.reshape(-1, *test_imgs.shape[-3:]))

        train_feat_clf = self.get_backbone_clf_feat(train_feat)
        test_feat_clf = self.get_backbone_clf_feat(test_feat)
        if train_label is None:
            train_label = self.make_train_label(train_bb, tuple(train_feat_clf.shape[-2:]),
                                                tuple(train_imgs.shape[-2:]))
        train_feat_clf = train_feat_clf.reshape(num_train, -1, *train_feat_clf.shape[-3:])
        test_feat_clf = test_feat_clf.reshape(num_test, -1, *test_feat_clf.shape[-3:])
        target_scores = self.classifier(train_feat_clf, test_feat_clf, train_bb, train_label=train_label, **kwargs)

        iou_pred = self.bb_regressor(self.get_backbone_bbreg_feat(train_feat), self.get_backbone_bbreg_feat(test_feat),
                                     train_bb, test_proposals)
        return target_scores, iou_pred

    def make_train_label(self, train_bb: torch.Tensor, feature_size: Sequence[int],
                         image_size: Sequence[int]) -> torch.Tensor:
        """Default transformer labels (Ntr, B, h, w) for boxes (Ntr, B, 4) (x, y, w, h)."""
        return gaussian_train_label(train_bb, feature_size, image_size, self.classifier.filter_size,
                                    self.config.train_label_sigma_factor)

    # ------------------------------------------------------------------ pieces for tracking
    def get_backbone_clf_feat(self, backbone_feat: Dict[str, torch.Tensor]) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        """The classification layer's map (or a dict if several layers are configured)."""
        if len(self.classification_layer) == 1:
            return backbone_feat[self.classification_layer[0]]
        return OrderedDict((l, backbone_feat[l]) for l in self.classification_layer)

    def get_backbone_bbreg_feat(self, backbone_feat: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        """[stride-8 map, stride-16 map] for the IoU-Net."""
        return [backbone_feat[l] for l in self.bb_regressor_layer]

    def extract_classification_feat(self, backbone_feat: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Classification features (N, C, h, w) from backbone features (before the transformer)."""
        return self.classifier.extract_classification_feat(self.get_backbone_clf_feat(backbone_feat))

    def extract_backbone_features(self, im: torch.Tensor,
                                  layers: Optional[Sequence[str]] = None) -> "OrderedDict[str, torch.Tensor]":
        """Backbone maps of normalised images (N, 3, H, W) for ``layers`` (default: all used ones)."""
        return self.feature_extractor(im, list(self.output_layers if layers is None else layers))

    def extract_features(self, im: torch.Tensor,
                         layers: Optional[Sequence[str]] = None) -> "OrderedDict[str, torch.Tensor]":
        """Backbone maps plus ``'classification'`` features, for the named ``layers``."""
        layers = list(self.bb_regressor_layer + ["classification"] if layers is None else layers)
        if "classification" not in layers:
            return self.feature_extractor(im, layers)
        backbone_layers = sorted(set(l for l in layers + self.classification_layer if l != "classification"))
        all_feat = self.feature_extractor(im, backbone_layers)
        all_feat["classification"] = self.extract_classification_feat(all_feat)
        return OrderedDict((l, all_feat[l]) for l in layers)


def _build_backbone(cfg: TrDiMPConfig, backbone_weights: Optional[str]) -> ResNet:
    layers = ["layer2", "layer3"]
    if cfg.backbone == "resnet50":
        body = resnet50(output_layers=layers, pretrained_path=backbone_weights, last_layer="layer4",
                        include_fc=True, frozen_layers=list(cfg.frozen_backbone_layers))
    elif cfg.backbone == "resnet_tiny":
        body = resnet_tiny(output_layers=layers, inplanes=cfg.backbone_inplanes, layers=tuple(cfg.backbone_blocks),
                           last_layer="layer3", include_fc=False, layer3_dilation="none")
        if backbone_weights is not None:
            load_imagenet_weights(body, backbone_weights)
        if cfg.frozen_backbone_layers:
            body.freeze(list(cfg.frozen_backbone_layers))
    else:
        raise ValueError(f"unknown backbone {cfg.backbone!r}")
    if body.out_feature_strides("layer3") != cfg.feat_stride or body.out_feature_strides("layer2") * 2 != cfg.feat_stride:
        raise ValueError("TrDiMP needs layer2 at stride feat_stride/2 and layer3 at stride feat_stride")
    return body


def build_trdimp(size: Union[str, TrDiMPConfig] = "paper", backbone_weights: Optional[str] = None) -> TrDiMPNet:
    """Build TrDiMP.

    Args:
        size: ``'paper'`` (state dict equal to the released checkpoints), ``'tiny'`` or a config.
        backbone_weights: optional local ImageNet ResNet file (never downloaded).

    Returns:
        A :class:`TrDiMPNet` on the CPU, in training mode (frozen backbone blocks stay in eval mode).
    """
    cfg = size if isinstance(size, TrDiMPConfig) else TrDiMPConfig.from_size(size)
    body = _build_backbone(cfg, backbone_weights)
    clf_in = body.out_feature_channels("layer3")
    if clf_in % 4:
        raise ValueError("the classification head expects a layer3 width divisible by 4")

    norm_scale = math.sqrt(1.0 / (cfg.out_feature_dim * cfg.filter_size * cfg.filter_size))
    clf_head = residual_bottleneck(feature_dim=clf_in // 4, num_blocks=cfg.clf_feat_blocks, l2norm=cfg.clf_feat_norm,
                                   final_conv=cfg.final_conv, norm_scale=norm_scale, out_dim=cfg.out_feature_dim)
    initializer = FilterInitializerLinear(filter_size=cfg.filter_size, filter_norm=cfg.init_filter_norm,
                                          feature_dim=cfg.out_feature_dim, feature_stride=cfg.feat_stride)
    optimizer = DiMPSteepestDescentGN(num_iter=cfg.optim_iter, feat_stride=cfg.feat_stride,
                                      init_step_length=cfg.optim_init_step, init_filter_reg=cfg.optim_init_reg,
                                      init_gauss_sigma=cfg.init_gauss_sigma, num_dist_bins=cfg.num_dist_bins,
                                      bin_displacement=cfg.bin_displacement, mask_init_factor=cfg.mask_init_factor,
                                      score_act=cfg.score_act, mask_act=cfg.target_mask_act)
    transformer = Transformer(d_model=cfg.out_feature_dim, nhead=1, num_layers=cfg.transformer_layers,
                              key_feature_dim=cfg.transformer_key_dim, filter_size=cfg.filter_size)
    classifier = LinearFilter(filter_size=cfg.filter_size, filter_initializer=initializer,
                              filter_optimizer=optimizer, feature_extractor=clf_head, transformer=transformer)
    bb_regressor = AtomIoUNet(input_dim=(body.out_feature_channels("layer2"), clf_in),
                              pred_input_dim=cfg.iou_input_dim, pred_inter_dim=cfg.iou_inter_dim,
                              ref_dim=cfg.iou_ref_dim, hidden_dim=cfg.iou_hidden_dim,
                              strides=(cfg.feat_stride // 2, cfg.feat_stride))
    return TrDiMPNet(body, classifier, bb_regressor, classification_layer="layer3",
                     bb_regressor_layer=("layer2", "layer3"), config=cfg)


def dimpnet50(filter_size: int = 4, optim_iter: int = 5, optim_init_step: float = 0.9, optim_init_reg: float = 0.1,
              classification_layer: str = "layer3", feat_stride: int = 16,
              backbone_pretrained: Union[bool, str] = False, clf_feat_blocks: int = 0, clf_feat_norm: bool = True,
              init_filter_norm: bool = False, final_conv: bool = True, out_feature_dim: int = 512,
              init_gauss_sigma: float = 1.0 / 4.0 / 6.0 * 22.0, num_dist_bins: int = 100,
              bin_displacement: float = 0.1, mask_init_factor: float = 3.0,
              iou_input_dim: Sequence[int] = (256, 256), iou_inter_dim: Sequence[int] = (256, 256),
              score_act: str = "relu", act_param: Optional[float] = None, target_mask_act: str = "sigmoid",
              detach_length: float = float("inf"),
              frozen_backbone_layers: Sequence[str] = ("conv1", "bn1", "layer1", "layer2")) -> TrDiMPNet:
    """Builder with the keyword arguments recorded in the released checkpoints' constructor.

    Defaults are the TrDiMP values. ``backbone_pretrained`` may be a path to a local ImageNet
    ResNet-50 file; ``True`` downloads nothing (the weights are expected to come from a
    checkpoint) and only emits a warning.
    """
    if classification_layer != "layer3" or feat_stride != 16:
        raise ValueError("only classification_layer='layer3' with feat_stride=16 is supported")
    if act_param is not None or score_act != "relu" or not math.isinf(detach_length):
        raise ValueError("only score_act='relu' without act_param and detach_length=inf are supported")
    weights: Optional[str] = None
    if isinstance(backbone_pretrained, str):
        weights = backbone_pretrained
    elif backbone_pretrained:
        warnings.warn("dimpnet50(backbone_pretrained=True): no ImageNet weights are downloaded; pass a local "
                      "file path or load a checkpoint", stacklevel=2)
    cfg = TrDiMPConfig(filter_size=filter_size, optim_iter=optim_iter, optim_init_step=optim_init_step,
                       optim_init_reg=optim_init_reg, clf_feat_blocks=clf_feat_blocks, clf_feat_norm=clf_feat_norm,
                       init_filter_norm=init_filter_norm, final_conv=final_conv, out_feature_dim=out_feature_dim,
                       init_gauss_sigma=init_gauss_sigma, num_dist_bins=num_dist_bins,
                       bin_displacement=bin_displacement, mask_init_factor=mask_init_factor,
                       iou_input_dim=tuple(iou_input_dim), iou_inter_dim=tuple(iou_inter_dim),
                       target_mask_act=target_mask_act, frozen_backbone_layers=tuple(frozen_backbone_layers))
    return build_trdimp(cfg, backbone_weights=weights)
