"""OSTrack's test-time procedure on the batched core: B trackers in lockstep.

The test-time tracker (B = 1) and the SLT adapter (B = all rollouts) both step this core, so an
SLT argmax rollout is exactly what evaluation does.

One step, as ``lib/test/tracker/ostrack.py``:

* state: ``center_xy`` (B, 2) = (x + w/2, y + h/2) and ``size_wh`` (B, 2), image pixels;
* search crop: side ``ceil(sqrt(w h) * search_factor)`` (4; 5 for the 384 model) around the
  previous centre, zero-padded, resized to ``search_size``; template likewise with factor 2, cut
  once at initialisation and never updated (its tokens are cached);
* network: joint ViT with candidate elimination at the fixed test-time keep rate;
* scores: ``pscore = hann * score_map`` (:func:`hann2d`, multiplicative, never 0), flattened
  row-major over the S x S cells: the candidates;
* box at the chosen cell (argmax of ``pscore`` at test time): size and offset read there
  (:func:`ltr.models.head.center_head.boxes_at`), scaled by the crop side, mapped back around the
  previous centre (``map_box_back``) and clipped with margin 10 (``clip_box``, :func:`clip_box`).

One difference from the official crop: ``sample_target`` rounds the crop's corner to whole
pixels; this core crops the continuous region around the centre (a sub-pixel shift of the
search region, the same for training and test here).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch

from ltr.models.head.center_head import boxes_at
from ltr.models.tracking.ostrack import OSTrackConfig, crop_sizes
from pytracking.tracker.common.siamese_core import SiameseCore

__all__ = ["OSTrackCandidates", "OSTrackCore", "hann2d", "windowed_scores", "clip_box"]


def hann2d(size: int, device: Optional[torch.device | str] = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """OSTrack's centred 2-D Hanning window, flattened row-major (size*size,).

    1-D: ``0.5 (1 - cos(2 pi k / (size + 1)))`` for k = 1..size, so it is never 0 (about 0.034 at
    the ends for size 16); 2-D: the outer product (corner 0.0011, centre 0.983 for size 16).
    """
    k = torch.arange(1, size + 1, dtype=torch.float64)
    han = 0.5 * (1.0 - torch.cos(2.0 * torch.pi * k / (size + 1)))
    return torch.outer(han, han).flatten().to(device=device, dtype=dtype)


def windowed_scores(score_map: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """(B,1,S,S) score map x flattened window (S*S,) -> ``pscore`` (B, S*S); differentiable."""
    return score_map.flatten(1) * window.to(score_map).view(1, -1)


def clip_box(box_xywh: torch.Tensor, image_hw: torch.Tensor, margin: float) -> torch.Tensor:
    """OSTrack's ``clip_box``: (B,4) xywh kept inside the (B,2) (H, W) images with sides >= ``margin``:
    ``x1 = min(max(0, x1), W - m)``, ``x2 = min(max(m, x2), W)`` (y alike), ``w = max(m, x2 - x1)``."""
    x1, y1, w, h = box_xywh.unbind(1)
    img_h, img_w = image_hw[:, 0].to(box_xywh), image_hw[:, 1].to(box_xywh)
    x2, y2 = x1 + w, y1 + h
    m = torch.full_like(x1, float(margin))
    zero = torch.zeros_like(x1)
    x1 = torch.minimum(torch.maximum(zero, x1), img_w - m)
    x2 = torch.minimum(torch.maximum(m, x2), img_w)
    y1 = torch.minimum(torch.maximum(zero, y1), img_h - m)
    y2 = torch.minimum(torch.maximum(m, y2), img_h)
    return torch.stack([x1, y1, torch.maximum(m, x2 - x1), torch.maximum(m, y2 - y1)], dim=1)


@dataclass
class OSTrackCandidates:
    """The S*S candidate cells of B search crops.

    Attributes:
        pscore: (B, N) ``hann * score``, what the tracker chooses by.
        score: (B, N) the raw clamped-sigmoid score map, flattened.
        size_map, offset_map: (B, 2, S, S) the head's maps (the box of any cell is read from them).
    """

    pscore: torch.Tensor
    score: torch.Tensor
    size_map: torch.Tensor
    offset_map: torch.Tensor


class OSTrackCore(SiameseCore):
    """B OSTrack trackers in lockstep (see the module docstring).

    Args:
        net: a :class:`ltr.models.tracking.ostrack.OSTrack` in eval mode.
        cfg: crop sizes/factors and the clip margin (``net.cfg`` sizes must match).
        device: where crops and the network run.
    """

    def __init__(self, net: torch.nn.Module, cfg: OSTrackConfig, device: torch.device | str = "cpu"):
        super().__init__(net, cfg.template_size, cfg.search_size, input_format="rgb_imagenet", device=device,
                         crop_padding=cfg.crop_padding)
        self.cfg = cfg
        # Fixed for the whole run, so replay rebuilds pscore from the fresh score map alone.
        self.window = hann2d(cfg.feat_size, device=self.device)

    # ------------------------------------------------------------------ hooks
    def candidate_grid(self) -> Tuple[int, int]:
        return 1, self.cfg.feat_size

    def crop_sides(self, size_wh: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return crop_sizes(size_wh, self.cfg)

    def compute_template_features(self, template_input: torch.Tensor) -> torch.Tensor:
        """(B, 3, Z, Z) normalised crops -> template tokens (B, Nz, C)."""
        return self.net.template_features(template_input.float())

    def run_network(self, template_feat: Any, search_input: torch.Tensor) -> Dict[str, torch.Tensor]:
        # ce_keep_rate None: every CE block keeps its own test-time ratio, in tracking and in SLT alike.
        return self.net.track(template_feat, search_input.float(), ce_keep_rate=None)

    def score(self, outputs: Dict[str, torch.Tensor], search_side: torch.Tensor) -> OSTrackCandidates:
        return OSTrackCandidates(pscore=windowed_scores(outputs["score_map"], self.window),
                                 score=outputs["score_map"].flatten(1), size_map=outputs["size_map"],
                                 offset_map=outputs["offset_map"])

    def update(self, candidates: OSTrackCandidates, index: torch.Tensor,
               search_side: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Box at cell ``index`` (B,) -> ``map_box_back`` around the previous centre -> ``clip_box``."""
        box = boxes_at(index, candidates.size_map.detach(), candidates.offset_map.detach())
        dtype = self.center_xy.dtype
        side = search_side.to(device=self.center_xy.device, dtype=dtype).view(-1, 1)
        box = box.to(device=self.center_xy.device, dtype=dtype) * side       # crop-normalised -> image px
        center = box[:, :2] + self.center_xy - side / 2
        xywh = torch.cat([center - box[:, 2:] / 2, box[:, 2:]], dim=1)
        clipped = clip_box(xywh, self.image_hw, self.cfg.min_box_size)
        return clipped[:, :2] + clipped[:, 2:] / 2, clipped[:, 2:]
