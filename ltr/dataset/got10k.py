"""GOT-10k (Huang et al., TPAMI 2019) in its official layout.

Layout::

    <root>/train/list.txt                      sequence names, one per line
    <root>/train/GOT-10k_Train_000001/00000001.jpg ...
                                     /groundtruth.txt     "x,y,w,h" per frame (pixels)
                                     /absence.label       1 = target absent, one per frame
                                     /cover.label         visible fraction in eighths, 0..8
                                     /cut_by_image.label  1 = box cut by the image border
                                     /meta_info.ini       object_class, motion_class, ...
    <root>/val/...  <root>/test/...            same (test: first-frame box only)

``root`` may also be a split folder itself (pytracking's convention, e.g. ``.../got10k/train``).

Splits: ``'train'`` (all official training sequences), ``'val'`` (official validation folder),
``'vottrain'`` / ``'votval'`` (pytracking's split of the training set into 7086/1249 sequences
without the sequences that overlap VOT, shipped as indices into the sorted training list,
``index i -> GOT-10k_Train_{i+1:06d}``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ltr.admin.environment import require_dataset_dir
from ltr.data.image_loader import imread_rgb
from ltr.dataset._common import (DatasetFileError, SequenceFolderDataset, boxes_to_info, check_length,
                                 configured_root, keep_present, layout_error, object_meta, read_numbers,
                                 read_split_file, read_text, subsample)

__all__ = ["Got10k", "got10k_select_sequences", "got10k_split_folder", "parse_meta_info", "GOT10K_SPLITS"]

_FIELD = "got10k_dir"
_EXPECTED = ("<root>/{train,val}/<GOT-10k_Train_000001>/{00000001.jpg, groundtruth.txt, absence.label, "
             "cover.label, meta_info.ini} (+ list.txt per split folder)")

#: split -> (folder, shipped index list or None for the whole folder)
GOT10K_SPLITS = {
    "train": ("train", None),
    "val": ("val", None),
    "vottrain": ("train", "got10k_vot_train_split.txt"),
    "votval": ("train", "got10k_vot_val_split.txt"),
}

_META_KEYS = ("object_class", "motion_class", "major_class", "root_class", "motion_adverb")


def got10k_split_folder(split: Optional[str]) -> str:
    """Official folder (``'train'`` or ``'val'``) that holds the sequences of ``split``."""
    if split is None:
        return "train"
    if split not in GOT10K_SPLITS:
        raise ValueError(f"Got10k: unknown split '{split}'; known splits: {sorted(GOT10K_SPLITS)}.")
    return GOT10K_SPLITS[split][0]


def got10k_select_sequences(available: Sequence[str], split: Optional[str] = None,
                            dataset: str = "GOT-10k") -> List[str]:
    """Names of ``split`` among ``available`` (all of them for ``'train'``, ``'val'`` or None)."""
    got10k_split_folder(split)  # validates the name
    index_file = GOT10K_SPLITS[split][1] if split is not None else None
    if index_file is None:
        return sorted(available)
    wanted = [f"GOT-10k_Train_{int(i) + 1:06d}" for i in read_split_file(index_file)]
    return keep_present(dataset, wanted, available, f"split '{split}'")


def parse_meta_info(text: str) -> Dict[str, str]:
    """``key: value`` pairs of a meta_info.ini (the ``[METAINFO]`` header is skipped)."""
    values = {}
    for line in text.splitlines():
        if ":" in line and not line.lstrip().startswith("["):
            key, value = line.split(":", 1)
            values[key.strip()] = value.strip()
    return values


class Got10k(SequenceFolderDataset):
    """GOT-10k training or validation sequences from the official layout.

    Args:
        root: the GOT-10k folder holding ``train/`` and ``val/``, or one split folder; default: the
            ``got10k_dir`` setting (``SLT_GOT10K_DIR``).
        image_loader: path -> H x W x 3 uint8 RGB.
        split: ``'train'``, ``'val'``, ``'vottrain'``, ``'votval'`` or None (= ``'train'``).
        seq_ids: indices into the selected sequence list to keep (pytracking's option).
        data_fraction: use a fixed random fraction of the sequences.
    """

    def __init__(self, root: Optional[str] = None, image_loader=imread_rgb, split: Optional[str] = None,
                 seq_ids: Optional[Sequence[int]] = None, data_fraction: Optional[float] = None):
        base = require_dataset_dir("GOT-10k", configured_root(root, _FIELD), _FIELD, _EXPECTED)
        super().__init__("GOT-10k", str(base), image_loader)
        folder = got10k_split_folder(split)
        self._root = self._find_split_folder(base, folder)
        available = self._list_sequences(self._root)
        names = got10k_select_sequences(available, split)
        if not names:
            raise layout_error("GOT-10k", self._root, _FIELD, _EXPECTED,
                               f"holds none of the sequences of split '{split}'")
        if seq_ids is not None:
            names = [names[i] for i in seq_ids]
        self.sequence_list: List[str] = subsample(names, data_fraction)
        self._meta_cache: Dict[int, Dict[str, str]] = {}
        self._class_list: Optional[List[str]] = None

    @staticmethod
    def _find_split_folder(base: Path, folder: str) -> Path:
        if (base / folder).is_dir():
            return base / folder
        # pytracking points got10k_dir at the train folder itself; accept a split folder given
        # directly, but never read the training folder for 'val' or the reverse.
        is_split_folder = (base / "list.txt").is_file() or any(p.name.startswith("GOT-10k_") for p in base.iterdir())
        named_other = base.name.lower() in ("train", "val", "test") and base.name.lower() != folder
        if is_split_folder and not named_other:
            return base
        raise layout_error("GOT-10k", base, _FIELD, _EXPECTED, f"has no '{folder}' folder")

    @staticmethod
    def _list_sequences(folder: Path) -> List[str]:
        on_disk = {p.name for p in folder.iterdir() if p.is_dir() and (p / "groundtruth.txt").is_file()}
        list_file = folder / "list.txt"
        if list_file.is_file():
            listed = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
            return keep_present("GOT-10k", listed, on_disk, f"'{list_file}'")
        return sorted(on_disk)

    def get_sequence_name(self, seq_id: int) -> str:
        return self.sequence_list[seq_id]

    def _seq_dir(self, seq_id: int) -> Path:
        return self._root / self.sequence_list[seq_id]

    def has_class_info(self) -> bool:
        return True

    def has_occlusion_info(self) -> bool:
        return True

    def _load_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        seq_dir = self._seq_dir(seq_id)
        bbox = read_numbers(seq_dir / "groundtruth.txt", "GOT-10k", columns=4)
        absence_path, cover_path = seq_dir / "absence.label", seq_dir / "cover.label"
        if not absence_path.is_file() and not cover_path.is_file():
            return boxes_to_info(bbox, visible_ratio=np.ones(len(bbox), dtype=np.float32))
        absence = (check_length("GOT-10k", absence_path, read_numbers(absence_path, "GOT-10k"), len(bbox)) > 0
                   if absence_path.is_file() else np.zeros(len(bbox), dtype=bool))
        cover = (check_length("GOT-10k", cover_path, read_numbers(cover_path, "GOT-10k"), len(bbox))
                 if cover_path.is_file() else np.full(len(bbox), 8.0))
        visible = ~absence & (cover > 0)
        return boxes_to_info(bbox, visible, visible_ratio=cover / 8.0)

    def _meta(self, seq_id: int) -> Dict[str, str]:
        meta = self._meta_cache.get(seq_id)
        if meta is None:
            path = self._seq_dir(seq_id) / "meta_info.ini"
            if not path.is_file():
                meta = {}
            else:
                meta = parse_meta_info(read_text(path, "GOT-10k"))
                if "object_class" not in meta:
                    raise DatasetFileError(f"GOT-10k: '{path}' has no 'object_class' entry.")
            self._meta_cache[seq_id] = meta
        return meta

    def get_sequence_meta(self, seq_id: int):
        meta = self._meta(seq_id)
        return object_meta(*(meta.get(key) for key in _META_KEYS))

    def _sequence_class(self, seq_id: int) -> Optional[str]:
        return self._meta(seq_id).get("object_class")

    def get_class_list(self) -> List[str]:
        # Reading every meta_info.ini is slow on the full set, so classes are collected on demand.
        if self._class_list is None:
            self._class_list = sorted({c for c in (self._sequence_class(i) for i in range(len(self.sequence_list)))
                                       if c is not None})
        return self._class_list

    @property
    def class_list(self) -> List[str]:
        return self.get_class_list()

    @class_list.setter
    def class_list(self, value) -> None:
        pass  # the base constructor assigns an empty list; classes are computed lazily

    def get_num_classes(self) -> int:
        return len(self.get_class_list())

    def get_frame_path(self, seq_id: int, frame_id: int) -> str:
        return str(self._seq_dir(seq_id) / f"{frame_id + 1:08d}.jpg")
