"""Bounding-box regression heads."""
from .atom_iou_net import AtomIoUNet, LinearBlock, conv_bn_relu

__all__ = ["AtomIoUNet", "LinearBlock", "conv_bn_relu"]
