"""SiamRPN++ specifics of the batched Siamese core: context crops, anchors, pysot's post-processing."""
from __future__ import annotations

from typing import Any, Tuple

import torch

from ltr.models.siamese.anchors import cosine_window, generate_anchors
from pytracking.tracker.common.siamese_postprocess import (CandidateScores, crop_size_from_target, score_candidates,
                                            state_to_xywh, update_state, xywh_to_state)
from ltr.models.tracking.siamrpnpp import SiamRPNConfig
from pytracking.tracker.common.siamese_core import SiameseCore


class SiamRPNCore(SiameseCore):
    """B SiamRPN++ trackers in lockstep.

    State centres follow pysot's convention (0-based pixel centres: ``cx = x + (w - 1) / 2``);
    the crop centre in continuous coordinates is therefore ``cx + 0.5``. Crops use the unrounded
    region sides ``s_z`` and ``s_x = s_z * instance / exemplar``, so ``scale_z = exemplar / s_z``
    holds exactly for the crop the network sees.
    """

    def __init__(self, net: torch.nn.Module, cfg: SiamRPNConfig, device="cpu"):
        super().__init__(net, cfg.exemplar_size, cfg.instance_size, input_format="bgr255", device=device)
        self.cfg = cfg
        self.anchors = generate_anchors(cfg.score_size, cfg.stride, cfg.anchor_ratios, cfg.anchor_scales).to(self.device)
        self.window = cosine_window(cfg.score_size, cfg.anchor_num).to(self.device)

    def box_to_state(self, boxes_xywh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return xywh_to_state(boxes_xywh)

    def state_to_box(self, center_xy: torch.Tensor, size_wh: torch.Tensor) -> torch.Tensor:
        return state_to_xywh(center_xy, size_wh)

    def crop_center(self, center_xy: torch.Tensor) -> torch.Tensor:
        return center_xy + 0.5

    def crop_sides(self, size_wh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return crop_size_from_target(size_wh, self.cfg)

    def candidate_grid(self) -> Tuple[int, int]:
        return self.cfg.anchor_num, self.cfg.score_size

    def compute_template_features(self, template_input: torch.Tensor) -> Any:
        return self.net.template_features(template_input.float())

    def run_network(self, template_feat: Any, search_input: torch.Tensor) -> Any:
        return self.net.track(template_feat, search_input.float())

    def scale_z(self, search_side: torch.Tensor) -> torch.Tensor:
        return self.cfg.instance_size / search_side

    def score(self, outputs: Any, search_side: torch.Tensor) -> CandidateScores:
        # The first two outputs are the RPN's (SiamAttn's outputs carry its fused features after them).
        cls, loc = outputs[0], outputs[1]
        prev_size_crop = (self.size_wh * self.scale_z(search_side)[:, None]).float()
        return score_candidates(cls, loc, self.anchors, self.window, prev_size_crop, self.cfg)

    def update(self, candidates: CandidateScores, index: torch.Tensor, search_side: torch.Tensor):
        return update_state(candidates, index, self.center_xy, self.size_wh, self.scale_z(search_side),
                            self.image_hw, self.cfg)
