"""TrackingNet test set (and, for completeness, its training chunks).

Layout (official)::

    <root>/TEST/anno/<seq>.txt        xywh; the test set gives only the first frame's box
    <root>/TEST/frames/<seq>/0.jpg, 1.jpg, ...
    <root>/TRAIN_<i>/anno/<seq>.txt   full ground truth
    <root>/TRAIN_<i>/frames/<seq>/0.jpg, ...

The test ground truth is withheld: results go to the evaluation server (see
``pytracking/util_scripts/pack_results.py``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Optional, Sequence as SequenceT, Tuple, Union

from ltr.admin.environment import DatasetPathError, env_settings, require_dataset_dir
from pytracking.analysis.textio import annotation_cache_from_settings, read_boxes
from pytracking.evaluation.data import BaseDataset, Sequence, SequenceList

TRACKINGNET_LAYOUT = "<root>/TEST/{anno/<seq>.txt, frames/<seq>/<i>.jpg}"


def _frame_files(folder: Path) -> List[str]:
    # Only the directory is listed; frames are named by their 0-based index.
    names = [e.name for e in os.scandir(folder) if e.name.endswith(".jpg") and e.name[:-4].isdigit()]
    names.sort(key=lambda n: int(n[:-4]))
    return [str(folder / n) for n in names]


class TrackingNetDataset(BaseDataset):
    """TrackingNet sequences (``dataset='trackingnet'``); ``sets`` defaults to ``'TEST'``."""

    name = "trackingnet"

    def __init__(self, root: Optional[str] = None, sets: Union[str, SequenceT[str]] = "TEST",
                 sequences: Optional[Iterable[str]] = None):
        root = root if root is not None else env_settings().trackingnet_dir
        set_names = [sets] if isinstance(sets, str) else list(sets)
        self.root = require_dataset_dir("TrackingNet", root, "trackingnet_dir", TRACKINGNET_LAYOUT,
                                        must_contain=[f"{s}/anno" for s in set_names])
        listed: List[Tuple[str, str]] = []
        for set_name in set_names:
            anno_dir = self.root / set_name / "anno"
            listed += sorted((set_name, f[:-4]) for f in os.listdir(anno_dir) if f.endswith(".txt"))
        if sequences is not None:
            wanted = list(sequences)
            by_name = {name: (s, name) for s, name in listed}
            unknown = [w for w in wanted if w not in by_name]
            if unknown:
                raise KeyError(f"TrackingNet: sequences without an annotation file: {unknown[:10]}")
            listed = [by_name[w] for w in wanted]
        self.sequence_entries = listed
        self._sequences: Optional[SequenceList] = None
        self._annotation_cache = annotation_cache_from_settings()

    def _construct_sequence(self, set_name: str, name: str) -> Sequence:
        gt = read_boxes(self.root / set_name / "anno" / f"{name}.txt", cache=self._annotation_cache)
        frames_dir = self.root / set_name / "frames" / name
        if not frames_dir.is_dir():
            raise DatasetPathError(f"TrackingNet: frames folder '{frames_dir}' is missing; expected {TRACKINGNET_LAYOUT}.")
        frames = _frame_files(frames_dir)
        return Sequence(name, frames, "trackingnet", gt)

    def get_sequence_list(self) -> SequenceList:
        if self._sequences is None:
            self._sequences = SequenceList(self._construct_sequence(s, n) for s, n in self.sequence_entries)
        return self._sequences

    def __len__(self) -> int:
        return len(self.sequence_entries)
