"""Frame-level processing for OSTrack: STARK-style jittered crops (OSTrack's ``STARKProcessing``).

The same box jitter as TransT's (:class:`ltr.data.transt_processing.TransTProcessing`:
log-normal size, centre offset proportional to the jittered box's half perimeter), then
OSTrack's crop rule around the jittered box: side ``ceil(sqrt(w' h') * factor)`` (template 2,
search 4), zero-padded outside the image. Augmentation as OSTrack: grey (both crops, p 0.05),
a horizontal flip of both crops (p 0.5), brightness per crop ``U(0.8, 1.2)``.

Output layout: that of :func:`ltr.data.processing.stack_siamese_batch`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

import torch

from ltr.data.transt_processing import TransTProcessing
from ltr.models.tracking.ostrack import OSTrackConfig, crop_sizes

__all__ = ["OSTrackProcessing"]


@dataclasses.dataclass
class OSTrackProcessing(TransTProcessing):
    """OSTrack's training crops (see the module docstring); ``flip_prob`` flips both crops."""

    cfg: OSTrackConfig = dataclasses.field(default_factory=OSTrackConfig.paper)
    padding: str = "zero"
    flip_prob: float = 0.5

    def crop_sides(self, size_wh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return crop_sizes(size_wh, self.cfg)

    @staticmethod
    def _flip(crop: torch.Tensor, box: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x, y, w, h = box.unbind(-1)
        return crop.flip(-1), torch.stack([crop.shape[-1] - x - w, y, w, h])

    def __call__(self, data: Dict[str, Any]) -> Dict[str, Any]:
        rng = data.get("rng")
        out = super().__call__(data)
        if out.get("valid") and rng is not None and rng.uniform() < self.flip_prob:
            out["template"], out["template_box"] = self._flip(out["template"], out["template_box"])
            out["search"], out["search_box"] = self._flip(out["search"], out["search_box"])
        return out
