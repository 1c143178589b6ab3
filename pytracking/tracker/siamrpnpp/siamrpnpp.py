"""The SiamRPN++ online tracker (pysot's test-time procedure on the batched core with B = 1)."""
from __future__ import annotations

import dataclasses

from ltr.models.tracking.siamrpnpp import SiamRPNConfig
from pytracking.tracker.common.siamese_tracker import SiameseTracker, load_tracker_network
from pytracking.tracker.siamrpnpp.core import SiamRPNCore
from pytracking.utils.params import TrackerParams

#: Parameter-set fields that override the test-time numbers of :class:`SiamRPNConfig`.
TEST_TIME_FIELDS = ("penalty_k", "window_influence", "lr")


def build_core(params: TrackerParams) -> SiamRPNCore:
    """Network (``params.checkpoint``) + test-time config -> core."""
    net = load_tracker_network("siamrpnpp", params)
    size = params.get("model_size", "paper")
    cfg = SiamRPNConfig.paper() if size == "paper" else SiamRPNConfig.tiny()
    overrides = {k: params.get(k) for k in TEST_TIME_FIELDS if params.has(k)}
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    return SiamRPNCore(net, cfg, device=params.get("device", "cpu"))


class SiamRPNPP(SiameseTracker):
    """SiamRPN++: anchors, scale/ratio penalty, cosine window, size smoothing, boundary clipping."""

    def build_core(self, params: TrackerParams) -> SiamRPNCore:
        return build_core(params)
