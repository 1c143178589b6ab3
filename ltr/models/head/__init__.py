"""Prediction heads."""
from .rpn import DepthwiseRPN, DepthwiseXCorr, MultiRPN, xcorr_depthwise

__all__ = ["DepthwiseRPN", "DepthwiseXCorr", "MultiRPN", "xcorr_depthwise"]
