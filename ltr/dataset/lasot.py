"""LaSOT (Fan et al., CVPR 2019) in its official layout.

Layout::

    <root>/<class>/<class>-<n>/img/00000001.jpg ...
                              /groundtruth.txt      one "x,y,w,h" line per frame (pixels)
                              /full_occlusion.txt   one line of comma-separated 0/1 flags
                              /out_of_view.txt      one line of comma-separated 0/1 flags
                              /nlp.txt              language description (unused)

The target counts as visible where it is neither fully occluded nor out of view (and its box
has a positive size). Missing flag files are treated as "always visible".
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from ltr.admin.environment import require_dataset_dir
from ltr.data.image_loader import imread_rgb
from ltr.dataset._common import (SequenceFolderDataset, boxes_to_info, check_length, configured_root,
                                 keep_present, layout_error, read_numbers, read_split_file, subsample)

__all__ = ["Lasot", "lasot_select_sequences", "LASOT_SPLITS"]

_FIELD = "lasot_dir"
_EXPECTED = "<root>/<class>/<class>-<n>/{img/00000001.jpg, groundtruth.txt, full_occlusion.txt, out_of_view.txt}"
_SEQ_RE = re.compile(r"^(?P<cls>.+)-(?P<num>\d+)$")

#: split name -> shipped list of sequence names (official LaSOT protocol II).
LASOT_SPLITS = {"train": "lasot_train_split.txt", "test": "lasot_test_split.txt"}


def _class_of(name: str) -> str:
    return name.rsplit("-", 1)[0]


def _natural_key(name: str):
    match = _SEQ_RE.match(name)
    return (match.group("cls"), int(match.group("num"))) if match else (name, -1)


def lasot_select_sequences(available: Sequence[str], split: Optional[str] = None,
                           vid_ids: Optional[Sequence[int]] = None, dataset: str = "LaSOT") -> List[str]:
    """Sequence names (``<class>-<n>``) selected by ``split`` or ``vid_ids`` among ``available``.

    Args:
        available: names present (on disk or in an LMDB).
        split: ``'train'`` (official 1120 training sequences) or ``'test'`` (the 280 test ones).
        vid_ids: sequence numbers to take from every class present (pytracking's option), e.g.
            ``[1, 2, 3]`` selects ``airplane-1, airplane-2, airplane-3, bear-1, ...``.
    Returns:
        names in split-file order (split), class-then-number order (vid_ids) or natural order.
    """
    if split is not None and vid_ids is not None:
        raise ValueError("Lasot: give either split or vid_ids, not both.")
    if split is not None:
        if split not in LASOT_SPLITS:
            raise ValueError(f"Lasot: unknown split '{split}'; known splits: {sorted(LASOT_SPLITS)}.")
        return keep_present(dataset, read_split_file(LASOT_SPLITS[split]), available, f"split '{split}'")
    if vid_ids is not None:
        classes = sorted({_class_of(n) for n in available})
        wanted = [f"{c}-{v}" for c in classes for v in vid_ids]
        return keep_present(dataset, wanted, available, f"vid_ids {list(vid_ids)}")
    return sorted(available, key=_natural_key)


class Lasot(SequenceFolderDataset):
    """LaSOT training/testing sequences read from the official folder layout.

    Args:
        root: dataset root; default: the ``lasot_dir`` setting (``SLT_LASOT_DIR``).
        image_loader: path -> H x W x 3 uint8 RGB (default :func:`imread_rgb`).
        vid_ids: sequence numbers to use from every class (see :func:`lasot_select_sequences`).
        split: ``'train'`` or ``'test'``; None with no vid_ids = every sequence on disk.
        data_fraction: use a fixed random fraction of the selected sequences.
    """

    def __init__(self, root: Optional[str] = None, image_loader=imread_rgb, vid_ids: Optional[Sequence[int]] = None,
                 split: Optional[str] = None, data_fraction: Optional[float] = None):
        root_path = require_dataset_dir("LaSOT", configured_root(root, _FIELD), _FIELD, _EXPECTED)
        super().__init__("LaSOT", str(root_path), image_loader)
        self._root = root_path
        available = self._scan(root_path)
        if not available:
            raise layout_error("LaSOT", root_path, _FIELD, _EXPECTED,
                               "holds no <class>/<class>-<n>/groundtruth.txt")
        names = lasot_select_sequences(available, split=split, vid_ids=vid_ids)
        if not names:
            raise layout_error("LaSOT", root_path, _FIELD, _EXPECTED,
                               f"holds none of the sequences selected by split={split!r} vid_ids={vid_ids!r}")
        self.sequence_list: List[str] = subsample(names, data_fraction)
        self.class_list = sorted({_class_of(n) for n in self.sequence_list})

    @staticmethod
    def _scan(root: Path) -> List[str]:
        names = []
        for class_dir in root.iterdir():
            if not class_dir.is_dir():
                continue
            prefix = class_dir.name + "-"
            for seq_dir in class_dir.iterdir():
                if seq_dir.name.startswith(prefix) and (seq_dir / "groundtruth.txt").is_file():
                    names.append(seq_dir.name)
        return names

    def _seq_dir(self, seq_id: int) -> Path:
        name = self.sequence_list[seq_id]
        return self._root / _class_of(name) / name

    def get_sequence_name(self, seq_id: int) -> str:
        return self.sequence_list[seq_id]

    def has_class_info(self) -> bool:
        return True

    def has_occlusion_info(self) -> bool:
        return True

    def _sequence_class(self, seq_id: int) -> Optional[str]:
        return _class_of(self.sequence_list[seq_id])

    def _load_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        seq_dir = self._seq_dir(seq_id)
        bbox = read_numbers(seq_dir / "groundtruth.txt", "LaSOT", columns=4)
        visible = None
        flags = []
        for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
            path = seq_dir / flag_file
            if path.is_file():
                flags.append(check_length("LaSOT", path, read_numbers(path, "LaSOT"), len(bbox)) > 0)
        if flags:
            visible = ~flags[0]
            for flag in flags[1:]:
                visible &= ~flag
        return boxes_to_info(bbox, visible)

    def get_frame_path(self, seq_id: int, frame_id: int) -> str:
        return str(self._seq_dir(seq_id) / "img" / f"{frame_id + 1:08d}.jpg")
