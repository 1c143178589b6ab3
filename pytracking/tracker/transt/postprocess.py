"""TransT test-time post-processing shared by the online tracker and batched SLT rollouts.

Everything works on a batch of B independent trackers, so the evaluation tracker (B=1)
and the sequence-level training rollouts (B = 2k) run literally the same code.

Conventions:

* tracker state: ``center_xy`` (B,2) target centre and ``size_wh`` (B,2) target size, in
  image pixels (float64 recommended, as the reference tracker keeps numpy float64 state);
* the search crop is a square of side ``s_x`` image pixels centred on ``center_xy``,
  resized to ``cfg.search_size``;
* network boxes ``pred_boxes`` are (cx, cy, w, h) normalised to [0, 1] by the crop side
  (the same fraction of ``s_x`` image pixels or of ``cfg.search_size`` crop pixels);
* image boxes in xywh are (x1, y1, w, h) pixels.

One tracking step (:mod:`pytracking.tracker.transt.core`): ``s_z, s_x = crop_sizes(size_wh, cfg)``
-> crop ``s_x`` around ``center_xy`` -> ``normalize_crops`` -> network (those two are the
network's input geometry, in :mod:`ltr.models.tracking.transt`, which training uses too) ->
:func:`score_candidates` -> choose an index (argmax of ``pscore`` at test time) -> :func:`update_state`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from ltr.models.tracking.transt import TransTConfig

__all__ = [
    "hanning_window",
    "score_candidates",
    "select_argmax",
    "update_state",
    "state_to_xywh",
    "xywh_to_state",
    "image_boxes_to_crop",
]


def hanning_window(size: int, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32
                   ) -> torch.Tensor:
    """Flattened 2-D Hanning window (size*size,), row-major, peak 1 at the centre.

    Equals ``np.outer(np.hanning(size), np.hanning(size)).flatten()``: symmetric window
    ``0.5 - 0.5 cos(2 pi n / (size-1))``, zero at both ends.
    """
    han = torch.hann_window(size, periodic=False, dtype=torch.float64)
    return torch.outer(han, han).flatten().to(device=device, dtype=dtype)


def score_candidates(pred_logits: torch.Tensor, pred_boxes: torch.Tensor, window: Optional[torch.Tensor],
                     cfg: TransTConfig) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Score the N candidates of B search crops.

    Args:
        pred_logits: (B,N,2) logits, index 0 = target.
        pred_boxes: (B,N,4) cxcywh normalised to the search crop.
        window: (N,) Hanning window (:func:`hanning_window` of ``cfg.score_size``), or None
            to build it here.
        cfg: supplies ``window_influence``.

    Returns:
        ``(pscore (B,N), score (B,N), boxes_crop (B,N,4))``: ``score`` = softmax over the two
        logits at index 0 (equal to sigmoid(l0 - l1)); ``pscore`` = score * (1 - wi) +
        window * wi; ``boxes_crop`` = ``pred_boxes`` (cxcywh normalised). Gradients flow
        through ``pscore`` and ``score``.
    """
    if pred_logits.dim() != 3 or pred_logits.shape[-1] != 2:
        raise ValueError(f"pred_logits must be (B,N,2), got {tuple(pred_logits.shape)}")
    if pred_boxes.shape[:2] != pred_logits.shape[:2] or pred_boxes.shape[-1] != 4:
        raise ValueError(f"pred_boxes must be (B,N,4) matching the logits, got {tuple(pred_boxes.shape)}")
    n = pred_logits.shape[1]
    if window is None:
        window = hanning_window(cfg.score_size, device=pred_logits.device, dtype=pred_logits.dtype)
    if window.numel() != n:
        raise ValueError(f"window has {window.numel()} entries for {n} candidates")
    score = pred_logits.softmax(dim=-1)[..., 0]
    wi = cfg.window_influence
    pscore = score * (1.0 - wi) + window.reshape(1, n).to(score) * wi
    return pscore, score, pred_boxes


def select_argmax(pscore: torch.Tensor) -> torch.Tensor:
    """Test-time choice: index of the best ``pscore`` per tracker (B,), first one on ties."""
    return pscore.argmax(dim=-1)


def update_state(boxes_crop: torch.Tensor, index: torch.Tensor, center_xy: torch.Tensor,
                 crop_size: torch.Tensor, image_hw: torch.Tensor, cfg: TransTConfig
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """New target state from the chosen candidate of each tracker.

    Args:
        boxes_crop: (B,N,4) cxcywh normalised to the search crop.
        index: (B,) chosen candidate per tracker.
        center_xy: (B,2) centre the search crop was taken around (image pixels).
        crop_size: (B,) search crop side ``s_x`` in image pixels.
        image_hw: (B,2) image (height, width).
        cfg: supplies ``min_box_size`` (10).

    Returns:
        ``(center_xy (B,2), size_wh (B,2))`` in image pixels, dtype of ``center_xy`` (use
        float64), detached. The box is scaled by ``s_x`` and offset from the crop centre;
        then, as the reference tracker's clip does, the centre is clamped to [0, W] x [0, H]
        and each side to [``min_box_size``, image side] (the minimum wins if the image is
        smaller than it).
    """
    dtype = center_xy.dtype if center_xy.is_floating_point() else torch.float64
    center = center_xy.detach().to(dtype)
    b = boxes_crop.shape[0]
    idx = index.to(device=boxes_crop.device, dtype=torch.long).reshape(b)
    sel = boxes_crop.detach()[torch.arange(b, device=boxes_crop.device), idx].to(device=center.device, dtype=dtype)
    s_x = crop_size.detach().to(device=center.device, dtype=dtype).reshape(b)
    hw = image_hw.detach().to(device=center.device, dtype=dtype).reshape(b, 2)
    img_h, img_w = hw[:, 0], hw[:, 1]

    box = sel * s_x[:, None]
    # Candidate centres are relative to the crop's top-left corner = centre - s_x/2.
    cx = box[:, 0] + center[:, 0] - s_x / 2
    cy = box[:, 1] + center[:, 1] - s_x / 2
    w, h = box[:, 2], box[:, 3]

    zero = torch.zeros_like(cx)
    min_side = torch.full_like(cx, float(cfg.min_box_size))
    cx = torch.maximum(zero, torch.minimum(cx, img_w))
    cy = torch.maximum(zero, torch.minimum(cy, img_h))
    w = torch.maximum(min_side, torch.minimum(w, img_w))
    h = torch.maximum(min_side, torch.minimum(h, img_h))
    return torch.stack((cx, cy), dim=1), torch.stack((w, h), dim=1)


def state_to_xywh(center_xy: torch.Tensor, size_wh: torch.Tensor) -> torch.Tensor:
    """(B,2) centre + (B,2) size -> (B,4) xywh (top-left corner + size), image pixels."""
    return torch.cat((center_xy - size_wh / 2, size_wh), dim=-1)


def xywh_to_state(boxes_xywh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(B,4) xywh image boxes -> ``(center_xy (B,2), size_wh (B,2))``."""
    return boxes_xywh[..., :2] + boxes_xywh[..., 2:] / 2, boxes_xywh[..., 2:].clone()


def image_boxes_to_crop(boxes_xywh: torch.Tensor, center_xy: torch.Tensor, crop_size: torch.Tensor,
                        output_size: int) -> torch.Tensor:
    """Map image xywh boxes (B,4) into the pixel frame of their resized search crops.

    The crop of side ``crop_size`` (B,) image pixels centred on ``center_xy`` (B,2) is
    resized to ``output_size``; result is xywh in those crop pixels. Turn it into a
    training target with ``box_xywh_to_normalized_cxcywh(result, (output_size, output_size))``.
    """
    scale = (output_size / crop_size.to(boxes_xywh.dtype)).reshape(-1, 1)
    xy = (boxes_xywh[..., :2] - center_xy.to(boxes_xywh.dtype)) * scale + output_size / 2
    return torch.cat((xy, boxes_xywh[..., 2:] * scale), dim=-1)
