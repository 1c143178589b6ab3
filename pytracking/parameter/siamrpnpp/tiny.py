"""Tiny SiamRPN++ (CPU size, 64/128 px crops) with the same post-processing constants."""
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    return TrackerParams(name="tiny", model_size="tiny", checkpoint=None, device=default_device())
