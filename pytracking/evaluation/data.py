"""Evaluation sequences and datasets (pytracking's Sequence / SequenceList / BaseDataset).

Boxes are ``xywh`` in pixels (top-left x, y, width, height), one row per frame.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence as SequenceT, Union

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
    """

    def __init__(self, name: str, frames: List, dataset: str, ground_truth_rect,
                 target_visible=None, object_class: Optional[str] = None,
                 image_size: Optional[tuple] = None, attributes: Optional[Dict[str, bool]] = None,
                 init_data: Optional[dict] = None):
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

    def __len__(self) -> int:
        return len(self.frames)

    def init_info(self) -> dict:
        """What a tracker's initialize() receives besides the first image: {'init_bbox': [x, y, w, h]}."""
        return {"init_bbox": list(self.init_data[0]["bbox"])}

    def __repr__(self) -> str:
        return f"Sequence({self.dataset}/{self.name}, {len(self.frames)} frames)"


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
