"""Batched TrDiMP tracking: B independent trackers stepped in lockstep by one set of tensor ops.

The test-time tracker (:class:`pytracking.tracker.trdimp.trdimp.TrDiMP`) runs this core with
B = 1; the SLT adapter (:mod:`pytracking.tracker.trdimp.slt_adapter`) runs it with B = all
rollouts of an iteration. Both call :meth:`TrDiMPCore.search` (crop, network, scores,
localisation) and then :meth:`TrDiMPCore.commit` with the index of the chosen score-map cell,
so an SLT argmax rollout makes exactly the decisions evaluation makes.

Procedure per tracker (the TrDiMP / SuperDiMP test-time recipe):

* **initialise**: crop an enlarged first-frame patch, make augmented train samples from it
  (identity, relative shifts, horizontal flip, blurs, rotations; feature dropout copies),
  encode their classification features as the transformer memory, decode them against it,
  learn the target filter with the DiMP optimiser, fill the sample memory, and compute the
  IoU-Net modulation from the un-augmented sample;
* **search**: square crop of side ``sqrt(search_area_scale^2 w h)`` (kept inside the image,
  ``border_mode='inside_major'``), backbone, decoder against the tracker's memory, filter
  scores, then localisation (plain argmax, or the advanced localisation with not-found /
  uncertain / hard-negative flags);
* **commit**: move to the chosen cell, refine the box with the IoU-Net (random jittered
  initial boxes, gradient ascent in the relative box space, top-k average), then update the
  sample memory, run a few filter-optimiser steps, and every few frames push the frame into
  the transformer memory.

Layouts. Everything per tracker has a leading B dimension (state, filters, generators),
except the DiMP-style image stacks, which are ``(images, B, ...)`` as the network expects.
Per-tracker memories are padded tensors with counts: the sample memory has a fixed capacity
and unused slots carry weight 0 (they add nothing to the filter objective); the transformer
memory keeps the newest frame first, so the valid entries of a tracker are always the first
``tf_count[b]`` ones and trackers with equal counts are decoded together by the network's own
transformer modules (no attention masks, hence no duplicated transformer code).

Coordinates. Image positions are continuous pixels (pixel ``i`` covers ``[i, i+1)``, so a box
``xywh`` has centre ``(x + w/2, y + h/2)``) in ``(x, y)`` order; boxes inside a crop are
``xywh`` in crop pixels of the ``image_sample_size`` crop. The reference implementation uses
0-based pixel-index centres in ``(y, x)`` order; the two differ by half a pixel in where a box
is said to start, not in what the tracker does.

Randomness (augmentation shifts, dropout masks, IoU-Net box jitter) comes from one
``torch.Generator`` per tracker, seeded at :meth:`TrDiMPCore.initialize`; a tracker's draws do
not depend on the other trackers of the batch, so a batch of B equals B runs of one.

What is batched: crops, network passes, filter scores, localisation, IoU-Net refinement,
memory bookkeeping. Groups rather than one pass: the filter optimiser runs once per distinct
iteration count (at most two groups: hard-negative and regular updates) and the transformer
once per distinct memory size.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ltr.data.crop import to_model_input
from pytracking.tracker.common.frames import crop_regions
from pytracking.tracker.common.tracker_state import BatchedTrackerState
from pytracking.utils.params import TrackerParams

__all__ = ["TrDiMPTrackingConfig", "TrDiMPCore", "TrDiMPSearch", "InitSamples", "FLAG_NAMES",
           "FLAG_NORMAL", "FLAG_NOT_FOUND", "FLAG_UNCERTAIN", "FLAG_HARD_NEGATIVE", "rect_to_rel", "rel_to_rect"]

#: Localisation flags (per tracker, per frame).
FLAG_NORMAL, FLAG_NOT_FOUND, FLAG_UNCERTAIN, FLAG_HARD_NEGATIVE = 0, 1, 2, 3
FLAG_NAMES: Tuple[str, ...] = ("normal", "not_found", "uncertain", "hard_negative")

_DEFAULT_AUGMENTATION: Dict[str, Any] = {
    "fliplr": True,
    "rotate": [10, -10, 45, -45],
    "blur": [(3, 1), (1, 3), (2, 2)],
    "relativeshift": [(0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6)],
    "dropout": (2, 0.2),
}


@dataclass
class TrDiMPTrackingConfig:
    """Test-time parameters of TrDiMP (names as in the reference parameter files).

    Lengths are pixels of the ``image_sample_size`` crop unless stated otherwise. The
    defaults are the official ``trdimp`` parameter set.
    """

    image_sample_size: int = 22 * 16
    search_area_scale: float = 6.0
    border_mode: str = "inside_major"          # 'inside_major', 'inside' or 'replicate'
    patch_max_scale_change: Optional[float] = 1.5
    # sample memory and online filter learning
    sample_memory_size: int = 50
    learning_rate: float = 0.01
    init_samples_minimum_weight: Optional[float] = 0.25
    train_skipping: int = 20
    train_sample_interval: int = 1
    update_classifier: bool = True
    net_opt_iter: int = 10
    net_opt_update_iter: int = 2
    net_opt_hn_iter: int = 1
    # transformer memory
    transformer_skipping: float = 5
    transformer_memory_size: int = 20
    # first-frame augmentation
    use_augmentation: bool = True
    augmentation: Dict[str, Any] = field(default_factory=lambda: dict(_DEFAULT_AUGMENTATION))
    augmentation_expansion_factor: Optional[float] = 2.0
    random_shift_factor: float = 1.0 / 3.0
    # localisation
    score_preprocess: str = "none"              # 'none' or 'softmax' (display only; see localize)
    score_norm_meanmax: Tuple[float, float] = (-7.0, 7.0)   # mean -> lo, max -> hi before 'softmax'
    advanced_localization: bool = True
    target_not_found_threshold: float = 0.25
    uncertain_threshold: float = -math.inf
    hard_sample_threshold: float = -math.inf
    distractor_threshold: float = 0.8
    hard_negative_threshold: float = 0.5
    target_neighborhood_scale: float = 2.2
    displacement_scale: float = 0.8             # 'dispalcement_scale' in the reference files
    hard_negative_learning_rate: Optional[float] = 0.02
    update_scale_when_uncertain: bool = True
    target_inside_ratio: float = 0.2
    # IoU-Net box refinement
    use_iou_net: bool = True
    box_refinement_space: str = "relative"      # 'relative' or 'default'
    iounet_k: int = 3
    num_init_random_boxes: int = 9
    box_jitter_pos: float = 0.1
    box_jitter_sz: float = 0.5
    maximal_aspect_ratio: float = 6.0
    box_refinement_iter: int = 10
    box_refinement_step_length: Union[float, Tuple[float, float]] = 2.5e-3
    box_refinement_step_decay: float = 1.0
    # random source of every tracker (augmentation shifts, dropout, box jitter)
    seed: int = 0

    @classmethod
    def from_params(cls, params: TrackerParams) -> "TrDiMPTrackingConfig":
        """Read every known field from ``params`` (missing ones keep the defaults)."""
        values: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if params.has(f.name):
                values[f.name] = params.get(f.name)
        if params.has("dispalcement_scale") and not params.has("displacement_scale"):
            values["displacement_scale"] = params.get("dispalcement_scale")
        for name in ("window_output", "iounet_augmentation", "use_image_aspect_ratio"):
            if params.get(name, False):
                raise ValueError(f"TrDiMP parameter {name}=True is not supported by this implementation "
                                 f"(the official TrDiMP sets use False)")
        if list(params.get("scale_factors", [1])) not in ([1], [1.0]):
            raise ValueError("TrDiMP here searches at a single scale; scale_factors must be [1]")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Reject settings this implementation does not support, with the reason."""
        if self.border_mode not in ("inside_major", "inside", "replicate"):
            raise ValueError(f"border_mode must be 'inside_major', 'inside' or 'replicate', got {self.border_mode!r}")
        if self.score_preprocess not in ("none", "softmax"):
            raise ValueError(f"score_preprocess must be 'none' or 'softmax', got {self.score_preprocess!r}")
        if self.box_refinement_space not in ("relative", "default"):
            raise ValueError(f"box_refinement_space must be 'relative' or 'default', got {self.box_refinement_space!r}")
        unknown = set(self.augmentation) - {"fliplr", "rotate", "blur", "relativeshift", "shift", "dropout"}
        if unknown:
            raise ValueError(f"unsupported augmentations {sorted(unknown)}; supported: fliplr, rotate, blur, "
                             f"relativeshift, shift, dropout")

    @property
    def updates_transformer_memory(self) -> bool:
        """Whether frames are ever pushed into the transformer memory.

        The LaSOT parameter sets switch the update off with ``transformer_skipping = 0.1`` and
        ``transformer_memory_size = -1``: ``(frame - 1) % 0.1`` is never exactly 0 in floating
        point. Here any non-integer skipping or non-positive size means "never".
        """
        skip = self.transformer_skipping
        return (self.update_classifier and self.transformer_memory_size > 0 and skip >= 1
                and float(skip).is_integer())


@dataclass
class InitSamples:
    """The augmented first-frame train samples of B trackers (what SLT replay re-runs).

    Attributes:
        train_input: (N, B, 3, S, S) network input (ImageNet-normalised RGB) of the N image
            augmentations, identity first.
        train_boxes: (N + D, B, 4) target boxes ``xywh`` in crop pixels of every train sample
            (the D feature-dropout copies of the identity sample last).
        dropout_masks: (D, B, C) channel multipliers of the dropout copies (0 or 1/(1-p)).
    """

    train_input: torch.Tensor
    train_boxes: torch.Tensor
    dropout_masks: torch.Tensor


@dataclass
class TrDiMPSearch:
    """One search step of B trackers (the output of :meth:`TrDiMPCore.search`).

    Attributes:
        search_input: (B, 3, S, S) network input of the search crops.
        crops: (B, 3, S, S) the same crops as RGB 0-255 (for display).
        backbone_feat: the backbone maps of the crops (IoU-Net refinement reuses them).
        test_feat: (B, C, H, W) decoded classification features (the filter's input, and the
            online train sample of this frame).
        clf_feat: (B, C, H, W) classification features before the transformer (pushed into the
            transformer memory).
        scores: (B, h, w) raw filter scores.
        crop_center_xy: (B, 2) centre of each crop, image pixels (the sample position).
        crop_side: (B,) side of each crop, image pixels.
        flags: (B,) long localisation flag (``FLAG_*``).
        choice: (B,) long flat score-map index the test-time tracker moves to.
    """

    search_input: torch.Tensor
    crops: torch.Tensor
    backbone_feat: Dict[str, torch.Tensor]
    test_feat: torch.Tensor
    clf_feat: torch.Tensor
    scores: torch.Tensor
    crop_center_xy: torch.Tensor
    crop_side: torch.Tensor
    flags: torch.Tensor
    choice: torch.Tensor

    @property
    def sample_scale(self) -> torch.Tensor:
        """(B,) image pixels per crop pixel."""
        return self.crop_side / self.search_input.shape[-1]


def rect_to_rel(boxes_xywh: torch.Tensor, sz_norm: torch.Tensor) -> torch.Tensor:
    """Boxes (..., 4) ``xywh`` -> relative parameters (cx / w0, cy / h0, log w, log h) for sizes ``sz_norm``."""
    center = boxes_xywh[..., :2] + 0.5 * boxes_xywh[..., 2:]
    return torch.cat((center / sz_norm, boxes_xywh[..., 2:].log()), dim=-1)


def rel_to_rect(rel: torch.Tensor, sz_norm: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rect_to_rel`."""
    size = rel[..., 2:].exp()
    center = rel[..., :2] * sz_norm
    return torch.cat((center - 0.5 * size, size), dim=-1)


@dataclass(frozen=True)
class _Augmentation:
    kind: str                 # 'identity', 'translation', 'fliplr', 'blur', 'rotate'
    param: Any = None         # translation (dy, dx) px, blur sigma (sy, sx), rotation degrees
    random_shift: bool = False


class TrDiMPCore(BatchedTrackerState):
    """B TrDiMP trackers in lockstep (see the module docstring).

    Args:
        net: a :class:`ltr.models.tracking.trdimp.TrDiMPNet` (the caller chooses its mode;
            trackers and SLT use eval mode).
        config: test-time parameters.
        device: where crops and the network run.
    """

    def __init__(self, net: torch.nn.Module, config: TrDiMPTrackingConfig,
                 device: Union[str, torch.device] = "cpu") -> None:
        config.validate()
        self.net = net
        self.cfg = config
        self.device = torch.device(device)
        self.sample_size = int(config.image_sample_size)
        self.filter_size = int(net.classifier.filter_size)
        stride = int(getattr(getattr(net, "config", None), "feat_stride", 16))
        self.feature_size = self.sample_size // stride
        self.score_size = self.feature_size + (self.filter_size + 1) % 2
        self.augmentations = self._augmentation_list()
        self.num_dropout, self.dropout_prob = (tuple(config.augmentation["dropout"])
                                               if config.use_augmentation and "dropout" in config.augmentation
                                               else (0, 0.0))
        self.num_dropout = int(self.num_dropout)
        self._batch_size = 0
        #: (B,) long: frames each tracker has seen, its first frame included (the reference's
        #: ``frame_num``); per tracker, since trackers started at different times run side by side.
        self.frame_nums = torch.zeros(0, dtype=torch.long)

    @property
    def batch_size(self) -> int:
        """Number of trackers."""
        return self._batch_size

    def _set_batch_size(self, size: int) -> None:
        self._batch_size = int(size)

    @property
    def frame_num(self) -> int:
        """Frames seen by the first tracker (the test-time tracker's frame number, B = 1)."""
        return int(self.frame_nums[0]) if self.frame_nums.numel() else 0

    # ------------------------------------------------------------------ geometry helpers
    @property
    def output_size(self) -> int:
        """Score cells per crop side (score size without the extra cell of an even filter)."""
        return self.score_size - (self.filter_size + 1) % 2

    @property
    def cell_px(self) -> float:
        """Crop pixels per score cell."""
        return self.sample_size / self.output_size

    def crop_box(self, pos_xy: torch.Tensor, size_wh: torch.Tensor, sample_pos: torch.Tensor,
                 sample_scale: torch.Tensor) -> torch.Tensor:
        """Boxes (B, 4) ``xywh`` in crop pixels of targets at ``pos_xy`` / ``size_wh`` (image pixels)."""
        scale = sample_scale.reshape(-1, 1)
        center = (pos_xy - sample_pos) / scale + self.sample_size / 2
        size = size_wh / scale
        return torch.cat((center - size / 2, size), dim=1)

    def _set_target(self, pos: torch.Tensor, size: torch.Tensor) -> None:
        """Set position, size, search scale and scale bounds of every tracker (image pixels)."""
        cfg = self.cfg
        self.pos = pos.clone()
        self.target_sz = size.clone()
        search_area = (size * cfg.search_area_scale).prod(dim=1)
        self.target_scale = search_area.sqrt() / self.sample_size
        self.base_target_sz = size / self.target_scale[:, None]
        self.min_scale_factor = (10.0 / self.base_target_sz).amax(dim=1)
        self.max_scale_factor = (self.image_wh / self.base_target_sz).amin(dim=1)

    def _sample_region(self, center: torch.Tensor, side: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Apply the border mode: shrink (up to ``patch_max_scale_change``) and shift crops inside.

        'inside_major' shrinks a region that is larger than the image in both dimensions until
        it fits the larger image side, then shifts it inside the image; a dimension that is
        still larger than the region stays centred on the image. The reference cuts integer
        pixel windows with replicated borders; here the region stays continuous and the rare
        part outside the image is filled with the image mean (see :func:`crop_square`).
        """
        mode = self.cfg.border_mode
        if mode == "replicate":
            return center, side
        ratio = side[:, None] / self.image_wh
        shrink = ratio.amax(dim=1) if mode == "inside" else ratio.amin(dim=1)
        max_change = self.cfg.patch_max_scale_change
        shrink = shrink.clamp(min=1.0) if max_change is None else shrink.clamp(min=1.0, max=float(max_change))
        side = side / shrink
        half = side[:, None] / 2
        inside = torch.minimum(torch.maximum(center, half), self.image_wh - half)
        center = torch.where(side[:, None] > self.image_wh, self.image_wh / 2, inside)
        return center, side

    # ------------------------------------------------------------------ initialisation
    def _augmentation_list(self) -> List[_Augmentation]:
        cfg = self.cfg
        augs = [_Augmentation("identity")]
        table = cfg.augmentation if cfg.use_augmentation else {}
        for shift in table.get("shift", []):
            augs.append(_Augmentation("translation", (int(shift[0]), int(shift[1]))))
        for shift in table.get("relativeshift", []):
            # truncation toward zero, as the reference's .long()
            augs.append(_Augmentation("translation", (int(shift[0] * self.sample_size / 2),
                                                      int(shift[1] * self.sample_size / 2))))
        if table.get("fliplr", False):
            augs.append(_Augmentation("fliplr", None, True))
        for sigma in table.get("blur", []):
            sigma = (float(sigma), float(sigma)) if isinstance(sigma, (int, float)) else tuple(map(float, sigma))
            augs.append(_Augmentation("blur", sigma, True))
        for angle in table.get("rotate", []):
            augs.append(_Augmentation("rotate", float(angle), True))
        return augs

    def _expansion_size(self) -> int:
        factor = self.cfg.augmentation_expansion_factor
        size = self.sample_size
        if factor is None or factor == 1:
            return size
        expanded = int(size * factor)
        return expanded + (expanded - size) % 2   # keep (expanded - size) even: windows stay centred

    def _random_shifts(self) -> torch.Tensor:
        """(N, B, 2) integer (dy, dx) shift of every augmentation for every tracker."""
        factor = self.cfg.random_shift_factor
        shifts = torch.zeros(len(self.augmentations), self.batch_size, 2, dtype=torch.long)
        for n, aug in enumerate(self.augmentations):
            if aug.kind == "translation":
                shifts[n, :] = torch.tensor(aug.param, dtype=torch.long)
        for b, gen in enumerate(self.generators):
            for n, aug in enumerate(self.augmentations):
                if aug.random_shift and factor > 0:
                    draw = (torch.rand(2, generator=gen, dtype=torch.float32) - 0.5) * self.sample_size * factor
                    shifts[n, b] = draw.long()   # truncation toward zero
        return shifts

    @staticmethod
    def _gaussian_matrix(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """(size, size) matrix of a 1-D Gaussian blur with zero borders: row i holds the taps of
        output pixel i (kernel radius ceil(2 sigma), normalised over the full kernel)."""
        radius = math.ceil(2 * sigma)
        coord = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
        kernel = torch.exp(-coord ** 2 / (2 * sigma ** 2))
        kernel = kernel / kernel.sum()
        offset = torch.arange(size, device=device).reshape(1, -1) - torch.arange(size, device=device).reshape(-1, 1)
        inside = offset.abs() <= radius
        return torch.where(inside, kernel[(offset + radius).clamp(0, 2 * radius)], torch.zeros((), dtype=dtype,
                                                                                              device=device))

    def _blurred_window(self, patch: torch.Tensor, sigma: Tuple[float, float], rows: torch.Tensor,
                        cols: torch.Tensor) -> torch.Tensor:
        """Window ``rows`` x ``cols`` (B, S each) of the Gaussian-blurred patches (B, 3, A, A).

        Equal to blurring the whole patch separably with zero borders (sigmas (sy, sx)) and then
        taking the window, but only the S x S output pixels are computed, as two batched matmuls
        with the rows of the blur matrices: several times faster on a CPU than 1-channel
        convolutions over the whole A x A patch.
        """
        size = patch.shape[-1]
        blur_y = self._gaussian_matrix(size, sigma[0], patch.dtype, patch.device)[rows]     # (B, S, A)
        blur_x = self._gaussian_matrix(size, sigma[1], patch.dtype, patch.device)[cols]     # (B, S, A)
        return blur_y[:, None] @ patch @ blur_x[:, None].transpose(-1, -2)                  # (B, 3, S, S)

    def _window_index(self, shift: torch.Tensor, expanded: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Row and column indices (B, S) of the output window in the expanded patch, clamped
        to the patch (replicated borders). ``shift`` (B, 2) is (dy, dx): positive moves content."""
        offset = (expanded - self.sample_size) // 2
        grid = torch.arange(self.sample_size, device=self.device).reshape(1, -1) + offset
        rows = (grid - shift[:, 0:1].to(self.device)).clamp(0, expanded - 1)
        cols = (grid - shift[:, 1:2].to(self.device)).clamp(0, expanded - 1)
        return rows, cols

    def _augment(self, patch: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
        """Augmented (N, B, 3, S, S) windows of the expanded first-frame patches (B, 3, A, A)."""
        batch, expanded = patch.shape[0], patch.shape[-1]
        bidx = torch.arange(batch, device=self.device).reshape(-1, 1, 1)
        out = []
        for n, aug in enumerate(self.augmentations):
            rows, cols = self._window_index(shifts[n], expanded)
            if aug.kind == "rotate":
                # cv2.warpAffine semantics: destination pixel p samples the source at R^-1 (p - c) + c
                # around the patch centre c, with replicated borders.
                angle = math.radians(aug.param)
                c = (expanded - 1) / 2
                px = cols.to(patch.dtype)[:, None, :].expand(-1, self.sample_size, -1) - c
                py = rows.to(patch.dtype)[:, :, None].expand(-1, -1, self.sample_size) - c
                sx = math.cos(angle) * px - math.sin(angle) * py + c
                sy = math.sin(angle) * px + math.cos(angle) * py + c
                grid = torch.stack((sx, sy), dim=-1) * (2.0 / (expanded - 1)) - 1.0
                out.append(F.grid_sample(patch, grid, mode="bilinear", padding_mode="border", align_corners=True))
                continue
            if aug.kind == "blur":
                out.append(self._blurred_window(patch, aug.param, rows, cols))
                continue
            src = patch.flip(-1) if aug.kind == "fliplr" else patch
            window = src[bidx, :, rows[:, :, None], cols[:, None, :]]      # (B, S, S, 3)
            out.append(window.permute(0, 3, 1, 2))
        return torch.stack(out)

    #: Per-tracker state that :meth:`initialize` sets, with the dimension that indexes the
    #: trackers (``iou_modulation`` is a list over IoU-Net levels; ``generators`` a list over trackers).
    TRACKER_STATE_DIMS = {"pos": 0, "target_sz": 0, "target_scale": 0, "base_target_sz": 0,
                          "min_scale_factor": 0, "max_scale_factor": 0, "image_wh": 0, "target_filter": 0,
                          "tf_feat": 1, "tf_label": 1, "tf_tokens": 1, "tf_count": 0, "samples": 1,
                          "sample_boxes": 1, "sample_weights": 0, "num_stored": 0, "previous_replace": 0,
                          "iou_modulation": 0, "frame_nums": 0}
    TRACKER_STATE_LISTS = ("generators",)

    @torch.no_grad()
    def initialize(self, frames: Union[Sequence[np.ndarray], torch.Tensor], boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None,
                   seeds: Optional[Sequence[int]] = None) -> InitSamples:
        """Start B trackers on their first frames.

        Trackers that start identically (the same frame array object, target box, start box
        and seed: the argmax and sampling SLT rollouts of one episode) are initialised once
        and copied, random-source state included; their first-frame work (13 augmented
        samples through the backbone, the transformer encoder) dominates short episodes.

        Args:
            frames: B RGB uint8 images (H x W x 3) or a (B, H, W, 3) uint8 tensor.
            boxes_xywh: (B, 4) targets in image pixels.
            start_boxes_xywh: (B, 4) state to start tracking from (image pixels); default the
                target boxes. The target model always comes from ``boxes_xywh``.
            seeds: one seed per tracker for its random source; default ``config.seed`` for all
                (the SLT argmax and sampling trackers of an episode then draw the same
                augmentations, as in the reference).

        Returns:
            The augmented train samples (replay learns the filter from them again).
        """
        batch = len(frames)
        seeds = [self.cfg.seed] * batch if seeds is None else list(seeds)
        boxes = boxes_xywh.reshape(batch, 4)
        start = None if start_boxes_xywh is None else start_boxes_xywh.reshape(batch, 4)
        unique, inverse = self._identical_starts(frames, boxes, start, seeds)
        if len(unique) == batch:
            return self._initialize(frames, boxes, start, seeds)
        samples = self._initialize([frames[i] for i in unique], boxes[unique],
                                   None if start is None else start[unique], [seeds[i] for i in unique])
        self.keep_trackers(inverse)
        index = inverse.to(samples.train_input.device)
        return InitSamples(train_input=samples.train_input[:, index], train_boxes=samples.train_boxes[:, index],
                           dropout_masks=samples.dropout_masks[:, index])

    @staticmethod
    def _identical_starts(frames: Union[Sequence[np.ndarray], torch.Tensor], boxes: torch.Tensor,
                          start: Optional[torch.Tensor], seeds: Sequence[int]) -> Tuple[List[int], torch.Tensor]:
        """(first tracker of each distinct start, (B,) index of each tracker's distinct start)."""
        if isinstance(frames, torch.Tensor):  # a stacked batch: no identity to match on
            return list(range(len(seeds))), torch.arange(len(seeds))
        keys: Dict[Any, int] = {}
        unique: List[int] = []
        inverse = []
        for b in range(len(seeds)):
            key = (id(frames[b]), tuple(boxes[b].tolist()),
                   None if start is None else tuple(start[b].tolist()), int(seeds[b]))
            if key not in keys:
                keys[key] = len(unique)
                unique.append(b)
            inverse.append(keys[key])
        return unique, torch.tensor(inverse, dtype=torch.long)

    def _initialize(self, frames: Union[Sequence[np.ndarray], torch.Tensor], boxes_xywh: torch.Tensor,
                    start_boxes_xywh: Optional[torch.Tensor], seeds: Sequence[int]) -> InitSamples:
        """:meth:`initialize` for B trackers, each computed on its own."""
        cfg, net = self.cfg, self.net
        batch = len(frames)
        self._batch_size = batch
        if len(seeds) != batch:
            raise ValueError(f"{len(seeds)} seeds for {batch} trackers")
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.frame_nums = torch.ones(batch, dtype=torch.long, device=self.device)
        self.image_wh = torch.tensor([[int(f.shape[1]), int(f.shape[0])] for f in frames], dtype=torch.float64,
                                     device=self.device)
        boxes = boxes_xywh.to(device=self.device, dtype=torch.float64).reshape(batch, 4)
        self._set_target(boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:])

        # --- augmented train samples from one enlarged patch per tracker
        expanded = self._expansion_size()
        init_scale = self.target_scale
        patch, _ = crop_regions(frames, self.pos, init_scale * expanded, expanded, self.device)
        shifts = self._random_shifts()
        crops = self._augment(patch, shifts)                                  # (N, B, 3, S, S)
        train_input = to_model_input(crops.flatten(0, 1), "rgb_imagenet")
        num_aug = len(self.augmentations)
        feat = net.extract_backbone_features(train_input)
        x = net.extract_classification_feat(feat)
        x = x.reshape(num_aug, batch, *x.shape[-3:])

        # Target box of each sample: the un-augmented box moved by the sample's shift.
        base_box = self.crop_box(self.pos, self.target_sz, self.pos, init_scale)   # (B, 4)
        shift_xy = shifts.flip(-1).to(device=self.device, dtype=torch.float64)      # (N, B, 2) (dx, dy)
        train_boxes = base_box.unsqueeze(0).repeat(num_aug, 1, 1)
        train_boxes[..., :2] += shift_xy

        # Feature dropout copies of the identity sample (channel dropout, one mask per copy).
        channels = x.shape[2]
        masks = torch.ones(self.num_dropout, batch, channels)
        if self.num_dropout > 0:
            for b, gen in enumerate(self.generators):
                keep = torch.rand(self.num_dropout, channels, generator=gen) >= self.dropout_prob
                masks[:, b] = keep.float() / (1.0 - self.dropout_prob)
            masks = masks.to(self.device)
            x = torch.cat((x, x[0:1] * masks[:, :, :, None, None].to(x.dtype)))
            train_boxes = torch.cat((train_boxes, base_box.unsqueeze(0).repeat(self.num_dropout, 1, 1)))
        masks = masks.to(self.device)
        train_boxes_f = train_boxes.float()
        self.feature_size = int(x.shape[-1])
        num_train = x.shape[0]

        # --- transformer memory (newest first; the initial samples in their order)
        capacity = max(num_train, cfg.transformer_memory_size) if cfg.updates_transformer_memory else num_train
        labels = net.make_train_label(train_boxes_f, tuple(x.shape[-2:]), (self.sample_size, self.sample_size))
        self.tf_feat = x.new_zeros(capacity, *x.shape[1:])
        self.tf_label = labels.new_zeros(capacity, *labels.shape[1:])
        self.tf_feat[:num_train] = x
        self.tf_label[:num_train] = labels
        self.tf_count = torch.full((batch,), num_train, dtype=torch.long)
        hw_tokens = x.shape[-1] * x.shape[-2]
        self.tf_tokens = x.new_zeros(capacity * hw_tokens, batch, x.shape[2])
        self._encode_memory(torch.arange(batch))

        # --- target filter on the decoded train samples
        decoded = self._decode(x, torch.arange(batch))
        self.target_filter, _, _ = net.classifier.get_filter(decoded, train_boxes_f, num_iter=cfg.net_opt_iter,
                                                             compute_losses=False)

        # --- sample memory: decoded features, boxes and weights; empty slots weigh 0
        if cfg.update_classifier:
            mem = max(cfg.sample_memory_size, num_train)
            self.samples = decoded.new_zeros(mem, *decoded.shape[1:])
            self.samples[:num_train] = decoded
            self.sample_boxes = train_boxes_f.new_zeros(mem, batch, 4)
            self.sample_boxes[:num_train] = train_boxes_f
            self.sample_weights = torch.zeros(batch, mem, dtype=torch.float64, device=self.device)
            self.sample_weights[:, :num_train] = 1.0 / num_train
            self.num_init_samples = num_train
            self.num_stored = torch.full((batch,), num_train, dtype=torch.long, device=self.device)
            self.previous_replace = torch.full((batch,), -1, dtype=torch.long, device=self.device)

        # --- IoU-Net modulation from the un-augmented sample
        if cfg.use_iou_net:
            iou_backbone = [feat[layer].reshape(num_aug, batch, *feat[layer].shape[-3:])[0]
                            for layer in net.bb_regressor_layer]
            modulation = net.bb_regressor.get_modulation(iou_backbone, train_boxes_f[0])
            self.iou_modulation = [m.reshape(batch, -1).detach() for m in modulation]

        if start_boxes_xywh is not None:
            start = start_boxes_xywh.to(device=self.device, dtype=torch.float64).reshape(batch, 4)
            self._set_target(start[:, :2] + start[:, 2:] / 2, start[:, 2:])
        return InitSamples(train_input=train_input.reshape(num_aug, batch, *train_input.shape[-3:]),
                           train_boxes=train_boxes_f, dropout_masks=masks)

    # ------------------------------------------------------------------ transformer memory
    def _count_groups(self, rows: torch.Tensor) -> List[Tuple[int, torch.Tensor]]:
        """Split tracker rows by transformer memory size: [(count, rows with that count)]."""
        counts = self.tf_count[rows.cpu()]
        return [(int(c), rows[counts == c]) for c in torch.unique(counts).tolist()]

    def _encode_memory(self, rows: torch.Tensor) -> None:
        """Re-encode the transformer memory of trackers ``rows`` (after it changed)."""
        encoder = self.net.classifier.transformer.encoder
        hw_tokens = self.tf_feat.shape[-1] * self.tf_feat.shape[-2]
        for count, idx in self._count_groups(rows):
            idx_d = idx.to(self.device)
            tokens, _ = encoder(self.tf_feat[:count, idx_d])
            self.tf_tokens[:count * hw_tokens, idx_d] = tokens

    def _decode(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Decode (N, R, C, H, W) features of trackers ``rows`` against their memories -> same shape."""
        decoder = self.net.classifier.transformer.decoder
        hw_tokens = x.shape[-1] * x.shape[-2]
        out = torch.empty_like(x)
        for count, idx in self._count_groups(rows):
            local = torch.nonzero(torch.isin(rows, idx), as_tuple=False).squeeze(1).to(self.device)
            idx_d = idx.to(self.device)
            _, maps = decoder(x[:, local], memory=self.tf_tokens[:count * hw_tokens, idx_d],
                              pos=self.tf_label[:count, idx_d])
            out[:, local] = maps.reshape(x.shape[0], local.numel(), *x.shape[-3:])
        return out

    # ------------------------------------------------------------------ tracking step
    @torch.no_grad()
    def search(self, frames: Union[Sequence[np.ndarray], torch.Tensor]) -> TrDiMPSearch:
        """Crop every tracker's search region, run the network once, score and localise.

        Has no effect on the trackers' state; :meth:`commit` applies the decision.
        """
        net = self.net
        count = len(frames)
        if count != self.batch_size:
            raise ValueError(f"{count} frames for {self.batch_size} trackers")
        # Centre the crop so that the target sits on a score cell (no shift for even filter + even features).
        parity = (self.feature_size + self.filter_size) % 2
        center = self.pos + parity * self.target_scale[:, None] * self.sample_size / (2 * self.feature_size)
        center, side = self._sample_region(center, self.target_scale * self.sample_size)
        crops, _ = crop_regions(frames, center, side, self.sample_size, self.device)
        search_input = to_model_input(crops, "rgb_imagenet")
        feat = net.extract_backbone_features(search_input)
        clf = net.extract_classification_feat(feat)                          # (B, C, H, W)
        test_x = self._decode(clf.unsqueeze(0), torch.arange(self.batch_size))[0]
        scores = net.classifier.classify(self.target_filter, test_x.unsqueeze(0))[0]   # (B, h, w)
        flags, choice = self.localize(scores, center, side / self.sample_size)
        return TrDiMPSearch(search_input=search_input, crops=crops, backbone_feat=feat, test_feat=test_x,
                            clf_feat=clf, scores=scores, crop_center_xy=center, crop_side=side,
                            flags=flags, choice=choice)

    def localize(self, scores: torch.Tensor, sample_pos: torch.Tensor,
                 sample_scale: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Flags and chosen cells of raw score maps (B, h, w) (the reference's localize_advanced).

        Localisation always reads the raw scores: with ``score_preprocess='softmax'`` the map
        is only normalised for display (and for the SLT policy), which keeps the argmax
        unchanged, as in the reference's SLT tracker.

        Returns:
            (flags (B,) long, choice (B,) long flat index into the h x w map).
        """
        cfg = self.cfg
        batch, height, width = scores.shape
        flat = scores.reshape(batch, -1)
        max1, idx1 = flat.max(dim=1)
        flags = torch.full((batch,), FLAG_NORMAL, dtype=torch.long, device=scores.device)
        if not cfg.advanced_localization:
            return flags, idx1
        row1, col1 = idx1 // width, idx1 % width
        center_rc = torch.tensor([(height - 1) / 2, (width - 1) / 2], dtype=torch.float64, device=scores.device)
        # Mask a neighbourhood of the peak sized target_neighborhood_scale x the target.
        cells = self.output_size / self.sample_size
        neigh = (cfg.target_neighborhood_scale * (self.target_sz / sample_scale[:, None]) * cells).to(scores.device)
        r1, c1 = row1.double(), col1.double()
        top = torch.round(r1 - neigh[:, 1] / 2).clamp(min=0)
        bottom = torch.round(r1 + neigh[:, 1] / 2 + 1).clamp(max=height)
        left = torch.round(c1 - neigh[:, 0] / 2).clamp(min=0)
        right = torch.round(c1 + neigh[:, 0] / 2 + 1).clamp(max=width)
        rr = torch.arange(height, device=scores.device, dtype=torch.float64).reshape(1, -1, 1)
        cc = torch.arange(width, device=scores.device, dtype=torch.float64).reshape(1, 1, -1)
        inside = ((rr >= top.reshape(-1, 1, 1)) & (rr < bottom.reshape(-1, 1, 1))
                  & (cc >= left.reshape(-1, 1, 1)) & (cc < right.reshape(-1, 1, 1)))
        masked = scores.masked_fill(inside, 0.0)
        max2, idx2 = masked.reshape(batch, -1).max(dim=1)
        row2, col2 = idx2 // width, idx2 % width

        disp1 = torch.stack((c1 - center_rc[1], r1 - center_rc[0]), dim=1)            # (x, y) cells
        disp2 = torch.stack((col2.double() - center_rc[1], row2.double() - center_rc[0]), dim=1)
        prev = ((self.pos - sample_pos) / (self.sample_size / self.output_size * sample_scale[:, None])).to(scores.device)
        norm1 = (disp1 - prev).norm(dim=1)
        norm2 = (disp2 - prev).norm(dim=1)
        threshold = cfg.displacement_scale * math.sqrt(height * width) / 2

        m1, m2 = max1.double(), max2.double()
        choice = idx1.clone()
        distractor = m2 > cfg.distractor_threshold * m1
        keep_first = distractor & (norm2 > threshold) & (norm1 < threshold)
        take_second = distractor & (norm2 < threshold) & (norm1 > threshold)
        flags = torch.where(distractor, torch.full_like(flags, FLAG_UNCERTAIN), flags)
        flags = torch.where(keep_first | take_second, torch.full_like(flags, FLAG_HARD_NEGATIVE), flags)
        choice = torch.where(take_second, idx2, choice)
        weak_distractor = (~distractor) & (m2 > cfg.hard_negative_threshold * m1) & (m2 > cfg.target_not_found_threshold)
        flags = torch.where(weak_distractor, torch.full_like(flags, FLAG_HARD_NEGATIVE), flags)

        # Score thresholds decide first (the reference returns before looking for distractors).
        flags = torch.where(m1 < cfg.hard_sample_threshold, torch.full_like(flags, FLAG_HARD_NEGATIVE), flags)
        flags = torch.where(m1 < cfg.uncertain_threshold, torch.full_like(flags, FLAG_UNCERTAIN), flags)
        flags = torch.where(m1 < cfg.target_not_found_threshold, torch.full_like(flags, FLAG_NOT_FOUND), flags)
        thresholded = m1 < max(cfg.target_not_found_threshold, cfg.uncertain_threshold, cfg.hard_sample_threshold)
        choice = torch.where(thresholded, idx1, choice)
        return flags, choice

    @torch.no_grad()
    def commit(self, result: TrDiMPSearch, index: torch.Tensor) -> torch.Tensor:
        """Move every tracker to its chosen cell ``index`` (B,) and update its models.

        ``index = result.choice`` is the test-time tracker. Any other cell (an SLT sample)
        replaces the peak the tracker would have moved to; flags, IoU-Net refinement and the
        model updates then run exactly as at test time.

        Returns:
            (B, 4) float64 boxes ``xywh`` in image pixels.
        """
        cfg = self.cfg
        self.frame_nums = self.frame_nums + 1
        height, width = result.scores.shape[-2:]
        index = index.to(self.device).long()
        sample_pos = result.crop_center_xy
        sample_scale = result.sample_scale
        disp = torch.stack(((index % width).double() - (width - 1) / 2,
                            (index // width).double() - (height - 1) / 2), dim=1)
        new_pos = sample_pos + disp * self.cell_px * sample_scale[:, None]
        flags = result.flags.to(self.device)
        found = flags != FLAG_NOT_FOUND

        if cfg.use_iou_net:
            self.pos = torch.where(found[:, None], self._clamp_inside(new_pos), self.pos)
            update_scale = torch.full_like(found, cfg.update_scale_when_uncertain) | (flags != FLAG_UNCERTAIN)
            rows = torch.nonzero(found, as_tuple=False).squeeze(1)
            if rows.numel() > 0:
                self._refine(result, rows, update_scale)
        else:
            scale = torch.maximum(torch.minimum(sample_scale, self.max_scale_factor), self.min_scale_factor)
            self.target_scale = torch.where(found, scale, self.target_scale)
            self.target_sz = torch.where(found[:, None], self.base_target_sz * self.target_scale[:, None],
                                         self.target_sz)
            self.pos = torch.where(found[:, None], self._clamp_inside(new_pos), self.pos)

        if cfg.update_classifier:
            update = found & (flags != FLAG_UNCERTAIN)
            hard = flags == FLAG_HARD_NEGATIVE
            if bool(update.any()):
                target_box = self.crop_box(self.pos, self.target_sz, sample_pos, sample_scale).float()
                self._update_classifier(result, target_box, update, hard)
        return torch.cat((self.pos - self.target_sz / 2, self.target_sz), dim=1)

    def _clamp_inside(self, pos: torch.Tensor) -> torch.Tensor:
        """Keep at least ``target_inside_ratio`` of the target inside the image."""
        offset = (self.cfg.target_inside_ratio - 0.5) * self.target_sz
        return torch.maximum(torch.minimum(pos, self.image_wh - offset), offset)

    # ------------------------------------------------------------------ IoU-Net refinement
    def _refine(self, result: TrDiMPSearch, rows: torch.Tensor, update_scale: torch.Tensor) -> None:
        """IoU-Net box refinement of trackers ``rows`` (all at once)."""
        cfg, net = self.cfg, self.net
        sample_pos = result.crop_center_xy[rows]
        sample_scale = result.sample_scale[rows]
        init_box = self.crop_box(self.pos[rows], self.target_sz[rows], sample_pos, sample_scale).float()  # (R, 4)
        boxes = init_box.unsqueeze(1)
        if cfg.num_init_random_boxes > 0:
            # One draw per refined tracker from its own generator: batch-independent.
            rand = torch.stack([torch.rand(cfg.num_init_random_boxes, 4, generator=self.generators[int(r)])
                                for r in rows.tolist()]).to(self.device)
            square = init_box[:, 2:].prod(dim=1).sqrt()
            factor = square[:, None] * torch.tensor([cfg.box_jitter_pos] * 2 + [cfg.box_jitter_sz] * 2,
                                                    device=self.device)
            jitter = (rand - 0.5) * factor[:, None, :]
            min_edge = init_box[:, 2:].amin(dim=1) / 3
            new_sz = torch.maximum(init_box[:, None, 2:] + jitter[..., 2:], min_edge[:, None, None])
            new_center = (init_box[:, :2] + init_box[:, 2:] / 2)[:, None, :] + jitter[..., :2]
            boxes = torch.cat((boxes, torch.cat((new_center - new_sz / 2, new_sz), dim=2)), dim=1)

        iou_feat = [f.detach() for f in net.bb_regressor.get_iou_feat(
            [result.backbone_feat[layer][rows] for layer in net.bb_regressor_layer])]
        modulation = [m[rows] for m in self.iou_modulation]
        out_boxes, out_iou = self._optimize_boxes(modulation, iou_feat, boxes)

        # Discard degenerate boxes, average the top-k of the rest.
        out_boxes = torch.cat((out_boxes[..., :2], out_boxes[..., 2:].clamp(min=1)), dim=-1)
        aspect = out_boxes[..., 2] / out_boxes[..., 3]
        valid = (aspect < cfg.maximal_aspect_ratio) & (aspect > 1.0 / cfg.maximal_aspect_ratio)
        k = min(int(cfg.iounet_k), out_iou.shape[1])
        ranked = out_iou.masked_fill(~valid, -math.inf)
        _, top = ranked.topk(k, dim=1)
        num_valid = valid.sum(dim=1)
        take = (torch.arange(k, device=self.device)[None, :] < num_valid[:, None]).to(out_boxes.dtype)
        chosen = out_boxes.gather(1, top[..., None].expand(-1, -1, 4))
        box = (chosen * take[..., None]).sum(dim=1) / take.sum(dim=1, keepdim=True).clamp(min=1)
        box = box.double()

        scale = sample_scale[:, None]
        new_pos = (box[:, :2] + box[:, 2:] / 2 - self.sample_size / 2) * scale + sample_pos
        new_sz = box[:, 2:] * scale
        new_scale = (new_sz.prod(dim=1) / self.base_target_sz[rows].prod(dim=1)).sqrt()
        ok = num_valid > 0            # no usable box: keep the classifier's position and the size
        self.pos[rows] = torch.where(ok[:, None], new_pos, self.pos[rows])
        self.target_sz[rows] = torch.where(ok[:, None], new_sz, self.target_sz[rows])
        self.target_scale[rows] = torch.where(ok & update_scale[rows], new_scale, self.target_scale[rows])

    def _optimize_boxes(self, modulation: List[torch.Tensor], iou_feat: List[torch.Tensor],
                        boxes: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Gradient ascent of the predicted IoU over boxes (R, P, 4) ``xywh`` in crop pixels.

        Returns the final boxes and the IoU predicted in the last iteration (for the boxes
        before its step, as in the reference).
        """
        cfg = self.cfg
        step = cfg.box_refinement_step_length
        if isinstance(step, (tuple, list)):
            step = torch.tensor([step[0], step[0], step[1], step[1]], device=self.device).reshape(1, 1, 4)
        bb_regressor = self.net.bb_regressor
        relative = cfg.box_refinement_space == "relative"
        sz_norm = boxes[:, :1, 2:].clone()
        state = rect_to_rel(boxes, sz_norm) if relative else boxes.clone()
        iou = boxes.new_zeros(boxes.shape[:2])
        # The caller may hold torch.no_grad(); only the boxes get gradients, never the weights.
        with torch.enable_grad():
            for _ in range(cfg.box_refinement_iter):
                var = state.detach().requires_grad_(True)
                bb = rel_to_rect(var, sz_norm) if relative else var
                iou = bb_regressor.predict_iou(modulation, iou_feat, bb)
                grad, = torch.autograd.grad(iou.sum(), var)
                if relative:
                    state = (var + step * grad).detach()
                else:
                    state = (var + step * grad * var[..., 2:].repeat(1, 1, 2)).detach()
                step = step * cfg.box_refinement_step_decay
        out = rel_to_rect(state, sz_norm) if relative else state
        return out.detach(), iou.detach()

    # ------------------------------------------------------------------ online model update
    def _update_sample_weights(self, rows: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """Update the memory weights of trackers ``rows``; returns the slot each new sample takes."""
        cfg = self.cfg
        weights = self.sample_weights[rows]
        stored = self.num_stored[rows]
        previous = self.previous_replace[rows]
        capacity = weights.shape[1]
        num_init = self.num_init_samples
        min_weight = cfg.init_samples_minimum_weight or None
        first_free = 0 if min_weight is None else num_init
        slots = torch.arange(capacity, device=self.device)
        candidates = weights.masked_fill(slots[None, :] < first_free, math.inf)
        replace = torch.where(stored < capacity, stored, candidates.argmin(dim=1))
        lr = lr.to(weights.dtype)
        first = previous < 0
        row_idx = torch.arange(rows.numel(), device=self.device)
        prev_weight = weights[row_idx, previous.clamp(min=0)]
        weights = torch.where(first[:, None], weights / (1 - lr[:, None]), weights)
        weights[row_idx, replace] = torch.where(first, lr, prev_weight / (1 - lr))
        weights = weights / weights.sum(dim=1, keepdim=True)
        if min_weight is not None:
            init_sum = weights[:, :num_init].sum(dim=1)
            low = init_sum < min_weight
            rescaled = weights / (min_weight + weights[:, num_init:].sum(dim=1, keepdim=True))
            rescaled[:, :num_init] = min_weight / num_init
            weights = torch.where(low[:, None], rescaled, weights)
        self.sample_weights[rows] = weights
        self.previous_replace[rows] = replace
        return replace

    def _update_classifier(self, result: TrDiMPSearch, target_box: torch.Tensor, update: torch.Tensor,
                           hard: torch.Tensor) -> None:
        """Sample memory, filter optimisation and transformer memory of the trackers in ``update``."""
        cfg, net = self.cfg, self.net
        rows = torch.nonzero(update, as_tuple=False).squeeze(1)
        hn_lr = cfg.hard_negative_learning_rate
        hard = hard & (hn_lr is not None)
        lr = torch.where(hard[rows], torch.tensor(hn_lr if hn_lr is not None else 0.0, device=self.device),
                         torch.tensor(cfg.learning_rate, device=self.device))

        frame_nums = self.frame_nums[rows]
        store = hard[rows] | (frame_nums % cfg.train_sample_interval == 0)
        store_rows = rows[store]
        if store_rows.numel() > 0:
            replace = self._update_sample_weights(store_rows, lr[store])
            self.samples[replace, store_rows] = result.test_feat[store_rows]
            self.sample_boxes[replace, store_rows] = target_box[store_rows]
            self.num_stored[store_rows] += 1

        regular = (frame_nums - 1) % cfg.train_skipping == 0
        num_iter = torch.where(hard[rows], torch.tensor(cfg.net_opt_hn_iter, device=self.device),
                               torch.where(regular, torch.tensor(cfg.net_opt_update_iter, device=self.device),
                                           torch.tensor(0, device=self.device)))
        for iters in torch.unique(num_iter).tolist():
            if iters <= 0:
                continue
            group = rows[num_iter == iters]
            self.target_filter[group], _, _ = net.classifier.filter_optimizer(
                self.target_filter[group], feat=self.samples[:, group], bb=self.sample_boxes[:, group],
                sample_weight=self.sample_weights[group].t().float(), num_iter=int(iters), compute_losses=False)

        if cfg.updates_transformer_memory:
            rows = rows[(frame_nums - 1) % int(cfg.transformer_skipping) == 0]
        if cfg.updates_transformer_memory and rows.numel() > 0:
            label = net.make_train_label(target_box[rows].unsqueeze(0), tuple(self.tf_feat.shape[-2:]),
                                         (self.sample_size, self.sample_size))[0]
            rows_d = rows.to(self.device)
            # Newest first: shift the rows' memories down by one (dropping the oldest when full).
            self.tf_feat[:, rows_d] = torch.cat((result.clf_feat[rows_d].unsqueeze(0), self.tf_feat[:-1, rows_d]))
            self.tf_label[:, rows_d] = torch.cat((label.unsqueeze(0), self.tf_label[:-1, rows_d]))
            rows_c = rows.cpu()
            self.tf_count[rows_c] = (self.tf_count[rows_c] + 1).clamp(max=self.tf_feat.shape[0])
            self._encode_memory(rows_c)

    # ------------------------------------------------------------------ display helpers
    def display_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """Score maps (B, h, w) as shown by the tracker (softmax after mean-max scaling if configured)."""
        if self.cfg.score_preprocess != "softmax":
            return scores
        flat = scores.reshape(scores.shape[0], -1)
        mean = flat.mean(dim=1, keepdim=True)
        peak = flat.amax(dim=1, keepdim=True)
        lo, hi = self.cfg.score_norm_meanmax
        norm = (flat - mean) / (peak - mean).clamp_min(torch.finfo(flat.dtype).tiny) * (hi - lo) + lo
        return torch.softmax(norm, dim=1).reshape(scores.shape)
