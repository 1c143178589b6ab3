"""SLT-SiamAttn: the paper-size test-time parameters of `siamattn` with the SLT checkpoint and the SLT
mask read-out (slt_siamattn.yaml: threshold 0.45 on ``sigmoid(logits - mean(logits))``).

The weights default to ``<pretrained_networks_dir>/slt_siamattn.pth`` (the official release, or your own
from ``ltr/run_training.py siamattn slt``); ``--checkpoint FILE`` overrides it. Boxes (what OPE
benchmarks report) are computed exactly as in `siamattn`; only the mask polygon differs.
"""
from pytracking.parameter.siamattn.siamattn import parameters as base_parameters
from pytracking.utils.params import TrackerParams, network_file


def parameters() -> TrackerParams:
    params = base_parameters()
    params.name = "slt"
    params.checkpoint = network_file("slt_siamattn.pth")
    params.mask_threshold = 0.45
    params.mask_mean_centred = True
    return params
