"""The SiamAttn online tracker (official ``SiamAttnTracker`` on the batched core with B = 1).

``track`` returns the state box (``target_bbox``, xywh: what OPE benchmarks report) and the mask
polygon (``polygon``: 8 floats, the min-area rectangle of the mask's largest contour, or the box
corners; what VOT-style protocols report). With ``--debug`` the mask warped into the image is shown
in visdom as well (caption 'mask').
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict

import numpy as np

from ltr.models.tracking.siamattn import SiamAttnConfig
from pytracking.tracker.common.siamese_core import SearchResult
from pytracking.tracker.common.siamese_tracker import SiameseTracker, load_tracker_network
from pytracking.tracker.siamattn.core import SiamAttnCore
from pytracking.tracker.siamattn.mask import mask_polygon, warp_mask_to_image
from pytracking.utils.params import TrackerParams

#: Parameter-set fields that override the test-time numbers of :class:`SiamAttnConfig`.
TEST_TIME_FIELDS = ("penalty_k", "window_influence", "lr", "mask_threshold", "mask_mean_centred")


def build_core(params: TrackerParams) -> SiamAttnCore:
    """Network (``params.checkpoint``) + test-time config -> core."""
    net = load_tracker_network("siamattn", params)
    size = params.get("model_size", "paper")
    cfg = SiamAttnConfig.paper() if size == "paper" else SiamAttnConfig.tiny()
    overrides = {k: params.get(k) for k in TEST_TIME_FIELDS if params.has(k)}
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    return SiamAttnCore(net, cfg, device=params.get("device", "cpu"))


class SiamAttnTracker(SiameseTracker):
    """SiamAttn: SiamRPN++'s post-processing, box refinement of the chosen anchor, mask polygon.

    ``params.output_polygon`` (default True) computes the mask and its polygon on every frame; set it
    False to skip the mask head when only boxes are needed.
    """

    def build_core(self, params: TrackerParams) -> SiamAttnCore:
        return build_core(params)

    def extra_outputs(self, image: np.ndarray, result: SearchResult, out: Dict[str, Any]) -> None:
        if not self.params.get("output_polygon", True):
            return
        probabilities, rois = self.core.mask_probabilities(result)
        image_mask = warp_mask_to_image(
            probabilities[0].cpu().numpy(), rois[0, 1:].tolist(), result.crop_center_xy[0].tolist(),
            float(self.core.scale_z(result.crop_side)[0]), self.core.cfg.instance_size, image.shape[:2])
        out["polygon"] = mask_polygon(image_mask, self.core.cfg.mask_threshold, out["target_bbox"])
        self.visdom_draw(image_mask, "heatmap", "mask")
