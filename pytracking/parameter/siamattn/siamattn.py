"""Paper-size SiamAttn with the official test-time hyper-parameters (SLTtrack's siamattn.yaml)."""
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    return TrackerParams(name="siamattn", model_size="paper", checkpoint=network_file("siamattn.pth"),
                         penalty_k=0.10, window_influence=0.25, lr=0.45, mask_threshold=0.2,
                         mask_mean_centred=False, device=default_device())
