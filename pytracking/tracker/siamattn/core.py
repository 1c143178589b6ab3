"""SiamAttn on the batched Siamese core: SiamRPN++'s crops, anchors and post-processing, then the
refinement of the chosen anchor's box and the state update from the refined box.

Per tracker and frame (official ``SiamAttnTracker.track``):

1. SiamRPN++'s candidate scores (:func:`~pytracking.tracker.common.siamese_postprocess.score_candidates`)
   with SiamAttn's penalty_k 0.10 and window influence 0.25; the chosen anchor (argmax at test time,
   the policy's choice in SLT);
2. its decoded box in crop pixels, centre clipped to the crop and sides to [10, crop side], becomes the
   RoI ``[cx - w/2 + 0.5, cy - h/2 + 0.5, cx + w/2 - 0.5, cy + h/2 - 0.5]`` of the refine head, whose
   deltas (x ``BBOX_STDS``) refine the clipped box;
3. :func:`~pytracking.tracker.common.siamese_postprocess.update_state` with the refined box in place
   of the anchor's: the centre is the refined centre, the size moves towards the refined size at rate
   ``penalty x score x lr`` (lr 0.45) of the chosen anchor.

The mask (test time only, :meth:`SiamAttnCore.mask_probabilities`) does not feed back into the state.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Tuple

import torch

from ltr.models.head.refine import apply_refine_deltas
from ltr.models.tracking.siamattn import SiamAttnConfig, SiamAttnOutputs
from pytracking.tracker.common.siamese_core import SearchResult
from pytracking.tracker.common.siamese_postprocess import MIN_TARGET_SIDE, CandidateScores, update_state
from pytracking.tracker.siamrpnpp.core import SiamRPNCore

__all__ = ["SiamAttnCandidates", "SiamAttnCore"]


@dataclasses.dataclass
class SiamAttnCandidates(CandidateScores):
    """SiamRPN++'s candidate scores plus the network outputs the refine head reads."""

    outputs: Any = None


class SiamAttnCore(SiamRPNCore):
    """B SiamAttn trackers in lockstep (see the module docstring); state conventions of :class:`SiamRPNCore`."""

    def __init__(self, net: torch.nn.Module, cfg: SiamAttnConfig, device="cpu"):
        super().__init__(net, cfg, device=device)

    def score(self, outputs: SiamAttnOutputs, search_side: torch.Tensor) -> SiamAttnCandidates:
        cand = super().score(outputs, search_side)
        fields = {f.name: getattr(cand, f.name) for f in dataclasses.fields(CandidateScores)}
        return SiamAttnCandidates(outputs=outputs, **fields)

    def clipped_crop_boxes(self, candidates: CandidateScores, index: torch.Tensor) -> torch.Tensor:
        """(B, 4) cxcywh in absolute crop pixels of the chosen candidates: centre clipped to the crop,
        sides to [10, crop side]."""
        rows = torch.arange(index.shape[0], device=index.device)
        box = candidates.boxes_crop[rows, index].detach().float()
        side = float(self.cfg.instance_size)
        center = (box[:, :2] + side / 2).clamp(0.0, side)
        size = box[:, 2:].clamp(MIN_TARGET_SIDE, side)
        return torch.cat([center, size], dim=1)

    def refine_boxes(self, outputs: SiamAttnOutputs, boxes_cxcywh: torch.Tensor) -> torch.Tensor:
        """Refined (B, 4) cxcywh crop-pixel boxes of tracker b's clipped box ``boxes_cxcywh[b]``."""
        half = boxes_cxcywh[:, 2:] / 2
        rows = torch.arange(boxes_cxcywh.shape[0], device=boxes_cxcywh.device, dtype=boxes_cxcywh.dtype)
        rois = torch.cat([rows[:, None], boxes_cxcywh[:, :2] - half + 0.5, boxes_cxcywh[:, :2] + half - 0.5], dim=1)
        return apply_refine_deltas(boxes_cxcywh, self.net.refine(outputs, rois).float())

    def update(self, candidates: SiamAttnCandidates, index: torch.Tensor, search_side: torch.Tensor
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        refined = self.refine_boxes(candidates.outputs, self.clipped_crop_boxes(candidates, index))
        refined[:, :2] -= self.cfg.instance_size / 2  # back to the anchors' frame (relative to the crop centre)
        rows = torch.arange(index.shape[0], device=index.device)
        chosen = CandidateScores(pscore=candidates.pscore[rows, index][:, None],
                                 score=candidates.score[rows, index][:, None],
                                 penalty=candidates.penalty[rows, index][:, None], boxes_crop=refined[:, None])
        return update_state(chosen, torch.zeros_like(index), self.center_xy, self.size_wh, self.scale_z(search_side),
                            self.image_hw, self.cfg)

    def state_rois(self, result: SearchResult) -> torch.Tensor:
        """(B, 5) RoIs of the current (updated) states in the crop of ``result``, without the +-0.5 of
        the refine RoI: the official mask RoI."""
        scale = self.scale_z(result.crop_side).float()[:, None]
        old_center = result.crop_center_xy.float() - 0.5   # the crop centre is the state centre + 0.5
        center = (self.center_xy.float() - old_center) * scale + self.cfg.instance_size / 2
        half = self.size_wh.float() * scale / 2
        rows = torch.arange(center.shape[0], device=center.device, dtype=center.dtype)
        return torch.cat([rows[:, None], center - half, center + half], dim=1)

    def mask_probabilities(self, result: SearchResult) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mask probabilities (B, m, m) over the states' RoIs (returned too, (B, 5) crop pixels).

        ``sigmoid(logits)``, or ``sigmoid(logits - mean(logits))`` with ``cfg.mask_mean_centred`` (SLT-SiamAttn).
        """
        rois = self.state_rois(result)
        logits = self.net.mask(result.candidates.outputs, rois)[:, 0].float()
        if self.cfg.mask_mean_centred:
            logits = logits - logits.mean(dim=(1, 2), keepdim=True)
        return torch.sigmoid(logits), rois
