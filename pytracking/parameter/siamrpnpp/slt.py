"""SLT-siamrpnpp: the paper-size test-time parameters of `siamrpnpp` with the SLT checkpoint.

The weights default to ``<pretrained_networks_dir>/slt_siamrpnpp.pth`` (the official release, or your
own from ``ltr/run_training.py siamrpnpp slt``); ``--checkpoint FILE`` overrides it. SLT changes no
test-time hyper-parameter.
"""
from pytracking.parameter.siamrpnpp.siamrpnpp import parameters as base_parameters
from pytracking.utils.params import TrackerParams, network_file


def parameters() -> TrackerParams:
    params = base_parameters()
    params.name = "slt"
    params.checkpoint = network_file("slt_siamrpnpp.pth")
    return params
