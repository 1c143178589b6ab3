"""The OSTrack online tracker: OSTrack's test-time procedure on the batched core with B = 1.

Per frame: crop the search region (factor 4; 5 for the 384 model) around the previous centre,
run the joint ViT against the cached template tokens, multiply the score map by the centred
Hanning window, take the box at the best cell (size and offset read there), map it back to
the image and clip it with margin 10. No template update, no scale penalty, no smoothing.
"""
from __future__ import annotations

from typing import Any, Dict

from ltr.models.tracking.ostrack import OSTrackConfig
from pytracking.tracker.common.siamese_tracker import SiameseTracker, configured_core
from pytracking.tracker.ostrack.core import OSTrackCore
from pytracking.utils.params import TrackerParams

__all__ = ["OSTrack", "build_core", "TEST_TIME_FIELDS"]

#: Parameter-set fields that override the test-time numbers of :class:`OSTrackConfig`.
TEST_TIME_FIELDS = ("template_factor", "search_factor", "min_box_size")


def build_core(params: TrackerParams) -> OSTrackCore:
    """Network (``params.checkpoint``: a project checkpoint or an official ``OSTrack_ep0300.pth.tar``,
    imported without running code from the file) + test-time config -> core, with the
    ``mixed_precision`` mode of ``params``."""
    core = configured_core("ostrack", params, OSTrackConfig, OSTrackCore, TEST_TIME_FIELDS)
    core.net.set_mixed_precision(params.get("mixed_precision", "off"))
    return core


class OSTrack(SiameseTracker):
    """OSTrack (Ye et al., ECCV 2022) with the official test-time settings by default.

    Args:
        params: test-time parameters (``pytracking/parameter/ostrack/*.py``).
        core: an existing core (tests and the SLT identity check pass one with a shared network).
    """

    def build_core(self, params: TrackerParams) -> OSTrackCore:
        return build_core(params)

    def debug_outputs(self, result, index: int) -> Dict[str, Any]:
        out = super().debug_outputs(result, index)
        out["info"]["score"] = float(result.candidates.score[0, index])
        return out
