"""ATOM's IoU-Net: predicts the IoU of proposal boxes with the target, given a reference frame.

The reference branch pools the target from two backbone levels (stride 8 and 16) into a
pair of channel-modulation vectors; the test branch multiplies its features with them,
pools each proposal with Precise RoI Pooling and regresses one IoU score per proposal.
Because PrRoIPool is differentiable in the box coordinates, the predicted IoU can be
maximised by gradient ascent on the boxes (box refinement at tracking time).

Boxes are (x, y, w, h) in image pixels throughout.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn as nn

from ltr.models.ops.prroi_pool import PrRoIPool2D

__all__ = ["conv_bn_relu", "LinearBlock", "AtomIoUNet"]


def conv_bn_relu(in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 dilation: int = 1) -> nn.Sequential:
    """Conv (with bias) + BatchNorm + ReLU; indices 0/1 give the checkpoint names."""
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding,
                  dilation=dilation, bias=True),
        nn.BatchNorm2d(out_planes),
        nn.ReLU(inplace=True))


class LinearBlock(nn.Module):
    """Fully connected layer over a flattened (C, s, s) input, then BatchNorm and ReLU.

    Args:
        in_planes: input channels.
        out_planes: output features.
        input_sz: spatial side ``s`` of the input.
    """

    def __init__(self, in_planes: int, out_planes: int, input_sz: int, bias: bool = True,
                 batch_norm: bool = True, relu: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_planes * input_sz * input_sz, out_planes, bias=bias)
        self.bn = nn.BatchNorm2d(out_planes) if batch_norm else None
        self.relu = nn.ReLU(inplace=True) if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, s, s) -> (N, out_planes)."""
        x = self.linear(x.reshape(x.shape[0], -1))
        if self.bn is not None:
            x = self.bn(x.reshape(x.shape[0], x.shape[1], 1, 1))
        if self.relu is not None:
            x = self.relu(x)
        return x.reshape(x.shape[0], -1)


def _xywh_rois(boxes: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor:
    """boxes (..., 4) (x, y, w, h) and matching batch indices (...) -> (K, 5) [b, x1, y1, x2, y2]."""
    xy, wh = boxes[..., :2], boxes[..., 2:]
    rois = torch.cat((batch_index.unsqueeze(-1).to(boxes.dtype), xy, xy + wh), dim=-1)
    return rois.reshape(-1, 5)


class AtomIoUNet(nn.Module):
    """IoU prediction network.

    Args:
        input_dim: channels of the two backbone levels (stride 8, stride 16).
        pred_input_dim: channels of the modulated test features of each level.
        pred_inter_dim: sizes of the fully connected layers after pooling, per level.
        ref_dim: channels of the stride-8 reference conv (128 in the paper model).
        hidden_dim: channels of the other intermediate convs (256 in the paper model).
        strides: backbone strides of the two levels.
    """

    def __init__(self, input_dim: Sequence[int] = (128, 256), pred_input_dim: Sequence[int] = (256, 256),
                 pred_inter_dim: Sequence[int] = (256, 256), ref_dim: int = 128, hidden_dim: int = 256,
                 strides: Sequence[int] = (8, 16)) -> None:
        super().__init__()
        s3, s4 = strides
        # "r": reference branch, "t": test branch; 3 / 4 = stride-8 / stride-16 level.
        self.conv3_1r = conv_bn_relu(input_dim[0], ref_dim)
        self.conv3_1t = conv_bn_relu(input_dim[0], hidden_dim)
        self.conv3_2t = conv_bn_relu(hidden_dim, pred_input_dim[0])
        self.prroi_pool3r = PrRoIPool2D(3, 3, 1.0 / s3)
        self.prroi_pool3t = PrRoIPool2D(5, 5, 1.0 / s3)
        self.fc3_1r = conv_bn_relu(ref_dim, hidden_dim, kernel_size=3, padding=0)
        self.conv4_1r = conv_bn_relu(input_dim[1], hidden_dim)
        self.conv4_1t = conv_bn_relu(input_dim[1], hidden_dim)
        self.conv4_2t = conv_bn_relu(hidden_dim, pred_input_dim[1])
        self.prroi_pool4r = PrRoIPool2D(1, 1, 1.0 / s4)
        self.prroi_pool4t = PrRoIPool2D(3, 3, 1.0 / s4)
        self.fc34_3r = conv_bn_relu(2 * hidden_dim, pred_input_dim[0], kernel_size=1, padding=0)
        self.fc34_4r = conv_bn_relu(2 * hidden_dim, pred_input_dim[1], kernel_size=1, padding=0)
        self.fc3_rt = LinearBlock(pred_input_dim[0], pred_inter_dim[0], 5)
        self.fc4_rt = LinearBlock(pred_input_dim[1], pred_inter_dim[1], 3)
        self.iou_predictor = nn.Linear(pred_inter_dim[0] + pred_inter_dim[1], 1, bias=True)

        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                # U(0, 1) BN scales: the initialisation the released model was trained from.
                nn.init.uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, feat1: Sequence[torch.Tensor], feat2: Sequence[torch.Tensor], bb1: torch.Tensor,
                proposals2: torch.Tensor) -> torch.Tensor:
        """IoU of test proposals, with the first reference image as target model (training use).

        Args:
            feat1: reference features [stride 8, stride 16], each (Ntr, B, C, H, W) or (Ntr*B, C, H, W).
            feat2: test features, same layout with Nte images.
            bb1: (Ntr, B, 4) reference boxes (x, y, w, h); only image 0 is used.
            proposals2: (Nte, B, P, 4) proposal boxes (x, y, w, h) in the test images.

        Returns:
            (Nte, B, P) predicted IoU.
        """
        if bb1.dim() != 3 or proposals2.dim() != 4:
            raise ValueError("bb1 must be (images, sequences, 4) and proposals2 (images, sequences, P, 4)")
        num_images, num_sequences = proposals2.shape[:2]
        feat1 = [f[0] if f.dim() == 5 else f.reshape(-1, num_sequences, *f.shape[-3:])[0] for f in feat1]
        modulation = self.get_modulation(feat1, bb1[0])
        iou_feat = self.get_iou_feat(feat2)
        modulation = [m.reshape(1, num_sequences, -1).expand(num_images, -1, -1).reshape(num_images * num_sequences, -1)
                      for m in modulation]
        proposals = proposals2.reshape(num_images * num_sequences, -1, 4)
        return self.predict_iou(modulation, iou_feat, proposals).reshape(num_images, num_sequences, -1)

    def predict_iou(self, modulation: Sequence[torch.Tensor], feat: Sequence[torch.Tensor],
                    proposals: torch.Tensor) -> torch.Tensor:
        """IoU for proposals (N, P, 4) (x, y, w, h) given modulation vectors [(N, D3), (N, D4)]
        and test features [(N, D3, H3, W3), (N, D4, H4, W4)] from :meth:`get_iou_feat`. Returns (N, P).
        Differentiable with respect to ``proposals``."""
        mod3, mod4 = modulation
        c3_t, c4_t = feat
        batch_size, num_proposals = proposals.shape[:2]
        c3_t_att = c3_t * mod3.reshape(batch_size, -1, 1, 1)
        c4_t_att = c4_t * mod4.reshape(batch_size, -1, 1, 1)
        batch_index = torch.arange(batch_size, device=proposals.device).reshape(-1, 1).expand(-1, num_proposals)
        rois = _xywh_rois(proposals, batch_index)
        fc3_rt = self.fc3_rt(self.prroi_pool3t(c3_t_att, rois))
        fc4_rt = self.fc4_rt(self.prroi_pool4t(c4_t_att, rois))
        iou_pred = self.iou_predictor(torch.cat((fc3_rt, fc4_rt), dim=1))
        return iou_pred.reshape(batch_size, num_proposals)

    def get_modulation(self, feat: Sequence[torch.Tensor], bb: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Modulation vectors from reference features [(N, C3, H, W), (N, C4, H', W')] and target
        boxes (N, 4) (x, y, w, h). Returns ((N, D3, 1, 1), (N, D4, 1, 1))."""
        feat3_r, feat4_r = feat
        batch_index = torch.arange(bb.shape[0], device=bb.device)
        rois = _xywh_rois(bb.reshape(-1, 4), batch_index)
        roi3r = self.prroi_pool3r(self.conv3_1r(feat3_r), rois)
        roi4r = self.prroi_pool4r(self.conv4_1r(feat4_r), rois)
        fc34_r = torch.cat((self.fc3_1r(roi3r), roi4r), dim=1)
        return self.fc34_3r(fc34_r), self.fc34_4r(fc34_r)

    def get_iou_feat(self, feat2: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Test-branch features from [stride 8, stride 16] maps (4-D, or 5-D flattened to 4-D)."""
        feat3_t, feat4_t = [f.reshape(-1, *f.shape[-3:]) if f.dim() == 5 else f for f in feat2]
        return self.conv3_2t(self.conv3_1t(feat3_t)), self.conv4_2t(self.conv4_1t(feat4_t))
