"""Tiny OSTrack (CPU size: 64/128 px crops, 16 x 16 cells) with the paper's post-processing."""
from pytracking.utils.params import TrackerParams, default_device


def parameters() -> TrackerParams:
    return TrackerParams(name="tiny", model_size="tiny", checkpoint=None, template_factor=2.0, search_factor=4.0,
                         min_box_size=10.0, mixed_precision="off", device=default_device())
