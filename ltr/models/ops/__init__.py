"""Pure-PyTorch operators (no compiled extensions)."""
from .deform_conv import DeformConvPack
from .prroi_pool import PrRoIPool2D, prroi_pool2d

__all__ = ["DeformConvPack", "PrRoIPool2D", "prroi_pool2d"]
