"""SiamAttn's box refinement head (official ``FCx2DetHead``, module name ``refine_head``).

Deformable RoI pooling (``roi_pool_b``, P x P bins on the fused box feature) -> flatten in (C, P, P)
order -> ``tail_det`` (two FC + ReLU) -> ``tail_det_box`` (4 deltas). The deltas are normalised by
``BBOX_STDS`` (0.1, 0.1, 0.2, 0.2): a box (cx, cy, w, h) is refined to
``(cx + d0 s0 w, cy + d1 s1 h, w exp(d2 s2), h exp(d3 s3))``.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn as nn

from ltr.models.ops.deform_roi_pool import DeformRoIPoolingPack

__all__ = ["BBOX_STDS", "RefineHead", "apply_refine_deltas"]

#: Normalisation of the refinement deltas (official BBOX_NORMALIZE_STDS; the means are 0).
BBOX_STDS: Tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)


def apply_refine_deltas(boxes_cxcywh: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """Refine (K, 4) cxcywh boxes with (K, 4) head outputs (normalised by :data:`BBOX_STDS`)."""
    d = deltas * deltas.new_tensor(BBOX_STDS)
    w, h = boxes_cxcywh[:, 2], boxes_cxcywh[:, 3]
    return torch.stack([boxes_cxcywh[:, 0] + d[:, 0] * w, boxes_cxcywh[:, 1] + d[:, 1] * h,
                        w * torch.exp(d[:, 2]), h * torch.exp(d[:, 3])], dim=1)


class RefineHead(nn.Module):
    """Args:
        channels: channels of the box feature (paper 256).
        pool_size: RoI bins per side (paper 4).
        spatial_scale: feature cells per search-crop pixel (paper 25 / 255).
        hidden: width of the two FC layers (paper 512).
        offset_fc_channels: width of the deformable pooling's offset MLP (paper 1024).
    """

    def __init__(self, channels: int = 256, pool_size: int = 4, spatial_scale: float = 25 / 255,
                 hidden: int = 512, offset_fc_channels: int = 1024) -> None:
        super().__init__()
        self.tail_det = nn.Sequential(nn.Linear(channels * pool_size * pool_size, hidden), nn.ReLU(inplace=True),
                                      nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.tail_det_box = nn.Linear(hidden, 4)
        self.roi_pool_b = DeformRoIPoolingPack(spatial_scale, pool_size, channels, no_trans=False, trans_std=0.1,
                                               deform_fc_channels=offset_fc_channels)
        for m in self.tail_det:
            if isinstance(m, nn.Linear):  # caffe2's xavier_fill: uniform with fan-in scale
                nn.init.kaiming_uniform_(m.weight, a=1)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.tail_det_box.weight, 0.0, 0.001)
        nn.init.zeros_(self.tail_det_box.bias)

    def forward(self, box_feature: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """box_feature (B, C, S, S); rois (K, 5) [batch index, x1, y1, x2, y2] search-crop pixels -> (K, 4) deltas."""
        pooled = self.roi_pool_b(box_feature, rois)
        return self.tail_det_box(self.tail_det(pooled.flatten(1)))
