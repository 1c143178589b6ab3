"""Frame-level processing for Siamese trackers: template/search crops with jitter, as in training.

Input: a sample dict from :class:`ltr.data.sampler.FrameLevelSampler` with 'template_images',
'template_anno', 'search_images', 'search_anno' (lists of HxWx3 uint8 RGB and (4,) xywh px boxes).
Output: the same dict plus

    'template': (3, template_size, template_size) float32 RGB 0-255
    'search':   (3, search_size, search_size) float32 RGB 0-255
    'template_box', 'search_box': (4,) float32 xywh in crop pixels

and, where the sampler returned masks (``return_masks``: a 'search_masks' entry),

    'search_mask': (search_size, search_size) float32 in [0, 1], the target mask warped like the
                   search crop (bilinear, so soft at the edges; zeros where the frame has no mask)
    'mask_weight': () float32, 1 where the frame has a mask, else 0

Randomness comes from ``data['rng']`` (a numpy Generator the sampler seeds per sample) so a sample
is a pure function of its index; without it a fresh unseeded generator is used.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

import cv2
import numpy as np
import torch

from ltr.data.crop import crop_list


def crop_mask(mask: np.ndarray, center_xy: np.ndarray, side: float, out_size: int) -> np.ndarray:
    """The square region (centre ``center_xy``, side ``side`` px) of an H x W 0/1 mask, resized to ``out_size``.

    Same geometry as :func:`ltr.data.crop.crop_square` (a pixel covers ``[i, i+1)``); bilinear, zero
    outside the image. Returns (out_size, out_size) float32 in [0, 1].
    """
    scale = out_size / side
    # crop pixel u (centre u + 0.5) <- image point x0 + (u + 0.5) / scale, x0 = centre - side / 2
    x0, y0 = center_xy[0] - side / 2, center_xy[1] - side / 2
    matrix = np.array([[scale, 0.0, 0.5 * scale - 0.5 - x0 * scale],
                       [0.0, scale, 0.5 * scale - 0.5 - y0 * scale]], dtype=np.float64)
    return cv2.warpAffine(np.asarray(mask, dtype=np.float32), matrix, (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def context_crop_side(size_wh: np.ndarray, context_amount: float) -> float:
    """Side of the square template region around a ``(w, h)`` target, pysot's context formula.

    ``s = sqrt((w + c(w+h)) (h + c(w+h)))`` with context amount ``c`` (0.5 for SiamRPN++).
    """
    w, h = float(size_wh[0]), float(size_wh[1])
    pad = context_amount * (w + h)
    return float(np.sqrt(max((w + pad) * (h + pad), 1.0)))


@dataclasses.dataclass
class SiameseProcessing:
    """Template and search crops with shift/scale jitter, blur and grey-scale augmentation.

    Attributes:
        template_size, search_size: output sides in pixels (e.g. 127/255 paper, 64/128 tiny).
        context_amount: context around the target for the template region (0.5).
        template_shift, search_shift: max centre shift as a fraction of the output side.
        template_scale, search_scale: max relative scale jitter (region side * (1 + U(-s, s))).
        blur_prob: probability of a Gaussian blur of the search crop.
        gray_prob: probability of converting both crops to grey.
    """

    template_size: int
    search_size: int
    context_amount: float = 0.5
    template_shift: float = 4 / 127
    template_scale: float = 0.05
    search_shift: float = 64 / 255
    search_scale: float = 0.18
    blur_prob: float = 0.2
    gray_prob: float = 0.0

    def _crop(self, image: np.ndarray, box_xywh: np.ndarray, out_size: int, shift: float, scale: float,
              rng: np.random.Generator) -> Tuple[torch.Tensor, np.ndarray, np.ndarray, float]:
        """(crop, box in crop pixels xywh, region centre xy px, region side px)."""
        center = box_xywh[:2] + box_xywh[2:] / 2
        side = context_crop_side(box_xywh[2:], self.context_amount) * out_size / self.template_size
        side *= 1.0 + rng.uniform(-scale, scale)
        center = center + rng.uniform(-shift, shift, size=2) * side
        crop = crop_list([image], torch.tensor(center[None], dtype=torch.float32),
                         torch.tensor([side], dtype=torch.float32), out_size)[0]
        factor = out_size / side
        box_crop = np.concatenate([(box_xywh[:2] - (center - side / 2)) * factor, box_xywh[2:] * factor])
        return crop, box_crop.astype(np.float32), center, side

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        rng = data.get("rng")
        if rng is None:
            rng = np.random.default_rng()
        template_box = np.asarray(data["template_anno"][0], dtype=np.float64)
        search_box = np.asarray(data["search_anno"][0], dtype=np.float64)
        template, template_crop_box, _, _ = self._crop(data["template_images"][0], template_box, self.template_size,
                                                       self.template_shift, self.template_scale, rng)
        search, search_crop_box, search_center, search_side = self._crop(
            data["search_images"][0], search_box, self.search_size, self.search_shift, self.search_scale, rng)
        if rng.uniform() < self.blur_prob:
            sigma = rng.uniform(0.5, 1.5)
            blurred = cv2.GaussianBlur(search.permute(1, 2, 0).numpy(), (0, 0), sigma)
            search = torch.from_numpy(blurred).permute(2, 0, 1).contiguous()
        if rng.uniform() < self.gray_prob:
            template = template.mean(dim=0, keepdim=True).expand(3, -1, -1).contiguous()
            search = search.mean(dim=0, keepdim=True).expand(3, -1, -1).contiguous()
        out = {k: v for k, v in data.items() if k not in ("rng", "template_masks", "search_masks")}
        out.update(template=template, search=search,
                   template_box=torch.from_numpy(template_crop_box), search_box=torch.from_numpy(search_crop_box))
        if "search_masks" in data:
            mask = data["search_masks"][0]
            has_mask = mask is not None
            out["search_mask"] = torch.from_numpy(
                crop_mask(np.asarray(mask), search_center, search_side, self.search_size) if has_mask
                else np.zeros((self.search_size, self.search_size), dtype=np.float32))
            out["mask_weight"] = torch.tensor(1.0 if has_mask else 0.0)
        return out


def stack_siamese_batch(samples) -> Dict[str, torch.Tensor]:
    """Collate processed samples into a batch of template/search crops and crop-frame boxes
    (plus 'search_mask' (B, S, S) and 'mask_weight' (B,) where the samples carry masks)."""
    keys = ["template", "search", "template_box", "search_box"]
    if all("search_mask" in s for s in samples):
        keys += ["search_mask", "mask_weight"]
    return {key: torch.stack([s[key] for s in samples]) for key in keys}
