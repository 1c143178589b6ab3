"""An in-memory video dataset of moving rectangles with per-frame target masks (or without them)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ltr.dataset.base_video_dataset import BaseVideoDataset


class MaskedRectangles(BaseVideoDataset):
    """``num_sequences`` videos of a bright rectangle on noise; ``with_masks`` decides ``has_mask()``.

    The mask of a frame is the rectangle's pixels (H x W uint8 0/1), so it fills its box exactly.
    """

    def __init__(self, name: str = "masked_rectangles", num_sequences: int = 3, num_frames: int = 8,
                 size=(120, 160), with_masks: bool = True, seed: int = 0):
        super().__init__(name, None, image_loader=None)
        rng = np.random.default_rng(seed)
        self.with_masks = with_masks
        self.sequences = []
        h, w = size
        for _ in range(num_sequences):
            bw, bh = int(rng.integers(20, 40)), int(rng.integers(20, 40))
            x, y = int(rng.integers(10, w - bw - 10)), int(rng.integers(10, h - bh - 10))
            frames, boxes, masks = [], [], []
            for _ in range(num_frames):
                image = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
                image[y:y + bh, x:x + bw] = (220, 180, 90)
                mask = np.zeros((h, w), dtype=np.uint8)
                mask[y:y + bh, x:x + bw] = 1
                frames.append(image)
                boxes.append([x, y, bw, bh])
                masks.append(mask)
                x = int(np.clip(x + rng.integers(-3, 4), 2, w - bw - 2))
                y = int(np.clip(y + rng.integers(-3, 4), 2, h - bh - 2))
            self.sequences.append((frames, torch.tensor(boxes, dtype=torch.float32), masks))

    def get_name(self) -> str:
        return self.name

    def get_num_sequences(self) -> int:
        return len(self.sequences)

    def has_mask(self) -> bool:
        return self.with_masks

    def get_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        boxes = self.sequences[seq_id][1]
        ones = torch.ones(len(boxes), dtype=torch.bool)
        return {"bbox": boxes.clone(), "valid": ones, "visible": ones.clone()}

    def get_frame_mask(self, seq_id: int, frame_id: int) -> np.ndarray:
        return self.sequences[seq_id][2][frame_id]

    def get_frames(self, seq_id: int, frame_ids: Sequence[int], anno: Optional[Dict[str, torch.Tensor]] = None):
        frames, boxes, _ = self.sequences[seq_id]
        out: Dict[str, List] = {"bbox": [boxes[f].clone() for f in frame_ids]}
        if self.has_mask():
            out["mask"] = [torch.from_numpy(self.get_frame_mask(seq_id, f).astype(np.float32)) for f in frame_ids]
        return [frames[f] for f in frame_ids], out, OrderedDict(object_class_name=None)
