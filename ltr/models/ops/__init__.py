"""Pure-PyTorch operators (no compiled extensions)."""
from .deform_conv import DeformConvPack
from .deform_roi_pool import DeformRoIPoolingPack, deform_roi_pool
from .prroi_pool import PrRoIPool2D, prroi_pool2d

__all__ = ["DeformConvPack", "DeformRoIPoolingPack", "PrRoIPool2D", "deform_roi_pool", "prroi_pool2d"]
