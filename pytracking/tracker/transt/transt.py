"""The TransT online tracker: TransT's test-time procedure on the batched core with B = 1.

Per frame: crop the search region (search factor 4) around the previous centre, run the network
against the cached template, mix the target probability with a Hanning window
(``pscore = score * (1 - 0.49) + window * 0.49``), take the best candidate's box as it is (no
scale/ratio penalty, no size smoothing) and clip it to the image as the official tracker does.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch

from ltr.models.tracking.transt import TransTConfig
from pytracking.tracker.common.siamese_tracker import SiameseTracker, configured_core
from pytracking.tracker.transt.core import TransTCore
from pytracking.utils.params import TrackerParams

__all__ = ["TransT", "build_core", "TEST_TIME_FIELDS"]

#: Parameter-set fields that override the test-time numbers of :class:`TransTConfig`.
TEST_TIME_FIELDS = ("window_influence", "template_factor", "search_factor", "min_box_size")


def build_core(params: TrackerParams) -> TransTCore:
    """Network (``params.checkpoint``: a project checkpoint or an official TransT / SLT-TransT
    ``.pth``, imported without running code from the file) + test-time config -> core."""
    return configured_core("transt", params, TransTConfig, TransTCore, TEST_TIME_FIELDS)


class TransT(SiameseTracker):
    """TransT (Chen et al., CVPR 2021) with the official test-time settings by default.

    Args:
        params: test-time parameters (``pytracking/parameter/transt/*.py``).
        core: an existing core (tests and the SLT identity check pass one with a shared network).
    """

    def build_core(self, params: TrackerParams) -> TransTCore:
        return build_core(params)

    def debug_outputs(self, result, index: int) -> Dict[str, Any]:
        out = super().debug_outputs(result, index)
        out["info"]["score"] = float(result.candidates.score[0, index])
        return out
