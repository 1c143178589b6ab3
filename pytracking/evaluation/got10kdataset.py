"""GOT-10k validation and test sets, and the shared reader for GOT-10k-layout folders.

Layout (official)::

    <root>/{val,test}/list.txt
    <root>/{val,test}/<seq>/00000001.jpg ...
    <root>/{val,test}/<seq>/groundtruth.txt      xywh, one line per frame (test: first frame only)
    <root>/{val,test}/<seq>/absence.label        0/1 per frame (val only)
    <root>/{val,test}/<seq>/cover.label          0..8 visible ratio per frame (val only)
    <root>/{val,test}/<seq>/meta_info.ini        '[METAINFO]' then 'key: value' lines,
                                                 e.g. 'resolution: (1280, 720)' = (W, H)

Loading reads annotation files only. The image size comes from ``meta_info.ini`` where it is
given (that is also where the GOT-10k toolkit takes its clipping bound from); otherwise
:meth:`Sequence.get_image_size` reads the first frame's header on demand.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

from ltr.admin.environment import DatasetPathError, env_settings, require_dataset_dir
from pytracking.analysis.textio import AnnotationCache, annotation_cache_from_settings, read_boxes, read_flags
from pytracking.evaluation.data import BaseDataset, NumberedFrames, Sequence, SequenceList

GOT10K_LAYOUT = ("<root>/{val,test}/list.txt and <root>/{val,test}/<seq>/{00000001.jpg,..., groundtruth.txt, "
                 "absence.label, cover.label, meta_info.ini}")


def read_meta_info(path: Path) -> Dict[str, str]:
    """Parse a GOT-10k ``meta_info.ini`` ('[METAINFO]' header, then 'key: value' lines)."""
    meta: Dict[str, str] = {}
    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("[") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            meta[key.strip()] = value.strip()
    return meta


def resolution_from_meta(meta: Dict[str, str]) -> Optional[tuple]:
    """(H, W) from a meta dict's 'resolution: (W, H)' entry, or None when absent or malformed."""
    text = meta.get("resolution")
    if not text:
        return None
    try:
        width, height = ast.literal_eval(text)
        return int(height), int(width)
    except (ValueError, SyntaxError, TypeError):
        return None


def read_sequence_list(list_file: Path) -> List[str]:
    """Sequence names of a ``list.txt`` (one per line, blank lines ignored)."""
    with open(list_file, "r", encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def _count_jpgs(folder: Path) -> int:
    # Directory listing only; the images themselves are never opened.
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.name.endswith(".jpg"))


def load_got10k_layout_sequence(seq_dir: Path, name: str, dataset: str,
                                attributes: Optional[Dict[str, bool]] = None,
                                cache: Optional[AnnotationCache] = None) -> Sequence:
    """Build a Sequence from one GOT-10k-layout folder, reading annotations only.

    When ``groundtruth.txt`` has one line per frame the frame count is the number of lines;
    with a single line (withheld test ground truth) the ``.jpg`` files are counted.
    Frame paths follow the official ``%08d.jpg`` naming. ``cache`` keeps the parsed annotation
    files (see :class:`~pytracking.analysis.textio.AnnotationCache`).
    """
    anno_file = seq_dir / "groundtruth.txt"
    if not anno_file.is_file():
        raise DatasetPathError(f"{dataset}: sequence '{name}' has no {anno_file}; expected {GOT10K_LAYOUT}.")
    gt = read_boxes(anno_file, allow_nonfinite=True, cache=cache)
    if len(gt) == 0:
        raise DatasetPathError(f"{dataset}: {anno_file} is empty.")
    num_frames = len(gt) if len(gt) > 1 else _count_jpgs(seq_dir)
    num_frames = max(num_frames, 1)
    frames = NumberedFrames(os.path.join(str(seq_dir), ""), num_frames)

    def optional_label(file_name: str) -> Optional[np.ndarray]:
        path = seq_dir / file_name
        if not path.is_file():
            return None
        values = read_flags(path, cache=cache)
        if len(values) != num_frames:
            raise DatasetPathError(f"{dataset}: {path} has {len(values)} values for {num_frames} frames.")
        return values

    cover = optional_label("cover.label")
    absence = optional_label("absence.label")
    meta_file = seq_dir / "meta_info.ini"
    meta = read_meta_info(meta_file) if meta_file.is_file() else {}
    return Sequence(name, frames, dataset, gt,
                    object_class=meta.get("object_class"),
                    image_size=resolution_from_meta(meta),
                    attributes=attributes,
                    cover=cover,
                    absent=None if absence is None else absence > 0)


class GOT10kLayoutDataset(BaseDataset):
    """Any split folder in GOT-10k layout: ``<split_dir>/list.txt`` + one folder per sequence."""

    name = "got10k"

    def __init__(self, split_dir: Path, dataset: str, sequences: Optional[Iterable[str]] = None):
        self.split_dir = Path(split_dir)
        self.dataset = dataset
        listed = read_sequence_list(self.split_dir / "list.txt")
        if sequences is not None:
            wanted = list(sequences)
            unknown = sorted(set(wanted) - set(listed))
            if unknown:
                raise KeyError(f"{dataset}: sequences not in {self.split_dir / 'list.txt'}: {unknown[:10]}")
            listed = wanted
        missing = [s for s in listed if not (self.split_dir / s / "groundtruth.txt").is_file()]
        if missing:
            raise DatasetPathError(f"{dataset}: {len(missing)} of {len(listed)} sequences listed in "
                                   f"{self.split_dir / 'list.txt'} have no groundtruth.txt, e.g. {missing[:5]}; "
                                   f"expected {GOT10K_LAYOUT}.")
        self.sequence_names = listed
        self._sequences: Optional[SequenceList] = None
        self._annotation_cache = annotation_cache_from_settings()

    def _attributes(self, name: str) -> Optional[Dict[str, bool]]:
        return None

    def get_sequence_list(self) -> SequenceList:
        if self._sequences is None:
            self._sequences = SequenceList(
                load_got10k_layout_sequence(self.split_dir / s, s, self.dataset, self._attributes(s),
                                            self._annotation_cache)
                for s in self.sequence_names)
        return self._sequences

    def __len__(self) -> int:
        return len(self.sequence_names)


class GOT10kDataset(GOT10kLayoutDataset):
    """GOT-10k ``val`` (full ground truth, cover/absence labels) or ``test`` (first box only).

    Sequences carry ``dataset='got10k'`` (as in pytracking), ``cover`` and ``absent`` per frame
    where the labels exist, and ``image_size`` (H, W) from ``meta_info.ini``.
    """

    def __init__(self, split: str = "val", root: Optional[str] = None, sequences: Optional[Iterable[str]] = None):
        if split not in ("val", "test"):
            raise ValueError(f"GOT-10k split must be 'val' or 'test', got {split!r}")
        root = root if root is not None else env_settings().got10k_dir
        base = require_dataset_dir("GOT-10k", root, "got10k_dir", GOT10K_LAYOUT, must_contain=[f"{split}/list.txt"])
        self.split = split
        self.name = f"got10k_{split}"
        super().__init__(base / split, "got10k", sequences)
