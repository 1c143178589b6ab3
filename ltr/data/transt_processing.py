"""Frame-level processing for TransT: jittered template/search crops as in TransT's training.

Why not :class:`ltr.data.processing.SiameseProcessing`: TransT jitters the *box* (log-normal
size, uniform centre offset proportional to the jittered box's half perimeter) and then cuts
each crop with its own context factor around the jittered box (template factor 2, search
factor 4), whereas the Siamese processing jitters the *crop* (uniform shift and scale of a
region derived from the template context). The two distributions differ, and TransT's
search region is not the template region scaled by search/template size.

Per image (``f`` = template or search, official TransT values in brackets):

1. jittered size ``wh' = wh * exp(N(0, 1) * scale_jitter)`` [template 0, search 0.25];
2. jittered centre ``c' = c + (w' + h') / 2 * centre_jitter * (U(0, 1) - 0.5)``
   [template 0, search 3];
3. crop side = the tracker's context side of the jittered box
   (:func:`ltr.models.tracking.transt.crop_sizes`: template factor 2, search factor 4),
   centred on ``c'``, resized to ``template_size`` / ``search_size``, mean-padded;
4. brightness: each crop multiplied by ``U(1 - b, 1 + b)`` [b = 0.2] and clipped;
   with probability ``gray_prob`` [0.05] both crops become grey.

Input: a sample dict of :class:`ltr.data.sampler.FrameLevelSampler`. Output: the same dict plus
``'template'``/``'search'`` (3, S, S) float32 RGB 0-255 and ``'template_box'``/``'search_box'``
(4,) float32 xywh in crop pixels, i.e. the layout of
:func:`ltr.data.processing.stack_siamese_batch`. Randomness comes from ``data['rng']``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

import numpy as np
import torch

from ltr.data.crop import boxes_to_crop_frame, crop_list
from ltr.models.tracking.transt import TransTConfig
from ltr.models.tracking.transt import crop_sizes

__all__ = ["TransTProcessing"]

#: ITU-R 601 luma weights, as OpenCV's RGB -> grey conversion.
_GRAY_WEIGHTS = (0.299, 0.587, 0.114)


@dataclasses.dataclass
class TransTProcessing:
    """TransT's training crops (see the module docstring).

    Attributes:
        cfg: supplies ``template_size``, ``search_size``, ``template_factor``, ``search_factor``.
        template_center_jitter, search_center_jitter: centre jitter factors (0, 3).
        template_scale_jitter, search_scale_jitter: log-normal size jitter (0, 0.25).
        brightness_jitter: per-crop brightness factor range 1 +- b (0.2).
        gray_prob: probability of grey template and search (0.05).
    """

    cfg: TransTConfig = dataclasses.field(default_factory=TransTConfig.paper)
    template_center_jitter: float = 0.0
    search_center_jitter: float = 3.0
    template_scale_jitter: float = 0.0
    search_scale_jitter: float = 0.25
    brightness_jitter: float = 0.2
    gray_prob: float = 0.05
    #: What fills crops outside the image ('mean' for TransT; see :func:`ltr.data.crop.crop_square`).
    padding: str = "mean"

    def crop_sides(self, size_wh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(template side, search side) in image pixels of a (jittered) target size; the
        tracker's context rule (:func:`ltr.models.tracking.transt.crop_sizes`)."""
        return crop_sizes(size_wh, self.cfg)

    def _jittered_box(self, box_xywh: np.ndarray, center_jitter: float, scale_jitter: float,
                      rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """(centre (2,), size (2,)) of the jittered box, image pixels."""
        size = box_xywh[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
        max_offset = size.sum() * 0.5 * center_jitter
        center = box_xywh[:2] + box_xywh[2:] / 2 + max_offset * (rng.uniform(size=2) - 0.5)
        return center, size

    def _crop(self, image: np.ndarray, box_xywh: np.ndarray, template: bool,
              rng: np.random.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        if template:
            center, size = self._jittered_box(box_xywh, self.template_center_jitter, self.template_scale_jitter, rng)
            out_size = self.cfg.template_size
        else:
            center, size = self._jittered_box(box_xywh, self.search_center_jitter, self.search_scale_jitter, rng)
            out_size = self.cfg.search_size
        s_z, s_x = self.crop_sides(torch.from_numpy(size))
        side = (s_z if template else s_x).reshape(1).float()
        center_t = torch.from_numpy(center).float().reshape(1, 2)
        crop = crop_list([image], center_t, side, out_size, padding=self.padding)[0]
        box = boxes_to_crop_frame(torch.from_numpy(box_xywh).float().reshape(1, 4), center_t, side, out_size)[0]
        return crop, box

    def _brightness(self, crop: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        factor = rng.uniform(max(0.0, 1.0 - self.brightness_jitter), 1.0 + self.brightness_jitter)
        return (crop * float(factor)).clamp_(0.0, 255.0)

    @staticmethod
    def _gray(crop: torch.Tensor) -> torch.Tensor:
        w = torch.tensor(_GRAY_WEIGHTS, dtype=crop.dtype).view(3, 1, 1)
        return (crop * w).sum(dim=0, keepdim=True).expand(3, -1, -1).contiguous()

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        rng = data.get("rng")
        if rng is None:
            rng = np.random.default_rng()
        template_box = np.asarray(data["template_anno"][0], dtype=np.float64)
        search_box = np.asarray(data["search_anno"][0], dtype=np.float64)
        out = {k: v for k, v in data.items() if k != "rng"}
        if (template_box[2:] <= 0).any() or (search_box[2:] <= 0).any():
            # An empty box has no context region; the sampler draws another pair.
            out["valid"] = False
            return out
        template, template_crop_box = self._crop(data["template_images"][0], template_box, True, rng)
        search, search_crop_box = self._crop(data["search_images"][0], search_box, False, rng)
        if rng.uniform() < self.gray_prob:
            template, search = self._gray(template), self._gray(search)
        template = self._brightness(template, rng)
        search = self._brightness(search, rng)
        out.update(template=template, search=search, template_box=template_crop_box.float(),
                   search_box=search_crop_box.float(), valid=True)
        return out
