"""Test-time post-processing of Siamese RPN trackers, batched over B independent trackers.

This is the arithmetic of the official ``SiamRPNTracker.track`` (pysot), split in two so
that a sequence-level-training policy can choose the candidate in between:

1. ``score_candidates``: foreground probability of every anchor, decoded boxes, the
   scale / aspect-ratio change penalty and the cosine-window blend ``pscore``;
2. ``update_state``: for one chosen candidate per tracker (argmax of ``pscore`` at test
   time), move the target centre, smooth its size with rate ``penalty * score * lr`` and
   clip it to the image.

Both the test-time tracker and the SLT adapter call these functions, so the argmax
rollout of training is the evaluation tracker.

Coordinates: target state is (cx, cy) and (w, h) in image pixels; ``boxes_crop`` are
(cx, cy, w, h) in search-crop pixels relative to the crop centre (anchor convention of
``ltr.models.siamese.anchors.generate_anchors`` with ``center=0``). A crop pixel is
``1 / scale_z`` image pixels, with ``scale_z = exemplar_size / s_z``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Tuple

import torch
import torch.nn.functional as F

from ltr.models.siamese.anchors import decode_deltas

if TYPE_CHECKING:
    from ltr.models.tracking.siamrpnpp import SiamRPNConfig

__all__ = ["CandidateScores", "score_candidates", "update_state", "crop_size_from_target", "xywh_to_state",
           "state_to_xywh"]

MIN_TARGET_SIDE = 10.0
"""Smallest target width / height (image pixels) the state is clipped to, as in the official tracker."""


@dataclass
class CandidateScores:
    """Scores of the N = A * S * S candidates of B search crops.

    pscore: (B, N) ``penalty * score * (1 - window_influence) + window * window_influence``, in [0, 1].
    score: (B, N) foreground probability (softmax of the background/foreground logits).
    penalty: (B, N) ``exp(-(r_c * s_c - 1) * penalty_k)`` in (0, 1].
    boxes_crop: (B, N, 4) decoded boxes, cxcywh in search-crop pixels relative to the crop centre.
    """

    pscore: torch.Tensor
    score: torch.Tensor
    penalty: torch.Tensor
    boxes_crop: torch.Tensor


def _change(r: torch.Tensor) -> torch.Tensor:
    return torch.maximum(r, 1.0 / r)


def _sz(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Side of the square with the context-padded area of a w x h box (padding (w + h) / 2)."""
    pad = (w + h) * 0.5
    return torch.sqrt((w + pad) * (h + pad))


def score_candidates(cls: torch.Tensor, loc: torch.Tensor, anchors: torch.Tensor, window: torch.Tensor,
                     prev_size_crop: torch.Tensor, cfg: "SiamRPNConfig",
                     grad_through_boxes: bool = False) -> CandidateScores:
    """Score all candidates of a batch of search crops.

    Args:
        cls: (B, 2A, S, S) head logits, layout [background a0.., foreground a0..].
        loc: (B, 4A, S, S) head deltas, layout [dx a0.., dy a0.., dw a0.., dh a0..].
        anchors: (N, 4) cxcywh anchors relative to the crop centre (``generate_anchors``).
        window: (N,) cosine window (``cosine_window``).
        prev_size_crop: (B, 2) previous target (w, h) in search-crop pixels, i.e. image size x scale_z.
        cfg: provides ``penalty_k`` and ``window_influence``.
        grad_through_boxes: by default the boxes and the penalty are computed from
            ``loc.detach()``, so gradients reach the network only through the foreground
            score (the penalty then acts as a constant, as in SLT's policy); set True to
            differentiate through them too.

    Candidate ``n`` is anchor ``n // S**2`` at cell ``(n % S**2) // S, n % S``.
    """
    b = cls.shape[0]
    n = anchors.shape[0]
    if cls.shape[1] * cls.shape[2] * cls.shape[3] != 2 * n or loc.shape[1] * loc.shape[2] * loc.shape[3] != 4 * n:
        raise ValueError(f"Head outputs {tuple(cls.shape)} / {tuple(loc.shape)} do not match {n} anchors.")
    score = F.softmax(cls.reshape(b, 2, n), dim=1)[:, 1]
    deltas = loc if grad_through_boxes else loc.detach()
    boxes = decode_deltas(deltas.reshape(b, 4, n).transpose(1, 2), anchors.to(deltas)[None])  # (B, N, 4)
    w, h = boxes[..., 2], boxes[..., 3]
    prev = prev_size_crop.to(boxes)
    pw, ph = prev[:, :1], prev[:, 1:2]
    s_c = _change(_sz(w, h) / _sz(pw, ph))
    r_c = _change((pw / ph) / (w / h))
    penalty = torch.exp(-(r_c * s_c - 1.0) * cfg.penalty_k)
    wi = cfg.window_influence
    pscore = penalty * score * (1.0 - wi) + window.to(score)[None] * wi
    return CandidateScores(pscore=pscore, score=score, penalty=penalty, boxes_crop=boxes)


def update_state(cand: CandidateScores, index: torch.Tensor, center_xy: torch.Tensor, size_wh: torch.Tensor,
                 scale_z: torch.Tensor, image_hw: torch.Tensor, cfg: "SiamRPNConfig"
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """New target state of each tracker after choosing candidate ``index``.

    Args:
        cand: output of ``score_candidates`` for the B trackers.
        index: (B,) chosen candidate per tracker (``cand.pscore.argmax(1)`` at test time).
        center_xy: (B, 2) current target centre, image pixels.
        size_wh: (B, 2) current target size, image pixels.
        scale_z: (B,) crop pixels per image pixel (``exemplar_size / s_z``).
        image_hw: (B, 2) image height and width in pixels.
        cfg: provides ``lr``.

    Returns (new_center_xy (B, 2), new_size_wh (B, 2)) in image pixels, detached: the
    centre moves by the chosen box's offset, the size moves towards the chosen box's size
    at rate ``penalty * score * lr``, then the centre is clipped into [0, W] x [0, H] and
    the size into [10, W] x [10, H].
    """
    dtype = center_xy.dtype
    rows = torch.arange(index.shape[0], device=index.device)
    box = cand.boxes_crop[rows, index].detach().to(dtype) / scale_z.to(dtype)[:, None]  # image pixels
    lr = (cand.penalty[rows, index] * cand.score[rows, index]).detach().to(dtype)[:, None] * cfg.lr
    center = center_xy.detach() + box[:, :2]
    size = size_wh.detach().to(dtype) * (1.0 - lr) + box[:, 2:] * lr
    wh = image_hw.to(center).flip(-1)  # (W, H)
    center = torch.minimum(torch.maximum(center, torch.zeros_like(center)), wh)
    size = torch.clamp_min(torch.minimum(size, wh), MIN_TARGET_SIDE)
    return center, size


def crop_size_from_target(size_wh: torch.Tensor, cfg: "SiamRPNConfig") -> Tuple[torch.Tensor, torch.Tensor]:
    """Template and search crop sides (image pixels, unrounded) for targets of size ``size_wh`` (..., 2).

    ``s_z = sqrt((w + c (w + h)) (h + c (w + h)))`` with c = ``context_amount`` and
    ``s_x = s_z * instance_size / exemplar_size``. As in the official tracker, the
    template is cropped with side ``round(s_z)``, the search region with side
    ``round(s_x)``, and the scale uses the unrounded value: ``scale_z = exemplar_size / s_z``.
    """
    w, h = size_wh[..., 0], size_wh[..., 1]
    ctx = cfg.context_amount * (w + h)
    s_z = torch.sqrt((w + ctx) * (h + ctx))
    return s_z, s_z * (cfg.instance_size / cfg.exemplar_size)


def xywh_to_state(box_xywh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Initial state from (..., 4) x, y, w, h boxes (image pixels), official convention.

    Centre = (x + (w - 1) / 2, y + (h - 1) / 2) (0-based pixel centres); size = (w, h).
    """
    xy, wh = box_xywh[..., :2], box_xywh[..., 2:]
    return xy + (wh - 1) / 2, wh.clone()


def state_to_xywh(center_xy: torch.Tensor, size_wh: torch.Tensor) -> torch.Tensor:
    """Reported box (..., 4) x, y, w, h = (cx - w / 2, cy - h / 2, w, h), as the official tracker reports it."""
    return torch.cat([center_xy - size_wh / 2, size_wh], -1)
