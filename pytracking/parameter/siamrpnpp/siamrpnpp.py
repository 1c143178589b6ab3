"""Paper-size SiamRPN++ with the official test-time hyper-parameters (pysot siamrpnpp.yaml)."""
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    return TrackerParams(name="siamrpnpp", model_size="paper", checkpoint=network_file("siamrpnpp.pth"),
                         penalty_k=0.05, window_influence=0.42, lr=0.38, device=default_device())
