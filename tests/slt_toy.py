"""A toy tracker and its SLT adapter, used only by the tests of slt_plugins.

The toy is a miniature Siamese tracker that honours the adapter protocol the way a real
one must: batched crops (one ``grid_sample`` call for all trackers), one network pass per
step, post-processing (cosine-window mix) shared between explore and replay, the policy's
argmax or sample, a state update, and records (crops, actions, ground truth in crop
pixels) from which ``replay_loss`` recomputes log p(a) and a box loss with gradients.

Geometry: the template crop is ``template_context * sqrt(w h)`` image pixels wide,
resampled to 16 x 16; the search crop is ``search_factor * sqrt(w h)`` wide, resampled to
32 x 32. The network scores a 9 x 9 grid of candidate centres 2 crop pixels apart and
regresses a sub-cell offset for each; the chosen candidate moves the box centre, the box
size stays that of the start box.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from docs.examples.mytracker.model import MyTrackerNet
from slt_plugins.adapter import Frames, Generators, LossOutput, ReplayRecords, StepOutput
from slt_plugins.sampler import Episode
from slt_plugins.scst import scst_loss

TEMPLATE_SIZE = 16
SEARCH_SIZE = 32
GRID = 9          # candidates per side
CELL = 2.0        # crop pixels between neighbouring candidates
GRID_ORIGIN = 8.0  # crop-pixel centre of candidate column/row 0


class ToyNet(MyTrackerNet):
    """The worked example's network (docs/examples/mytracker) on crops already scaled to [0, 1]."""

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        return self.backbone(crops)


def _frames_to_tensor(frames: Frames, device: torch.device) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1], padded at the bottom/right to the largest frame."""
    if isinstance(frames, torch.Tensor):
        return frames.to(device).permute(0, 3, 1, 2).float().div_(255.0)
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    out = torch.zeros(len(frames), 3, h, w, device=device)
    for i, f in enumerate(frames):
        out[i, :, :f.shape[0], :f.shape[1]] = torch.from_numpy(np.ascontiguousarray(f)).to(device).permute(2, 0, 1)
    return out.div_(255.0)


def batched_crop(images: torch.Tensor, centre: torch.Tensor, side: torch.Tensor, out_size: int) -> torch.Tensor:
    """Square crops of side ``side`` (B,) image px centred at ``centre`` (B, 2) px, resampled to out_size."""
    b, _, h, w = images.shape
    theta = torch.zeros(b, 2, 3, device=images.device)
    theta[:, 0, 0] = side / w
    theta[:, 1, 1] = side / h
    theta[:, 0, 2] = 2 * centre[:, 0] / w - 1
    theta[:, 1, 2] = 2 * centre[:, 1] / h - 1
    grid = F.affine_grid(theta, [b, 3, out_size, out_size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class ToyAdapter:
    """SLT adapter of :class:`ToyNet` (see the module docstring)."""

    def __init__(self, net: ToyNet, policy: object, window_influence: float = 0.3,
                 template_context: float = 2.0, search_factor: float = 4.0, scst_weight: float = 1.0,
                 box_weight: float = 1.0, reduction: str = "mean", device: Union[str, torch.device] = "cpu"):
        self.net = net
        self.policy = policy
        self.window_influence = window_influence
        self.template_context = template_context
        self.search_factor = search_factor
        self.scst_weight = scst_weight
        self.box_weight = box_weight
        self.reduction = reduction
        self.device = torch.device(device)
        hann = torch.hann_window(GRID + 2, periodic=False)[1:-1]
        self.window = torch.outer(hann, hann).flatten().to(self.device)  # shared constant
        self.centre = torch.zeros(0, 2)
        self.size = torch.zeros(0, 2)
        self.image_size = torch.zeros(0, 2)
        self.zf: Optional[torch.Tensor] = None

    # the same post-processing serves explore and replay
    def postprocess(self, logits: torch.Tensor) -> torch.Tensor:
        """Candidate scores in (0, 1): sigmoid mixed with the cosine window."""
        return torch.sigmoid(logits) * (1 - self.window_influence) + self.window * self.window_influence

    def initialize(self, frames: Frames, boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        images = _frames_to_tensor(frames, self.device)
        boxes = boxes_xywh.to(self.device).float()
        start = boxes if start_boxes_xywh is None else start_boxes_xywh.to(self.device).float()
        side = self.template_context * (boxes[:, 2] * boxes[:, 3]).clamp_min(1.0).sqrt()
        z = batched_crop(images, boxes[:, :2] + boxes[:, 2:] / 2, side, TEMPLATE_SIZE)
        self.zf = self.net.features(z)
        self.centre = start[:, :2] + start[:, 2:] / 2
        self.size = start[:, 2:].clone()
        if isinstance(frames, torch.Tensor):
            self.image_size = torch.tensor([[frames.shape[2], frames.shape[1]]] * frames.shape[0],
                                           dtype=torch.float32, device=self.device)
        else:
            self.image_size = torch.tensor([[f.shape[1], f.shape[0]] for f in frames],
                                           dtype=torch.float32, device=self.device)
        return {"template_crop": z}

    def step(self, frames: Frames, sample_mask: torch.Tensor, generator: Generators,
             gt_xywh: torch.Tensor) -> StepOutput:
        images = _frames_to_tensor(frames, self.device)
        side = self.search_factor * (self.size[:, 0] * self.size[:, 1]).clamp_min(1.0).sqrt()
        x = batched_crop(images, self.centre, side, SEARCH_SIZE)
        logits, offsets = self.net.head(self.zf, self.net.features(x))
        scores = self.postprocess(logits)
        actions, log_prob = self.policy.select(scores, sample_mask, generator)
        greedy = self.policy.log_probs(scores).argmax(dim=-1)

        # ground truth in the pixel frame of this crop (taken at the state before the update)
        scale = SEARCH_SIZE / side
        gt = gt_xywh.to(self.device).float()
        corner = self.centre - side.unsqueeze(1) / 2
        gt_crop = torch.cat([(gt[:, :2] - corner) * scale.unsqueeze(1), gt[:, 2:] * scale.unsqueeze(1)], dim=1)

        rows = torch.arange(len(actions), device=self.device)
        cell = torch.stack([actions % GRID, actions // GRID], dim=1).float()
        disp_crop = (cell * CELL + GRID_ORIGIN + offsets[rows, actions] * CELL) - SEARCH_SIZE / 2
        self.centre = torch.minimum(torch.maximum(self.centre + disp_crop / scale.unsqueeze(1),
                                                  torch.zeros_like(self.centre)), self.image_size - 1)
        boxes = torch.cat([self.centre - self.size / 2, self.size], dim=1)
        record = {"search_crop": x, "action": actions, "gt_crop_xywh": gt_crop}
        return StepOutput(boxes_xywh=boxes, actions=actions, record=record, log_prob=log_prob,
                          greedy_actions=greedy)

    def replay_loss(self, records: ReplayRecords, advantage: torch.Tensor) -> LossOutput:
        z = records.init["template_crop"].to(self.device)
        x = records.steps["search_crop"].to(self.device)
        R, T = x.shape[:2]
        zt = z.unsqueeze(1).expand(R, T, *z.shape[1:]).reshape(R * T, *z.shape[1:])
        logits, offsets = self.net(zt, x.reshape(R * T, *x.shape[2:]))
        actions = records.steps["action"].to(self.device).reshape(R * T)
        log_p = self.policy.log_probs(self.postprocess(logits))
        log_pa = log_p.gather(1, actions.unsqueeze(1)).reshape(R, T)
        scst = scst_loss(log_pa, advantage.to(self.device), self.reduction)

        gt = records.steps["gt_crop_xywh"].to(self.device).reshape(R * T, 4)
        centre_cells = (gt[:, :2] + gt[:, 2:] / 2 - GRID_ORIGIN) / CELL
        target_cell = centre_cells.round().clamp(0, GRID - 1)
        inside = ((centre_cells >= -0.5) & (centre_cells <= GRID - 0.5)).all(dim=1)
        mask = inside & records.visible.to(self.device).reshape(R * T)
        idx = (target_cell[:, 1] * GRID + target_cell[:, 0]).long()
        pred = offsets[torch.arange(R * T, device=self.device), idx]
        err = (pred - (centre_cells - target_cell)).abs().sum(dim=1)
        # divide by all R*T frames (not by the masked count) so chunked replay sums exactly
        box = self.box_weight * (err * mask).sum() / (R * T)
        total = self.scst_weight * scst + box
        return LossOutput(total=total, scst=scst.detach(), box=box.detach(),
                          stats={"Loss/toy_box_inside": mask.float().mean().item()})


def make_toy_episode(seed: int, num_frames: int = 6, image_size: int = 48, target: int = 10) -> Episode:
    """A synthetic episode: a textured square drifting over a noisy background."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(120, 256, size=(target, target, 3), dtype=np.uint8)
    pos = rng.uniform(target, image_size - 2 * target, size=2)
    vel = rng.normal(0, 1.5, size=2)

    def render(p: np.ndarray) -> np.ndarray:
        img = rng.integers(0, 60, size=(image_size, image_size, 3), dtype=np.uint8)
        x, y = int(round(p[0])), int(round(p[1]))
        img[y:y + target, x:x + target] = texture
        return img

    def box(p: np.ndarray) -> List[float]:
        return [float(round(p[0])), float(round(p[1])), float(target), float(target)]

    template = render(pos)
    template_box = torch.tensor(box(pos))
    frames, boxes = [], []
    for _ in range(num_frames):
        pos = np.clip(pos + vel + rng.normal(0, 0.5, size=2), 0, image_size - target)
        frames.append(render(pos))
        boxes.append(box(pos))
    return Episode(template_frame=template, template_box_xywh=template_box, frames=frames,
                   boxes_xywh=torch.tensor(boxes), visible=torch.ones(num_frames, dtype=torch.bool),
                   dataset_name="toy", sequence_name=f"toy-{seed}", frame_ids=list(range(1, num_frames + 1)))
