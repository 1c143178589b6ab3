"""Backbones: the SiamRPN++ atrous ResNet-50 and a tiny stride-8 CPU backbone."""
from .resnet_atrous import ResNetAtrous, WeightLoadReport, load_resnet_weights, resnet50_atrous
from .tiny import TinyBackbone, norm_factory

__all__ = ["ResNetAtrous", "WeightLoadReport", "load_resnet_weights", "resnet50_atrous", "TinyBackbone",
           "norm_factory"]
