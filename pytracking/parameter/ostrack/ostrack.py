"""OSTrack-256 (vitb_256_mae_ce_32x4_ep300) with the official test-time settings.

Template 128 px from factor 2, search 256 px from factor 4, zero padding, candidate elimination
at keep 0.7, the centred Hanning window multiplied into the score map, box from size and offset
at the best cell, clipped with margin 10, no template update. The weights default to
``<pretrained_networks_dir>/OSTrack_ep0300.pth.tar`` (the official release, imported without
running code from it) and ``--checkpoint FILE`` overrides them.
"""
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    return TrackerParams(name="ostrack", model_size="paper", checkpoint=network_file("OSTrack_ep0300.pth.tar"),
                         template_factor=2.0, search_factor=4.0, min_box_size=10.0, mixed_precision="off",
                         device=default_device())
