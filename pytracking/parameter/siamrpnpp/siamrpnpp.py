"""Paper-size SiamRPN++ with the official test-time hyper-parameters (pysot siamrpnpp.yaml)."""
from pytracking.utils.params import TrackerParams


def parameters() -> TrackerParams:
    return TrackerParams(name="siamrpnpp", model_size="paper", checkpoint=None,
                         penalty_k=0.05, window_influence=0.42, lr=0.38, device="cpu")
