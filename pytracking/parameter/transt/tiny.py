"""Tiny TransT (CPU size: 64/128 px crops, 16 x 16 candidates) with the paper's post-processing."""
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    return TrackerParams(name="tiny", model_size="tiny", checkpoint=None, window_influence=0.49,
                         template_factor=2.0, search_factor=4.0, min_box_size=10.0, device=default_device())
