"""YouTube-VOS (Xu et al., 2018; 2019 release) training videos as single-object sequences.

Layout::

    <root>/train/meta.json                      {"videos": {<vid>: {"objects": {"1": {"category": ...,
                                                                                  "frames": ["00000", ...]}}}}}
    <root>/train/JPEGImages/<vid>/00000.jpg ...
    <root>/train/Annotations/<vid>/00000.png    palette PNG, pixel value = object id

``root`` may also be the ``train`` folder itself. Every (video, object id) pair is a sequence.
Training annotations exist only on every 5th frame, so a sequence consists of the video's
annotated frames (those listed in meta.json for any object) from the object's first appearance
on. Boxes are the tight ``xywh`` pixel boxes of the object's mask; a frame where the mask is empty
is not visible.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ltr.admin.environment import require_dataset_dir
from ltr.data.image_loader import ImageReadError, imread_rgb
from ltr.dataset._common import (DatasetFileError, SequenceFolderDataset, boxes_to_info, configured_root,
                                 layout_error, object_meta, subsample)

__all__ = ["YouTubeVOS", "read_palette_png", "mask_to_box"]

_FIELD = "youtubevos_dir"
_EXPECTED = "<root>/train/{meta.json, JPEGImages/<video>/<frame>.jpg, Annotations/<video>/<frame>.png}"


def read_palette_png(path) -> np.ndarray:
    """Object-id map (H x W uint8) of a palette (or grayscale) annotation PNG.

    OpenCV expands palettes to colours, so Pillow reads the indices.

    Raises:
        ImageReadError: missing, corrupt or not an indexed/grayscale PNG.
    """
    from PIL import Image, UnidentifiedImageError

    path = str(path)
    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode not in ("P", "L", "1"):
                raise ImageReadError(path, f"expected a palette or grayscale PNG of object ids, got mode '{mode}'")
            ids = np.array(image)
    except FileNotFoundError:
        raise ImageReadError(path, "the file does not exist") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(path, f"cannot decode annotation PNG: {exc}") from exc
    return ids.astype(np.uint8)


def mask_to_box(mask: np.ndarray) -> Tuple[float, float, float, float]:
    """Tight ``(x, y, w, h)`` pixel box of the non-zero pixels; zeros for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)


class YouTubeVOS(SequenceFolderDataset):
    """YouTube-VOS objects as sequences with boxes derived from their masks.

    Args:
        root: YouTube-VOS folder (holding ``train/``) or the ``train`` folder; default: the
            ``youtubevos_dir`` setting (``SLT_YOUTUBEVOS_DIR``).
        image_loader: path -> H x W x 3 uint8 RGB.
        split: official split folder, ``'train'`` (the only one with full annotations).
        data_fraction: use a fixed random fraction of the sequences.
    """

    #: Videos whose box tables are kept per process (each costs one pass over its PNGs).
    video_cache_size = 16

    def __init__(self, root: Optional[str] = None, image_loader=imread_rgb, split: str = "train",
                 data_fraction: Optional[float] = None):
        base = require_dataset_dir("YouTube-VOS", configured_root(root, _FIELD), _FIELD, _EXPECTED)
        super().__init__("YouTube-VOS", str(base), image_loader)
        if (base / split / "meta.json").is_file():
            self._root = base / split
        elif (base / "meta.json").is_file() and (base / "Annotations").is_dir():
            self._root = base
        else:
            raise layout_error("YouTube-VOS", base, _FIELD, _EXPECTED, f"lacks '{split}/meta.json'")
        for sub in ("JPEGImages", "Annotations"):
            if not (self._root / sub).is_dir():
                raise layout_error("YouTube-VOS", base, _FIELD, _EXPECTED, f"lacks '{self._root.name}/{sub}'")
        meta_path = self._root / "meta.json"
        try:
            videos = json.loads(meta_path.read_text())["videos"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetFileError(f"YouTube-VOS: cannot read '{meta_path}' (expected {{'videos': ...}}): "
                                   f"{exc!r}") from exc
        sequences = []
        for video in sorted(videos):
            objects = videos[video].get("objects", {})
            annotated = sorted({frame for obj in objects.values() for frame in obj.get("frames", [])})
            for obj_id in sorted(objects, key=int):
                obj = objects[obj_id]
                if not obj.get("frames"):
                    continue
                first = min(obj["frames"])
                frames = [f for f in annotated if f >= first]
                sequences.append((video, int(obj_id), obj.get("category"), tuple(frames)))
        if not sequences:
            raise layout_error("YouTube-VOS", base, _FIELD, _EXPECTED, f"has no annotated objects in '{meta_path}'")
        self.sequence_list: List[Tuple[str, int, Optional[str], Tuple[str, ...]]] = subsample(sequences, data_fraction)
        self.class_list = sorted({seq[2] for seq in self.sequence_list if seq[2] is not None})
        self._video_boxes: "OrderedDict[str, Dict[str, Dict[int, tuple]]]" = OrderedDict()

    def has_class_info(self) -> bool:
        return True

    def has_mask(self) -> bool:
        return True

    def get_sequence_name(self, seq_id: int) -> str:
        video, obj_id, _, _ = self.sequence_list[seq_id]
        return f"{video}_{obj_id}"

    def _sequence_class(self, seq_id: int) -> Optional[str]:
        return self.sequence_list[seq_id][2]

    def _annotation_path(self, video: str, frame: str) -> Path:
        return self._root / "Annotations" / video / f"{frame}.png"

    def _boxes_of_video(self, video: str, frames: Sequence[str]) -> Dict[str, Dict[int, tuple]]:
        """frame -> {object id -> box}; one pass over the video's PNGs serves all its objects."""
        table = self._video_boxes.get(video)
        missing = [f for f in frames if table is None or f not in table]
        if table is None:
            table = {}
        for frame in missing:
            ids = read_palette_png(self._annotation_path(video, frame))
            table[frame] = {int(i): mask_to_box(ids == i) for i in np.unique(ids) if i != 0}
        self._video_boxes[video] = table
        self._video_boxes.move_to_end(video)
        while len(self._video_boxes) > self.video_cache_size:
            self._video_boxes.popitem(last=False)
        return table

    def _load_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        video, obj_id, _, frames = self.sequence_list[seq_id]
        table = self._boxes_of_video(video, frames)
        bbox = np.array([table[f].get(obj_id, (0.0, 0.0, 0.0, 0.0)) for f in frames], dtype=np.float32)
        return boxes_to_info(bbox, bbox[:, 2] > 0)

    def get_frame_path(self, seq_id: int, frame_id: int) -> str:
        video, _, _, frames = self.sequence_list[seq_id]
        return str(self._root / "JPEGImages" / video / f"{frames[frame_id]}.jpg")

    def get_frame_mask(self, seq_id: int, frame_id: int) -> np.ndarray:
        video, obj_id, _, frames = self.sequence_list[seq_id]
        return (read_palette_png(self._annotation_path(video, frames[frame_id])) == obj_id).astype(np.uint8)

    def get_sequence_meta(self, seq_id: int):
        return object_meta(self.sequence_list[seq_id][2])
