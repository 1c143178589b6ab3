"""SLT-OSTrack: the test-time parameters of ``ostrack`` with the SLT checkpoint.

The weights default to ``<pretrained_networks_dir>/slt_ostrack.pth`` (your own from
``ltr/run_training.py ostrack slt``); ``--checkpoint FILE`` overrides it. SLT changes no
test-time hyper-parameter.
"""
from pytracking.parameter.ostrack.ostrack import parameters as base_parameters
from pytracking.utils.params import TrackerParams, network_file


def parameters() -> TrackerParams:
    params = base_parameters()
    params.name = "slt"
    params.checkpoint = network_file("slt_ostrack.pth")
    return params
