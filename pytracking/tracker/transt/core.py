"""TransT specifics of the batched Siamese core: context crops, Hanning window, box taken directly.

The test-time tracker (B = 1) and the SLT adapter (B = all rollouts) both step this core, and it
delegates every number-crunching step to :mod:`pytracking.tracker.transt.postprocess` (and the
input geometry of :mod:`ltr.models.tracking.transt`), so an SLT argmax
rollout is exactly what evaluation does.

Conventions (see :mod:`pytracking.tracker.transt.postprocess`):

* state: ``center_xy`` (B, 2) continuous image pixels (``x + w/2``), ``size_wh`` (B, 2) pixels;
* template region: side ``s_z = ceil(sqrt((w + (w+h)/2)(h + (w+h)/2)))`` (template factor 2)
  around the target centre, resized to ``cfg.template_size``;
* search region: side ``s_x = ceil(sqrt((w + 1.5(w+h))(h + 1.5(w+h))))`` (search factor 4)
  around the previous centre, resized to ``cfg.search_size``;
* network input: RGB / 255, ImageNet mean/std (``'rgb_imagenet'``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple

import torch

from ltr.models.tracking.transt import TransTConfig, crop_sizes
from pytracking.tracker.transt.postprocess import (hanning_window, score_candidates, state_to_xywh, update_state,
                                                   xywh_to_state)
from pytracking.tracker.common.siamese_core import SiameseCore

__all__ = ["TransTCandidates", "TransTCore"]


@dataclass
class TransTCandidates:
    """Scores of the N = score_size**2 candidates of B search crops.

    Attributes:
        pscore: (B, N) ``score * (1 - wi) + window * wi``, what the tracker chooses by.
        score: (B, N) target probability (softmax of the two logits, index 0).
        boxes: (B, N, 4) predicted boxes, cxcywh normalised to the search crop.
    """

    pscore: torch.Tensor
    score: torch.Tensor
    boxes: torch.Tensor


class TransTCore(SiameseCore):
    """B TransT trackers in lockstep.

    Args:
        net: a :class:`ltr.models.tracking.transt.TransT` in eval mode.
        cfg: crop sizes/factors and the window influence (``net.cfg`` sizes must match).
        device: where crops and the network run.
    """

    def __init__(self, net: torch.nn.Module, cfg: TransTConfig, device: torch.device | str = "cpu"):
        super().__init__(net, cfg.template_size, cfg.search_size, input_format="rgb_imagenet", device=device)
        self.cfg = cfg
        # Fixed for the whole run, so replay can rebuild pscore from fresh logits alone.
        self.window = hanning_window(cfg.score_size, device=self.device)

    # ------------------------------------------------------------------ hooks
    def box_to_state(self, boxes_xywh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return xywh_to_state(boxes_xywh)

    def state_to_box(self, center_xy: torch.Tensor, size_wh: torch.Tensor) -> torch.Tensor:
        return state_to_xywh(center_xy, size_wh)

    def candidate_grid(self) -> Tuple[int, int]:
        return 1, self.cfg.score_size

    def crop_sides(self, size_wh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return crop_sizes(size_wh, self.cfg)

    def compute_template_features(self, template_input: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, Z, Z) normalised crops -> (projected features, position encoding)."""
        return self.net.template_features(template_input.float())

    def run_network(self, template_feat: Any, search_input: torch.Tensor) -> Dict[str, torch.Tensor]:
        feat, pos = template_feat
        return self.net.track(feat, pos, search_input.float())

    def score(self, outputs: Dict[str, torch.Tensor], search_side: torch.Tensor) -> TransTCandidates:
        pscore, score, boxes = score_candidates(outputs["pred_logits"], outputs["pred_boxes"], self.window, self.cfg)
        return TransTCandidates(pscore=pscore, score=score, boxes=boxes)

    def update(self, candidates: TransTCandidates, index: torch.Tensor,
               search_side: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return update_state(candidates.boxes, index, self.center_xy, search_side, self.image_hw, self.cfg)
