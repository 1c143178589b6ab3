"""Evaluation sequences and datasets (pytracking's Sequence / SequenceList / BaseDataset).

Boxes are ``xywh`` in pixels (top-left x, y, width, height), one row per frame.
"""
from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Sequence as AbstractSequence
from typing import Dict, Iterable, List, Optional, Sequence as SequenceT, Tuple, Union

import numpy as np


class Sequence:
    """One evaluation video.

    Attributes:
        name: sequence name (also the result file stem).
        frames: list of image file paths, one per frame (or frame specs of an in-memory dataset).
        dataset: short dataset name, e.g. ``'lasot'``.
        ground_truth_rect: (N, 4) float64 xywh pixels; may hold only the first row for test sets
            whose ground truth is withheld (GOT-10k test, TrackingNet test).
        target_visible: (N,) bool or None (LaSOT: not fully occluded and not out of view).
        object_class: class name or None.
        image_size: (H, W) where known without opening an image, else None.
        attributes: optional per-sequence attribute flags (name -> bool) for attribute analysis.
        cover: (N,) float64 or None; GOT-10k style visible-ratio level per frame (0 = fully
            occluded or absent, 8 = fully visible). The GOT-10k protocol drops frames with cover 0.
        absent: (N,) bool or None; GOT-10k style "target absent" flag per frame.
    """

    def __init__(self, name: str, frames: List, dataset: str, ground_truth_rect,
                 target_visible=None, object_class: Optional[str] = None,
                 image_size: Optional[tuple] = None, attributes: Optional[Dict[str, bool]] = None,
                 init_data: Optional[dict] = None, cover=None, absent=None):
        self.name = name
        self.frames = frames
        self.dataset = dataset
        gt = np.asarray(ground_truth_rect, dtype=np.float64)
        if gt.ndim == 1:
            gt = gt.reshape(1, 4)
        self.ground_truth_rect = gt
        self.target_visible = None if target_visible is None else np.asarray(target_visible, dtype=bool)
        self.object_class = object_class
        self.image_size = image_size
        self.attributes = attributes or {}
        self.init_data = init_data if init_data is not None else {0: {"bbox": self.ground_truth_rect[0].tolist()}}
        self.cover = None if cover is None else np.asarray(cover, dtype=np.float64)
        self.absent = None if absent is None else np.asarray(absent, dtype=bool)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def has_full_ground_truth(self) -> bool:
        """True when every frame has a ground-truth box (False for withheld test annotations)."""
        return len(self.ground_truth_rect) == len(self.frames)

    def get_image_size(self) -> Optional[Tuple[int, int]]:
        """(H, W) of the frames: the known size, else read from the first frame's header (cached).

        Only the file header is read (no decoding), so this stays cheap for whole datasets.
        Returns None when the size is unknown and the first frame cannot be read.
        """
        if self.image_size is None and self.frames:
            first = self.frames[0]
            # In-memory datasets may store frame specs instead of paths; those carry no header.
            if isinstance(first, (str, bytes)) or hasattr(first, "__fspath__"):
                self.image_size = read_image_size(first)
        return self.image_size

    def init_info(self) -> dict:
        """What a tracker's initialize() receives besides the first image: {'init_bbox': [x, y, w, h]}."""
        return {"init_bbox": list(self.init_data[0]["bbox"])}

    def __repr__(self) -> str:
        return f"Sequence({self.dataset}/{self.name}, {len(self.frames)} frames)"


def read_image_size(path) -> Optional[Tuple[int, int]]:
    """(H, W) of an image file from its header, without decoding the pixels; None if unreadable."""
    import os
    if not os.path.isfile(path):
        return None
    try:
        from PIL import Image  # header-only read; pixels are decoded lazily and never here
        with Image.open(path) as image:
            width, height = image.size
        return int(height), int(width)
    except Exception:  # missing file, unknown format, or no PIL: fall back to a full decode
        pass
    try:
        import cv2
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            return None
        return int(image.shape[0]), int(image.shape[1])
    except Exception:
        return None


class NumberedFrames(AbstractSequence):
    """Frame paths ``f"{prefix}{number:0{digits}d}{suffix}"`` for ``count`` numbers from ``first``.

    A read-only list made on access: a LaSOT-sized dataset has 700k frame paths, and building
    them as strings when the dataset is opened costs more than parsing its annotations, while
    analysis only needs their count and the first one. Compares equal to a list of the same paths.
    """

    def __init__(self, prefix: str, count: int, first: int = 1, digits: int = 8, suffix: str = ".jpg"):
        self.prefix, self.count, self.first, self.digits, self.suffix = prefix, int(count), int(first), digits, suffix

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        i = operator.index(index)
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f"frame {index} of {self.count}")
        return f"{self.prefix}{self.first + i:0{self.digits}d}{self.suffix}"

    def __iter__(self):
        prefix, digits, suffix = self.prefix, self.digits, self.suffix
        return (f"{prefix}{n:0{digits}d}{suffix}" for n in range(self.first, self.first + self.count))

    def __eq__(self, other) -> bool:
        if isinstance(other, NumberedFrames):
            return list(self) == list(other)
        if isinstance(other, (list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        last = self.first + self.count - 1
        return f"NumberedFrames({self.prefix!r}, {self.first:0{self.digits}d}..{last:0{self.digits}d}{self.suffix})"


class SequenceList(list):
    """A list of sequences that can also be indexed by name or by a list of indices/names."""

    def __getitem__(self, item):
        if isinstance(item, str):
            for seq in self:
                if seq.name == item:
                    return seq
            raise IndexError(f"Sequence '{item}' not found; known: {[s.name for s in self][:10]}...")
        if isinstance(item, int):
            return super().__getitem__(item)
        if isinstance(item, slice):
            return SequenceList(super().__getitem__(item))
        if isinstance(item, (tuple, list)):
            return SequenceList([self[i] for i in item])
        return SequenceList(super().__getitem__(item))

    def __add__(self, other):
        return SequenceList(list.__add__(self, other))

    def copy(self):
        return SequenceList(list.copy(self))


class BaseDataset:
    """An evaluation dataset: a name and a SequenceList."""

    name: str = "base"

    def get_sequence_list(self) -> SequenceList:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.get_sequence_list())
