"""Batched state and one tracking step of B Siamese trackers (SiamRPN++, TransT, ...).

The test-time tracker runs a core with B = 1; the SLT adapter runs the same core with B = all
rollouts of an iteration. Both go through :meth:`SiameseCore.search` (crop, network, scores) and
:meth:`SiameseCore.commit` (move to the chosen candidate), so an SLT argmax rollout is exactly
what evaluation does.

State per tracker (image pixels): ``center_xy`` (B, 2) and ``size_wh`` (B, 2) in the tracker's
own centre convention (see :meth:`SiameseCore.box_to_state`), ``image_hw`` (B, 2), plus the cached
template features.

A subclass supplies the tracker-specific parts: crop sides from the target size, the network
calls, candidate scores and the state update.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch

from ltr.data.crop import to_model_input
from pytracking.tracker.common.frames import crop_regions
from pytracking.tracker.common.tracker_state import BatchedTrackerState


@dataclasses.dataclass
class SearchResult:
    """One search step of B trackers.

    Attributes:
        search_input: (B, 3, S, S) the network input (already in the model's input format).
        outputs: the raw network outputs (tracker-specific).
        candidates: tracker-specific scores; must have ``pscore`` (B, N), the post-processed
            score each candidate is chosen by (argmax at test time).
        crop_center_xy: (B, 2) search region centres, continuous image pixels.
        crop_side: (B,) search region sides, image pixels.
    """

    search_input: torch.Tensor
    outputs: Any
    candidates: Any
    crop_center_xy: torch.Tensor
    crop_side: torch.Tensor


class SiameseCore(BatchedTrackerState):
    """Generic batched Siamese tracking; see the module docstring.

    Per-tracker state is declared in ``TRACKER_STATE_DIMS`` (see
    :mod:`pytracking.tracker.common.tracker_state`); a subclass that keeps more per-tracker
    state extends it, e.g. ``TRACKER_STATE_DIMS = {**SiameseCore.TRACKER_STATE_DIMS, "mask": 0}``.

    Args:
        net: the network (eval mode is set by the caller).
        template_size, search_size: crop sides fed to the network, pixels.
        input_format: see :func:`ltr.data.crop.to_model_input`.
        device: where crops and the network run.
        crop_padding: what fills crops outside the image, 'mean' or 'zero' (:func:`ltr.data.crop.crop_square`).
    """

    TRACKER_STATE_DIMS = {"center_xy": 0, "size_wh": 0, "image_hw": 0, "nonfinite_frames": 0, "template_feat": 0}

    def __init__(self, net: torch.nn.Module, template_size: int, search_size: int, input_format: str,
                 device: torch.device | str = "cpu", crop_padding: str = "mean"):
        self.net = net
        self.crop_padding = crop_padding
        self.template_size = int(template_size)
        self.search_size = int(search_size)
        self.input_format = input_format
        # BGR networks get frames stacked in BGR order: reversing a few frames beats flipping every crop.
        self.channel_order = "bgr" if input_format == "bgr255" else "rgb"
        self.device = torch.device(device)
        self.center_xy: Optional[torch.Tensor] = None
        self.size_wh: Optional[torch.Tensor] = None
        self.image_hw: Optional[torch.Tensor] = None
        self.template_feat: Any = None

    # ------------------------------------------------------------------ tracker-specific hooks
    def box_to_state(self, boxes_xywh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B,4) xywh -> (centre (B,2), size (B,2)); default: continuous centre x + w/2."""
        return boxes_xywh[:, :2] + boxes_xywh[:, 2:] / 2, boxes_xywh[:, 2:].clone()

    def state_to_box(self, center_xy: torch.Tensor, size_wh: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`box_to_state` (the box the tracker reports)."""
        return torch.cat([center_xy - size_wh / 2, size_wh], dim=1)

    def crop_center(self, center_xy: torch.Tensor) -> torch.Tensor:
        """Region centre in continuous pixel coordinates for a state centre (default: identity)."""
        return center_xy

    def crop_sides(self, size_wh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(template side, search side) in image pixels for targets of size (B, 2)."""
        raise NotImplementedError

    def compute_template_features(self, template_input: torch.Tensor) -> Any:
        raise NotImplementedError

    def run_network(self, template_feat: Any, search_input: torch.Tensor) -> Any:
        raise NotImplementedError

    def candidate_grid(self) -> Tuple[int, int]:
        """(candidates per cell, score-map side): N = A * S * S, laid out as (A, S, S)."""
        raise NotImplementedError

    def score(self, outputs: Any, search_side: torch.Tensor) -> Any:
        """Post-processed candidate scores (an object with ``pscore`` (B, N))."""
        raise NotImplementedError

    def update(self, candidates: Any, index: torch.Tensor, search_side: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """New (centre, size) after choosing ``index`` (B,)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ generic batched steps
    @property
    def batch_size(self) -> int:
        """Number of trackers (0 before :meth:`initialize`)."""
        return 0 if self.center_xy is None else int(self.center_xy.shape[0])

    def _crop(self, frames, centers_xy: torch.Tensor, sides: torch.Tensor,
              out_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """(crops (B,3,S,S) 0-255 in the model's channel order, (B,2) float64 frame sizes)."""
        return crop_regions(frames, centers_xy, sides, out_size, self.device, self.channel_order, self.crop_padding)

    def initialize(self, frames: Sequence[np.ndarray] | torch.Tensor, boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Crop templates around ``boxes_xywh`` (B,4) px and cache their features.

        Returns the template network input (B, 3, Z, Z) (SLT replay re-runs it with gradients).
        """
        boxes = boxes_xywh.to(device=self.device, dtype=torch.float64)
        center, size = self.box_to_state(boxes)
        side_z, _ = self.crop_sides(size)
        crops, image_hw = self._crop(frames, self.crop_center(center), side_z, self.template_size)
        template_input = to_model_input(crops, self.input_format, self.channel_order)
        self.template_feat = self.compute_template_features(template_input)
        if start_boxes_xywh is not None:
            center, size = self.box_to_state(start_boxes_xywh.to(device=self.device, dtype=torch.float64))
        self.center_xy, self.size_wh, self.image_hw = center, size, image_hw
        self.nonfinite_frames = torch.zeros(center.shape[0], dtype=torch.long, device=center.device)
        return template_input

    def search(self, frames: Sequence[np.ndarray] | torch.Tensor) -> SearchResult:
        """Crop every tracker's search region from its frame, run the network once, score."""
        _, side_x = self.crop_sides(self.size_wh)
        crop_center = self.crop_center(self.center_xy)
        crops, self.image_hw = self._crop(frames, crop_center, side_x, self.search_size)
        search_input = to_model_input(crops, self.input_format, self.channel_order)
        outputs = self.run_network(self.template_feat, search_input)
        candidates = self.score(outputs, side_x)
        return SearchResult(search_input=search_input, outputs=outputs, candidates=candidates,
                            crop_center_xy=crop_center, crop_side=side_x)

    def commit(self, result: SearchResult, index: torch.Tensor) -> torch.Tensor:
        """Move every tracker to its chosen candidate; returns the new boxes (B, 4) xywh px.

        A tracker whose new state is not finite (or has a side <= 0) keeps its previous state and
        the frame is counted in ``nonfinite_frames`` (B,). Such states come from overflowing
        network outputs (a diverged or untrained model: exp of a huge size delta); kept, they
        would poison every later crop of the sequence.
        """
        center, size = self.update(result.candidates, index, result.crop_side)
        bad = ~(torch.isfinite(center).all(dim=1) & torch.isfinite(size).all(dim=1) & (size > 0).all(dim=1))
        # Unconditional selects: no host read of ``bad`` on the per-frame path.
        self.center_xy = torch.where(bad[:, None], self.center_xy, center)
        self.size_wh = torch.where(bad[:, None], self.size_wh, size)
        self.nonfinite_frames = self.nonfinite_frames + bad.long()
        return self.state_to_box(self.center_xy, self.size_wh)

    @staticmethod
    def argmax(result: SearchResult) -> torch.Tensor:
        """The test-time choice: the candidate with the highest post-processed score."""
        return result.candidates.pscore.argmax(dim=1)
