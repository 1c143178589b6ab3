"""OSTrack's centre head (``CenterPredictor``): score, size and offset maps on the search tokens.

Three branches (``ctr``, ``offset``, ``size``), each four conv3x3 + BatchNorm2d + ReLU blocks
(C -> c -> c/2 -> c/4 -> c/8, c = 256 for the paper size) and a 1x1 conv. Outputs on an S x S
map (S = search size / patch size):

* ``score_map`` (B,1,S,S) = clamp(sigmoid, 1e-4, 1 - 1e-4): the target-centre heatmap;
* ``size_map`` (B,2,S,S) = the same clamped sigmoid: (w, h) as fractions of the search crop;
* ``offset_map`` (B,2,S,S) raw: the sub-cell centre offset (x, y) in cells.

The sigmoids and clamps run in float32 even under autocast (in bfloat16 or float16 the clamp
``1 - 1e-4`` would round to 1 and the focal loss's ``log(1 - p)`` reach -inf).

Box of cell ``idx`` (row-major): ``cx = (idx % S + offset_x) / S``, ``cy = (idx // S + offset_y) / S``,
``(w, h) = size_map at idx``, all normalised to the search crop (:func:`boxes_at`).
"""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn

__all__ = ["CenterPredictor", "boxes_at", "clamped_sigmoid"]


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def clamped_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """clamp(sigmoid(x), 1e-4, 1 - 1e-4) in float32."""
    return x.float().sigmoid().clamp(1e-4, 1.0 - 1e-4)


class CenterPredictor(nn.Module):
    """See the module docstring. ``inplanes``: token width; ``channel``: first conv width; ``feat_sz``: S."""

    def __init__(self, inplanes: int = 768, channel: int = 256, feat_sz: int = 16) -> None:
        super().__init__()
        self.feat_sz = feat_sz
        widths = [inplanes, channel, channel // 2, channel // 4, channel // 8]
        # Registration order = official state-dict order: ctr, offset, size.
        for branch, out in (("ctr", 1), ("offset", 2), ("size", 2)):
            for i in range(4):
                setattr(self, f"conv{i + 1}_{branch}", _conv_bn_relu(widths[i], widths[i + 1]))
            setattr(self, f"conv5_{branch}", nn.Conv2d(widths[4], out, kernel_size=1))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _branch(self, x: torch.Tensor, name: str) -> torch.Tensor:
        for i in range(1, 5):
            x = getattr(self, f"conv{i}_{name}")(x)
        return getattr(self, f"conv5_{name}")(x)

    def forward(self, feat: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, C, S, S) search features -> ``score_map``, ``size_map``, ``offset_map`` (float32)."""
        return {"score_map": clamped_sigmoid(self._branch(feat, "ctr")),
                "size_map": clamped_sigmoid(self._branch(feat, "size")),
                "offset_map": self._branch(feat, "offset").float()}


def boxes_at(index: torch.Tensor, size_map: torch.Tensor, offset_map: torch.Tensor) -> torch.Tensor:
    """Boxes (B, 4) cxcywh normalised to the search crop at the cells ``index`` (B,) of the maps.

    ``size_map``/``offset_map``: (B, 2, S, S). This is OSTrack's ``cal_bbox`` at an arbitrary
    cell (the test-time tracker passes the argmax of the windowed score map).
    """
    b, _, s, _ = size_map.shape
    idx = index.to(device=size_map.device, dtype=torch.long).view(b, 1, 1).expand(b, 2, 1)
    size = size_map.flatten(2).gather(2, idx).squeeze(2)
    offset = offset_map.flatten(2).gather(2, idx).squeeze(2)
    flat = index.to(device=size_map.device, dtype=torch.long).view(b)
    col = (flat % s).to(size.dtype)
    row = torch.div(flat, s, rounding_mode="floor").to(size.dtype)
    return torch.stack([(col + offset[:, 0]) / s, (row + offset[:, 1]) / s, size[:, 0], size[:, 1]], dim=1)
