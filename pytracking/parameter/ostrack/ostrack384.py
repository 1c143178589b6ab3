"""OSTrack-384 (vitb_384_mae_ce_32x4_ep300): template 192 px (factor 2), search 384 px (factor 5),
otherwise as ``ostrack``. The official 384 file is also named ``OSTrack_ep0300.pth.tar``; this set
expects it as ``<pretrained_networks_dir>/OSTrack384_ep0300.pth.tar`` or ``--checkpoint FILE``.
"""
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    return TrackerParams(name="ostrack384", model_size="paper384",
                         checkpoint=network_file("OSTrack384_ep0300.pth.tar"), template_factor=2.0,
                         search_factor=5.0, min_box_size=10.0, mixed_precision="off", device=default_device())
