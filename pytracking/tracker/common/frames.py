"""Search and template regions cut from the frames of B trackers, one image size at a time.

:func:`ltr.data.crop.stack_frames` pads frames of different sizes to one tensor, and
:func:`ltr.data.crop.crop_square` then normalises sampling positions by the padded size and
takes channel means over the true image area with a mask: the same crop in other floating-point
rounding. Trackers evaluated in lockstep (:mod:`pytracking.evaluation.batched`) see frames of
different sizes, and each must see exactly the crop it sees when tracked alone, so
:func:`crop_regions` crops each group of equally sized frames on its own (one group, and hence
exactly the single-tracker computation, when all frames share a size).

Frames are H x W x 3 uint8 RGB arrays, or uint8 tensors of that shape (possibly already on the
device, e.g. uploaded ahead by a prefetching thread), or one (B, H, W, 3) tensor.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
import torch

from ltr.data.crop import crop_square, stack_frames

__all__ = ["crop_regions", "Frames"]

Frames = Union[Sequence[np.ndarray], Sequence[torch.Tensor], torch.Tensor]


def _group_by_size(frames: Sequence) -> Dict[Tuple[int, int], List[int]]:
    groups: Dict[Tuple[int, int], List[int]] = {}
    for b, frame in enumerate(frames):
        groups.setdefault((int(frame.shape[0]), int(frame.shape[1])), []).append(b)
    return groups


def _crop_group(frames: Sequence, centers_xy: torch.Tensor, sides: torch.Tensor, out_size: int,
                device: torch.device, channel_order: str, padding: str = "mean") -> torch.Tensor:
    if isinstance(frames[0], torch.Tensor):
        # Tensors (e.g. uploaded ahead): one (G, H, W, 3) stack, no numpy round trip.
        batch: Union[torch.Tensor, Sequence] = torch.stack([f.to(device) for f in frames])
    else:
        batch = frames
    images, hw, index = stack_frames(batch, device=device, channel_order=channel_order)
    return crop_square(images, hw, centers_xy, sides, out_size, image_index=index, padding=padding)


def crop_regions(frames: Frames, centers_xy: torch.Tensor, sides: torch.Tensor, out_size: int,
                 device: torch.device, channel_order: str = "rgb",
                 padding: str = "mean") -> Tuple[torch.Tensor, torch.Tensor]:
    """Cut the square region of tracker ``b`` (centre ``centers_xy[b]``, side ``sides[b]`` px) from
    ``frames[b]`` and resize it to ``out_size`` (see :func:`ltr.data.crop.crop_square`; ``padding``
    'mean' or 'zero' fills what lies outside the frame).

    Returns:
        (crops (B, 3, out_size, out_size) float 0-255 in ``channel_order``, image_hw (B, 2)
        float64 true (H, W) of each tracker's frame, on ``device``).
    """
    if isinstance(frames, torch.Tensor):
        images, hw, index = stack_frames(frames, device=device, channel_order=channel_order)
        crops = crop_square(images, hw, centers_xy, sides, out_size, image_index=index, padding=padding)
        return crops, hw.to(torch.float64)
    frames = list(frames)
    # Sizes are known on the host: no device read to find them.
    image_hw = torch.tensor([[int(f.shape[0]), int(f.shape[1])] for f in frames], dtype=torch.float64,
                            device=device)
    groups = _group_by_size(frames)
    if len(groups) == 1:
        return _crop_group(frames, centers_xy, sides, out_size, device, channel_order, padding), image_hw
    crops = None
    for rows in groups.values():
        index = torch.tensor(rows, dtype=torch.long, device=centers_xy.device)
        part = _crop_group([frames[b] for b in rows], centers_xy.index_select(0, index),
                           sides.reshape(-1).index_select(0, index), out_size, device, channel_order, padding)
        if crops is None:
            crops = part.new_empty(len(frames), *part.shape[1:])
        crops[index.to(part.device)] = part
    return crops, image_hw
