"""TrackingNet (Mueller et al., ECCV 2018) in its official layout.

Layout::

    <root>/TRAIN_0/anno/<seq>.txt        "x,y,w,h" per frame (pixels)
    <root>/TRAIN_0/frames/<seq>/0.jpg, 1.jpg, ...
    ...
    <root>/TRAIN_11/...                  (and TEST/, first-frame boxes only, not used for training)

TrackingNet has no visibility labels: every frame with a positive-size box counts as visible.
Class labels are not part of the official download, so ``has_class_info()`` is False.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ltr.admin.environment import require_dataset_dir
from ltr.data.image_loader import imread_rgb
from ltr.dataset._common import (SequenceFolderDataset, boxes_to_info, configured_root, layout_error, read_numbers,
                                 subsample)

__all__ = ["TrackingNet", "trackingnet_select_sequences"]

_FIELD = "trackingnet_dir"
_EXPECTED = "<root>/TRAIN_<i>/{anno/<seq>.txt, frames/<seq>/0.jpg}, i = 0..11"
NUM_TRAIN_CHUNKS = 12


def trackingnet_select_sequences(available: Sequence[str], set_ids: Optional[Sequence[int]] = None) -> List[str]:
    """Names ``TRAIN_<i>/<seq>`` among ``available`` that belong to the chunks ``set_ids``."""
    if set_ids is None:
        return list(available)
    prefixes = tuple(f"TRAIN_{int(i)}/" for i in set_ids)
    return [name for name in available if name.startswith(prefixes)]


class TrackingNet(SequenceFolderDataset):
    """TrackingNet training chunks.

    Args:
        root: folder holding ``TRAIN_0`` ... ``TRAIN_11``; default: the ``trackingnet_dir`` setting
            (``SLT_TRACKINGNET_DIR``).
        image_loader: path -> H x W x 3 uint8 RGB.
        set_ids: chunk numbers to use. None = every ``TRAIN_<i>`` folder present; an explicit list
            requires each chunk to be there.
        data_fraction: use a fixed random fraction of the sequences.
    """

    def __init__(self, root: Optional[str] = None, image_loader=imread_rgb,
                 set_ids: Optional[Sequence[int]] = None, data_fraction: Optional[float] = None):
        root_path = require_dataset_dir("TrackingNet", configured_root(root, _FIELD), _FIELD, _EXPECTED)
        super().__init__("TrackingNet", str(root_path), image_loader)
        self._root = root_path
        if set_ids is None:
            set_ids = [i for i in range(NUM_TRAIN_CHUNKS) if (root_path / f"TRAIN_{i}" / "anno").is_dir()]
            if not set_ids:
                raise layout_error("TrackingNet", root_path, _FIELD, _EXPECTED, "holds no TRAIN_<i>/anno folder")
        else:
            missing = [f"TRAIN_{i}/anno" for i in set_ids if not (root_path / f"TRAIN_{i}" / "anno").is_dir()]
            if missing:
                raise layout_error("TrackingNet", root_path, _FIELD, _EXPECTED, f"lacks {missing}")
        self.set_ids = [int(i) for i in set_ids]
        entries: List[Tuple[int, str]] = []
        for set_id in self.set_ids:
            anno_dir = root_path / f"TRAIN_{set_id}" / "anno"
            entries.extend((set_id, p.stem) for p in sorted(anno_dir.glob("*.txt")))
        if not entries:
            raise layout_error("TrackingNet", root_path, _FIELD, _EXPECTED,
                               f"has no annotation files in TRAIN_{self.set_ids}/anno")
        self.sequence_list: List[Tuple[int, str]] = subsample(entries, data_fraction)

    def get_sequence_name(self, seq_id: int) -> str:
        set_id, name = self.sequence_list[seq_id]
        return f"TRAIN_{set_id}/{name}"

    def _load_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        set_id, name = self.sequence_list[seq_id]
        bbox = read_numbers(self._root / f"TRAIN_{set_id}" / "anno" / f"{name}.txt", "TrackingNet", columns=4)
        return boxes_to_info(bbox)

    def get_frame_path(self, seq_id: int, frame_id: int) -> str:
        set_id, name = self.sequence_list[seq_id]
        return str(self._root / f"TRAIN_{set_id}" / "frames" / name / f"{frame_id}.jpg")
