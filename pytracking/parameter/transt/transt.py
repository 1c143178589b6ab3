"""Paper-size TransT with the official test-time settings.

Template 128 px from a region of template factor 2, search 256 px from search factor 4,
Hanning window (32 x 32) with influence 0.49, no scale/ratio penalty, box size taken directly,
boxes clipped to the image with sides of at least 10 px. The same numbers serve the official
``transt.pth`` and ``slt_transt.pth`` (``--checkpoint FILE``) and project checkpoints.
"""
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    return TrackerParams(name="transt", model_size="paper", checkpoint=network_file("transt.pth"), window_influence=0.49,
                         template_factor=2.0, search_factor=4.0, min_box_size=10.0, device=default_device())
