"""Frame-level processing for DiMP-family trackers (TrDiMP): train/test crops, labels and IoU-Net proposals.

A TrDiMP training sample is a small "sequence" from one video: ``Ntr`` train (template) frames,
from which the network learns its target filter, and ``Nte`` test (search) frames on which the
filter and the IoU-Net are evaluated (official: 3 + 3). Every frame is processed alike:

1. box jitter (PrDiMP/TrDiMP style, per frame): size ``wh' = wh * exp(N(0, 1) * scale_jitter)``,
   centre ``c' = c + sqrt(w' h') * center_jitter * (U(0, 1) - 0.5)`` per axis
   [template: centre 3, scale 0.25; search: centre 5.5, scale 0.5];
2. a square region of side ``sqrt(w' h') * search_area_factor`` [6] around ``c'``, moved into
   the image with the tracker's border mode (:func:`sample_region`, 'inside_major', at most
   1.5x shrink), cut and resized to ``output_sz`` [352 = 22 * 16] in one batched
   :func:`ltr.data.crop.crop_list` call for all frames;
3. augmentation: grey with probability 0.05 (all frames together), then per set (train, test)
   a brightness factor ``U(0.8, 1.2)`` and a horizontal flip with probability 0.5;
4. labels: ``template_label`` (Ntr, f, f), the Gaussian the transformer is conditioned on
   (sigma factor 0.1, the network's :func:`~ltr.models.tracking.trdimp.gaussian_train_label`),
   and ``search_label`` (Nte, f+1, f+1), the target of the classifier's hinge loss (sigma factor
   1/4/6 of the feature size, one extra row/column for the even 4x4 filter);
5. IoU-Net proposals on the test frames: ``boxes_per_frame`` [128] boxes from a two-component
   Gaussian mixture in relative box space around the ground truth [centre/size std (0.05, 0.05)
   and (0.5, 0.5)], with the proposal density and the label density [std (0.05, 0.05)] at each
   box, for the KL-regression loss.

The reference flips the whole images once for all frames before cropping and then each set's
crops again; a flip of the crops per set with probability 0.5 is the same distribution (the
crop regions are mirror-symmetric), so only that is done here. Borders are continuous regions
filled with the image mean where they leave the image, as the test-time tracker crops
(the reference replicates border pixels of integer windows).

Input: an item of :class:`ltr.data.sampler.FrameLevelSampler` with ``num_template_frames`` and
``num_search_frames`` set. Output: the item's metadata plus (float32 tensors)::

    template_images (Ntr, 3, S, S) RGB 0-255     search_images (Nte, 3, S, S) RGB 0-255
    template_anno   (Ntr, 4) xywh crop px         search_anno   (Nte, 4) xywh crop px
    template_label  (Ntr, f, f)                   search_label  (Nte, f+1, f+1)   (even filter)
    search_proposals (Nte, P, 4) xywh crop px     proposal_density, gt_density (Nte, P)
    valid: True (False when a box is empty; the sampler then draws again)

Randomness comes only from ``data['rng']`` (a numpy Generator; a fresh one when absent), so a
sample is a pure function of the sampler's per-item seed. :func:`stack_dimp_batch` collates
samples frames-first, ``(N, B, ...)``, the layout :class:`~ltr.models.tracking.trdimp.TrDiMPNet`
takes.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ltr.data.crop import boxes_to_crop_frame, crop_list
from ltr.models.tracking.trdimp import gaussian_train_label

__all__ = ["DiMPProcessing", "stack_dimp_batch", "sample_region", "gaussian_label_function", "sample_box_gmm",
           "OFFICIAL_PROPOSAL_PARAMS"]

#: ITU-R 601 luma weights, as OpenCV's RGB -> grey conversion used by the reference.
_GRAY_WEIGHTS = (0.299, 0.587, 0.114)

#: IoU-Net proposal distribution of TrDiMP's training (SLTtrack ``train_settings/trdimp/trdimp.py``).
OFFICIAL_PROPOSAL_PARAMS: Dict[str, Any] = {"boxes_per_frame": 128, "gt_sigma": (0.05, 0.05),
                                            "proposal_sigma": ((0.05, 0.05), (0.5, 0.5))}


def sample_region(center_xy: np.ndarray, side: np.ndarray, image_wh: np.ndarray, mode: str = "inside_major",
                  max_scale_change: Optional[float] = 1.5) -> Tuple[np.ndarray, np.ndarray]:
    """Fit square regions into their images the way the TrDiMP tracker does.

    ``'inside_major'`` shrinks a region larger than the image in both dimensions until it
    fits the larger image side (at most by ``max_scale_change``), then shifts it inside the
    image; along a dimension where it is still larger than the image it stays centred on the
    image. ``'inside'`` shrinks until it fits both sides; ``'replicate'`` leaves it unchanged.

    Args:
        center_xy: (N, 2) region centres (image px).
        side: (N,) region sides (px).
        image_wh: (N, 2) image (width, height).
        mode: 'inside_major', 'inside' or 'replicate'.
        max_scale_change: largest shrink factor (None: unbounded).

    Returns:
        (centres (N, 2), sides (N,)).
    """
    center_xy = np.asarray(center_xy, dtype=np.float64)
    side = np.asarray(side, dtype=np.float64)
    image_wh = np.asarray(image_wh, dtype=np.float64)
    if mode == "replicate":
        return center_xy, side
    if mode not in ("inside_major", "inside"):
        raise ValueError(f"border mode must be 'inside_major', 'inside' or 'replicate', got {mode!r}")
    ratio = side[:, None] / image_wh
    shrink = ratio.max(axis=1) if mode == "inside" else ratio.min(axis=1)
    upper = np.inf if max_scale_change is None else float(max_scale_change)
    side = side / np.clip(shrink, 1.0, upper)
    half = side[:, None] / 2
    inside = np.minimum(np.maximum(center_xy, half), image_wh - half)
    center = np.where(side[:, None] > image_wh, image_wh / 2, inside)
    return center, side


def gaussian_label_function(boxes_xywh: torch.Tensor, sigma_factor: float, kernel_sz: int, feature_sz: int,
                            image_sz: int, end_pad_if_even: bool = True) -> torch.Tensor:
    """Gaussian score labels centred on the targets, on the classifier's score grid.

    The grid has ``feature_sz`` cells (plus one when ``end_pad_if_even`` and the filter is even,
    which is the score map size of an even filter); the peak is at the target centre in cell
    units measured from the grid centre, shifted by half a cell for an even filter; the
    standard deviation is ``sigma_factor * feature_sz`` cells.

    Args:
        boxes_xywh: (N, 4) boxes in image-sample pixels.
        sigma_factor: relative standard deviation (TrDiMP: 1/4 / 6).
        kernel_sz: filter side.
        feature_sz: feature map side.
        image_sz: image sample side (px).
        end_pad_if_even: append a row and column for even filters.

    Returns:
        (N, L, L) labels, peak value up to 1.
    """
    boxes = boxes_xywh.reshape(-1, 4).to(torch.float32)
    even = int(kernel_sz % 2 == 0)
    end_pad = even if end_pad_if_even else 0
    center = boxes[:, :2] + 0.5 * boxes[:, 2:]
    center = feature_sz * (center - image_sz / 2) / image_sz + 0.5 * even
    sigma = sigma_factor * feature_sz
    k = torch.arange(feature_sz + end_pad, dtype=torch.float32) - (feature_sz - 1) / 2
    gx = torch.exp(-0.5 / sigma ** 2 * (k[None, :] - center[:, 0:1]) ** 2)
    gy = torch.exp(-0.5 / sigma ** 2 * (k[None, :] - center[:, 1:2]) ** 2)
    return gy[:, :, None] * gx[:, None, :]


def _gauss_density(x: np.ndarray, std: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * (x / std) ** 2) / (math.sqrt(2 * math.pi) * std)


def sample_box_gmm(box_xywh: np.ndarray, proposal_sigma: Sequence[Tuple[float, float]],
                   gt_sigma: Tuple[float, float], num_samples: int,
                   rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proposal boxes around one box from a Gaussian mixture in relative box space.

    The relative space is ``(cx / w0, cy / h0, log w, log h)`` with ``(w0, h0)`` the box's own
    size, so offsets are in units of the target size and log-scale. Each proposal takes a
    mixture component uniformly, then a Gaussian offset with that component's (centre, size)
    standard deviations.

    Args:
        box_xywh: (4,) the mean box.
        proposal_sigma: per component (centre std, size std).
        gt_sigma: (centre std, size std) of the label density.
        num_samples: proposals to draw.
        rng: random source.

    Returns:
        (proposals (P, 4) xywh, proposal density (P,), label density (P,)).
    """
    box = np.asarray(box_xywh, dtype=np.float64)
    center_std = np.array([s[0] for s in proposal_sigma], dtype=np.float64)
    size_std = np.array([s[1] for s in proposal_sigma], dtype=np.float64)
    std = np.stack([center_std, center_std, size_std, size_std])              # (4, components)
    component = rng.integers(std.shape[1], size=num_samples)
    offset = std[:, component].T * rng.standard_normal((num_samples, 4))      # (P, 4)
    # Mixture density: mean over components of the product over the four dimensions.
    proposal_density = _gauss_density(offset[:, :, None], std[None]).prod(axis=1).mean(axis=1)
    gt_std = np.array([gt_sigma[0], gt_sigma[0], gt_sigma[1], gt_sigma[1]], dtype=np.float64)
    gt_density = _gauss_density(offset, gt_std).prod(axis=1)
    size = box[2:]
    center = box[:2] + 0.5 * size + offset[:, :2] * size
    wh = size * np.exp(offset[:, 2:])
    proposals = np.concatenate([center - 0.5 * wh, wh], axis=1)
    return proposals, proposal_density, gt_density


@dataclasses.dataclass
class DiMPProcessing:
    """TrDiMP's training crops, labels and proposals (see the module docstring).

    Attributes:
        output_sz: image sample side (352 paper, 128 tiny).
        search_area_factor: region side / sqrt(target area) (6).
        feature_sz: classifier feature map side (22 paper, 8 tiny) = output_sz / 16.
        filter_sz: classifier filter side (4).
        template_center_jitter, search_center_jitter: centre jitter factors (3, 5.5).
        template_scale_jitter, search_scale_jitter: log-normal size jitter (0.25, 0.5).
        border_mode: region fitting, as the tracker ('inside_major').
        max_scale_change: largest shrink of a region to fit the image (1.5).
        label_sigma_factor: sigma of the test labels relative to the feature size (1/4 / 6).
        template_label_sigma_factor: sigma of the transformer's train labels (0.1).
        proposal_params: ``boxes_per_frame``, ``gt_sigma``, ``proposal_sigma`` (see
            :data:`OFFICIAL_PROPOSAL_PARAMS`).
        brightness_jitter: per-set brightness factor range 1 +- b (0.2).
        gray_prob: probability that all frames of a sample become grey (0.05).
        flip_prob: per-set probability of a horizontal flip (0.5).
    """

    output_sz: int = 22 * 16
    search_area_factor: float = 6.0
    feature_sz: int = 22
    filter_sz: int = 4
    template_center_jitter: float = 3.0
    search_center_jitter: float = 5.5
    template_scale_jitter: float = 0.25
    search_scale_jitter: float = 0.5
    border_mode: str = "inside_major"
    max_scale_change: Optional[float] = 1.5
    label_sigma_factor: float = 1.0 / 4.0 / 6.0
    template_label_sigma_factor: float = 0.1
    proposal_params: Dict[str, Any] = dataclasses.field(default_factory=lambda: dict(OFFICIAL_PROPOSAL_PARAMS))
    brightness_jitter: float = 0.2
    gray_prob: float = 0.05
    flip_prob: float = 0.5

    # ------------------------------------------------------------------ pieces
    def jitter_boxes(self, boxes_xywh: np.ndarray, center_jitter: float, scale_jitter: float,
                     rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """(centres (N, 2), sizes (N, 2)) of the jittered boxes, one draw per frame."""
        centers, sizes = [], []
        for box in boxes_xywh:
            size = box[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
            max_offset = math.sqrt(float(size.prod())) * center_jitter
            centers.append(box[:2] + 0.5 * box[2:] + max_offset * (rng.uniform(size=2) - 0.5))
            sizes.append(size)
        return np.stack(centers), np.stack(sizes)

    def crop_regions(self, jitter_centers: np.ndarray, jitter_sizes: np.ndarray,
                     image_wh: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Square regions (centres, sides) around the jittered boxes, fitted into the images."""
        side = np.sqrt(jitter_sizes.prod(axis=1)) * self.search_area_factor
        return sample_region(jitter_centers, side, image_wh, self.border_mode, self.max_scale_change)

    def _augment_set(self, crops: torch.Tensor, boxes: torch.Tensor,
                     rng: np.random.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        factor = rng.uniform(max(0.0, 1.0 - self.brightness_jitter), 1.0 + self.brightness_jitter)
        crops = (crops * float(factor)).clamp_(0.0, 255.0)
        if rng.uniform() < self.flip_prob:
            crops = crops.flip(-1)
            boxes = boxes.clone()
            boxes[:, 0] = self.output_sz - boxes[:, 0] - boxes[:, 2]
        return crops, boxes

    @staticmethod
    def _gray(crops: torch.Tensor) -> torch.Tensor:
        w = torch.tensor(_GRAY_WEIGHTS, dtype=crops.dtype).view(1, 3, 1, 1)
        return (crops * w).sum(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()

    # ------------------------------------------------------------------ call
    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        rng = data.get("rng")
        if rng is None:
            rng = np.random.default_rng()
        out = {k: v for k, v in data.items() if k != "rng"}
        images: List[np.ndarray] = list(data["template_images"]) + list(data["search_images"])
        num_template = len(data["template_images"])
        boxes = np.stack([np.asarray(b, dtype=np.float64).reshape(4) for b in
                          list(data["template_anno"]) + list(data["search_anno"])])
        if not np.isfinite(boxes).all() or (boxes[:, 2:] <= 0).any():
            # An empty box has no region to crop or label; the sampler draws another sample.
            out["valid"] = False
            return out

        t_center, t_size = self.jitter_boxes(boxes[:num_template], self.template_center_jitter,
                                             self.template_scale_jitter, rng)
        s_center, s_size = self.jitter_boxes(boxes[num_template:], self.search_center_jitter,
                                             self.search_scale_jitter, rng)
        image_wh = np.array([[im.shape[1], im.shape[0]] for im in images], dtype=np.float64)
        centers, sides = self.crop_regions(np.concatenate([t_center, s_center]), np.concatenate([t_size, s_size]),
                                           image_wh)
        centers_t = torch.from_numpy(centers).float()
        sides_t = torch.from_numpy(sides).float()
        # One batched crop for all frames of the sample.
        crops = crop_list(images, centers_t, sides_t, self.output_sz)
        crop_boxes = boxes_to_crop_frame(torch.from_numpy(boxes).float(), centers_t, sides_t, self.output_sz)

        if rng.uniform() < self.gray_prob:
            crops = self._gray(crops)
        template, template_boxes = self._augment_set(crops[:num_template], crop_boxes[:num_template], rng)
        search, search_boxes = self._augment_set(crops[num_template:], crop_boxes[num_template:], rng)

        template_label = gaussian_train_label(template_boxes, (self.feature_sz, self.feature_sz),
                                              (self.output_sz, self.output_sz), self.filter_sz,
                                              self.template_label_sigma_factor)
        search_label = gaussian_label_function(search_boxes, self.label_sigma_factor, self.filter_sz,
                                               self.feature_sz, self.output_sz, end_pad_if_even=True)
        params = self.proposal_params
        drawn = [sample_box_gmm(b.numpy(), params["proposal_sigma"], params["gt_sigma"],
                                int(params["boxes_per_frame"]), rng) for b in search_boxes]
        proposals, proposal_density, gt_density = (torch.from_numpy(np.stack(x)).float() for x in zip(*drawn))

        out.update(template_images=template.float(), search_images=search.float(),
                   template_anno=template_boxes.float(), search_anno=search_boxes.float(),
                   template_label=template_label.float(), search_label=search_label.float(),
                   search_proposals=proposals, proposal_density=proposal_density, gt_density=gt_density,
                   valid=True)
        return out


#: Keys :func:`stack_dimp_batch` stacks (all per-frame tensors of :class:`DiMPProcessing`).
_BATCH_KEYS = ("template_images", "search_images", "template_anno", "search_anno", "template_label",
               "search_label", "search_proposals", "proposal_density", "gt_density")


def stack_dimp_batch(samples: Sequence[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
    """Collate processed samples frames-first: every tensor becomes ``(N, B, ...)``."""
    return {key: torch.stack([s[key] for s in samples], dim=1) for key in _BATCH_KEYS}
