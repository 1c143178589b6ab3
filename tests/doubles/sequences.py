"""Small generated sequences: a bright textured square moving over a dark noisy background."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

from pytracking.evaluation.data import Sequence, SequenceList


def make_sequence(root: Path, name: str, num_frames: int = 12, size: Tuple[int, int] = (72, 96),
                  box_size: int = 14, seed: int = 0, frame_name: str = "{:04d}.png") -> Sequence:
    """Write ``root/<name>/0001.png ...`` and return the Sequence with xywh-pixel ground truth.

    ``frame_name`` formats the 1-based frame number (e.g. ``"{:08d}.jpg"`` for the GOT-10k layout).
    """
    rng = np.random.default_rng(seed)
    height, width = size
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    x, y = float(rng.uniform(5, width - box_size - 5)), float(rng.uniform(5, height - box_size - 5))
    vx, vy = rng.uniform(-3, 3, size=2)
    texture = rng.integers(170, 256, size=(box_size, box_size, 3), dtype=np.uint8)
    frames: List[str] = []
    boxes = []
    for i in range(num_frames):
        image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        xi, yi = int(round(x)), int(round(y))
        image[yi:yi + box_size, xi:xi + box_size] = texture
        path = folder / frame_name.format(i + 1)
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        frames.append(str(path))
        boxes.append([xi, yi, box_size, box_size])
        # Bounce off the borders so the target stays fully visible.
        if not 2 <= x + vx <= width - box_size - 2:
            vx = -vx
        if not 2 <= y + vy <= height - box_size - 2:
            vy = -vy
        x, y = x + vx, y + vy
    return Sequence(name, frames, "generated", np.asarray(boxes, dtype=np.float64))


def make_sequence_list(root: Path, count: int = 3, num_frames: int = 12, **kwargs) -> SequenceList:
    """``count`` sequences named ``gen_000 ...`` with different seeds and lengths ``num_frames + i``."""
    return SequenceList(make_sequence(root, f"gen_{i:03d}", num_frames=num_frames + i, seed=i, **kwargs)
                        for i in range(count))


def write_got10k_layout(root: Path, split: str = "test", count: int = 2, num_frames: int = 10) -> Path:
    """A tiny dataset in GOT-10k layout (``<root>/<split>/list.txt``, ``<seq>/00000001.jpg``,
    ``groundtruth.txt``), as the 'synthetic' and 'got10k_*' datasets read it. Returns ``root``."""
    split_dir = Path(root) / split
    names = [f"Synth_{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        seq = make_sequence(split_dir, name, num_frames=num_frames + i, seed=10 + i, frame_name="{:08d}.jpg")
        lines = [",".join(f"{v:g}" for v in box) for box in seq.ground_truth_rect]
        (split_dir / name / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (split_dir / "list.txt").write_text("\n".join(names) + "\n")
    return Path(root)
