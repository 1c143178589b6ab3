"""Tiny SiamAttn (CPU size, 64/128 px crops, 16x16 masks) with the paper's post-processing constants."""
from pytracking.utils.params import TrackerParams, default_device


def parameters() -> TrackerParams:
    return TrackerParams(name="tiny", model_size="tiny", checkpoint=None, device=default_device())
