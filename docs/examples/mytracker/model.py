"""The network of the example tracker and the batched tracking core both of its users share.

``MyTrackerNet`` is a miniature Siamese network: a two-layer convolutional backbone, a depthwise
cross-correlation of template and search features, and 1x1 heads giving a score logit and a
sub-cell offset for each of ``GRID x GRID`` candidate target centres.

``MyTrackerCore`` runs B trackers at once: one batched crop (:func:`ltr.data.crop.crop_square`),
one network pass, the post-processing (sigmoid mixed with a cosine window) and the state update.
The test-time tracker (``tracker.py``) runs it with B = 1 and takes the argmax; the SLT adapter
(``slt_adapter.py``) runs it with B = 2k and lets the policy pick. Because both call the same
code, the adapter's argmax rollout is exactly what evaluation does.

Geometry: the template crop is ``TEMPLATE_CONTEXT * sqrt(w h)`` image pixels wide, resized to
``TEMPLATE_SIZE``; the search crop is ``SEARCH_CONTEXT * sqrt(w h)`` wide, resized to
``SEARCH_SIZE``. Candidate ``(row, col)`` sits at crop pixel ``GRID_ORIGIN + CELL * (col, row)``.
The box size stays the one of the first frame: the example is about the seam, not about
tracking well.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from ltr.data.crop import boxes_to_crop_frame, crop_square, stack_frames

__all__ = ["TEMPLATE_SIZE", "SEARCH_SIZE", "GRID", "WINDOW_INFLUENCE", "MyTrackerNet", "build_mytracker",
           "SearchResult", "MyTrackerCore", "candidate_targets", "classification_loss", "offset_loss"]

TEMPLATE_SIZE = 16
SEARCH_SIZE = 32
TEMPLATE_CONTEXT = 2.0
SEARCH_CONTEXT = 4.0
GRID = 9
CELL = 2.0
GRID_ORIGIN = 8.0
#: Weight of the cosine window in the post-processed scores (test time and SLT alike).
WINDOW_INFLUENCE = 0.3

#: Backbone channels per size; 'paper' is only a larger tiny, this tracker has no paper.
CHANNELS = {"tiny": 8, "paper": 32}


class MyTrackerNet(nn.Module):
    """Backbone, depthwise cross-correlation and two 1x1 heads (see the module docstring)."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(channels, channels, 3, stride=2, padding=1))
        self.score = nn.Conv2d(channels, 1, 1)
        self.offset = nn.Conv2d(channels, 2, 1)

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        """Backbone features of (B, 3, S, S) crops holding RGB values 0-255."""
        return self.backbone(crops / 255.0 - 0.5)

    def head(self, template_features: torch.Tensor, search_features: torch.Tensor
             ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Score logits (B, GRID * GRID) and offsets (B, GRID * GRID, 2) in cell units."""
        b, c = search_features.shape[:2]
        corr = F.conv2d(search_features.reshape(1, b * c, *search_features.shape[2:]),
                        template_features.reshape(b * c, 1, *template_features.shape[2:]), groups=b * c)
        # dividing by the template area keeps the correlation's scale independent of the crop size
        corr = corr.reshape(b, c, GRID, GRID) / template_features[0, 0].numel()
        return self.score(corr).flatten(1), self.offset(corr).flatten(2).transpose(1, 2)

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.features(template), self.features(search))


def build_mytracker(size: str = "tiny") -> MyTrackerNet:
    """The network builder registered as ``mytracker``: random weights in ``size`` ('tiny' or 'paper')."""
    if size not in CHANNELS:
        raise ValueError(f"mytracker has sizes {sorted(CHANNELS)}, got {size!r}.")
    return MyTrackerNet(CHANNELS[size])


def cosine_window(device: Union[str, torch.device] = "cpu") -> torch.Tensor:
    """(GRID * GRID,) Hann window over the candidate grid, 1 at the centre."""
    hann = torch.hann_window(GRID + 2, periodic=False, device=device)[1:-1]
    return torch.outer(hann, hann).flatten()


@dataclass
class SearchResult:
    """One batched search step of B trackers, before a candidate is chosen.

    Attributes:
        crops: (B, 3, SEARCH_SIZE, SEARCH_SIZE) the network input, RGB 0-255.
        logits: (B, N) raw score logits (frame-level training's cross-entropy reads them).
        scores: (B, N) post-processed candidate scores in (0, 1).
        offsets: (B, N, 2) regressed sub-cell offsets, cell units.
        centres: (B, 2) search-region centres in image pixels (the state before the update).
        sides: (B,) search-region sides in image pixels.
    """

    crops: torch.Tensor
    logits: torch.Tensor
    scores: torch.Tensor
    offsets: torch.Tensor
    centres: torch.Tensor
    sides: torch.Tensor

    def to_crop(self, boxes_xywh: torch.Tensor) -> torch.Tensor:
        """Image-pixel boxes (B, 4) in the pixel frame of this step's search crops."""
        return boxes_to_crop_frame(boxes_xywh.to(self.centres), self.centres, self.sides, SEARCH_SIZE)


class MyTrackerCore:
    """The state and one step of B trackers; shared by the test-time tracker and the SLT adapter.

    Args:
        net: the network (its mode is left alone: the SLT actor or the test-time tracker sets it).
        window_influence: weight of the cosine window in the post-processed scores.
        device: where crops and state live.
    """

    def __init__(self, net: MyTrackerNet, window_influence: float = WINDOW_INFLUENCE,
                 device: Union[str, torch.device] = "cpu"):
        self.net = net
        self.window_influence = float(window_influence)
        self.device = torch.device(device)
        self.window = cosine_window(self.device)
        self.template_features: Optional[torch.Tensor] = None
        self.centres = torch.zeros(0, 2, device=self.device)
        self.sizes = torch.zeros(0, 2, device=self.device)
        self.image_hw = torch.zeros(0, 2, device=self.device)

    def postprocess(self, logits: torch.Tensor) -> torch.Tensor:
        """Candidate scores in (0, 1): the foreground probability mixed with the cosine window."""
        return torch.sigmoid(logits) * (1 - self.window_influence) + self.window * self.window_influence

    def initialize(self, frames, boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Template crops of the B targets and the starting states; returns ``{'template_crop': ...}``."""
        images, image_hw, index = stack_frames(frames, device=self.device)
        boxes = boxes_xywh.to(self.device, torch.float32)
        start = boxes if start_boxes_xywh is None else start_boxes_xywh.to(self.device, torch.float32)
        side = TEMPLATE_CONTEXT * (boxes[:, 2] * boxes[:, 3]).clamp_min(1.0).sqrt()
        template = crop_square(images, image_hw, boxes[:, :2] + boxes[:, 2:] / 2, side, TEMPLATE_SIZE,
                               image_index=index)
        self.template_features = self.net.features(template)
        self.centres = start[:, :2] + start[:, 2:] / 2
        self.sizes = start[:, 2:].clone()
        self.image_hw = image_hw if index is None else image_hw[index]
        return {"template_crop": template}

    def search(self, frames) -> SearchResult:
        """Crop every tracker's search region, run the network once and post-process the scores."""
        images, image_hw, index = stack_frames(frames, device=self.device)
        sides = SEARCH_CONTEXT * (self.sizes[:, 0] * self.sizes[:, 1]).clamp_min(1.0).sqrt()
        crops = crop_square(images, image_hw, self.centres, sides, SEARCH_SIZE, image_index=index)
        logits, offsets = self.net.head(self.template_features, self.net.features(crops))
        return SearchResult(crops, logits, self.postprocess(logits), offsets, self.centres.clone(), sides)

    def commit(self, result: SearchResult, actions: torch.Tensor) -> torch.Tensor:
        """Move each tracker to its chosen candidate; returns the new boxes (B, 4) xywh in image pixels."""
        rows = torch.arange(actions.numel(), device=self.device)
        cell = torch.stack([actions % GRID, actions // GRID], dim=1).to(torch.float32)
        target_crop = GRID_ORIGIN + CELL * (cell + result.offsets[rows, actions])
        shift = (target_crop - SEARCH_SIZE / 2) * (result.sides / SEARCH_SIZE).unsqueeze(1)
        # keep the centre on the image, so a lost tracker can still find its way back
        upper = self.image_hw.flip(1) - 1
        self.centres = torch.minimum(torch.clamp(result.centres + shift, min=0.0), upper)
        return torch.cat([self.centres - self.sizes / 2, self.sizes], dim=1)


def candidate_targets(gt_crop_xywh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training targets from ground truth in search-crop pixels (M, 4).

    Returns:
        (index (M,) long of the candidate nearest the target centre, offset (M, 2) from that
        candidate to the centre in cell units, inside (M,) bool: the centre lies on the grid).
    """
    cells = (gt_crop_xywh[:, :2] + gt_crop_xywh[:, 2:] / 2 - GRID_ORIGIN) / CELL
    nearest = cells.round().clamp(0, GRID - 1)
    inside = ((cells >= -0.5) & (cells <= GRID - 0.5)).all(dim=1)
    index = (nearest[:, 1] * GRID + nearest[:, 0]).long()
    return index, cells - nearest, inside


def classification_loss(logits: torch.Tensor, gt_crop_xywh: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the score logits (M, N) against the candidate nearest the target, over ``mask``.

    Divided by M rather than by the masked count, so chunked SLT replay sums exactly.
    """
    index, _, inside = candidate_targets(gt_crop_xywh)
    keep = (mask & inside).to(logits)
    return (F.cross_entropy(logits, index, reduction="none") * keep).sum() / max(logits.shape[0], 1)


def offset_loss(offsets: torch.Tensor, gt_crop_xywh: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 of the offset (M, N, 2) regressed at the candidate nearest the target, over ``mask``, divided by M."""
    index, target, inside = candidate_targets(gt_crop_xywh)
    rows = torch.arange(offsets.shape[0], device=offsets.device)
    err = (offsets[rows, index] - target).abs().sum(dim=1)
    return (err * (mask & inside).to(err)).sum() / max(offsets.shape[0], 1)
