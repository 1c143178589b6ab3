"""LaSOT test set (Protocol II: the official 280 test sequences).

Layout (official)::

    <root>/<class>/<class>-<n>/img/00000001.jpg ...
    <root>/<class>/<class>-<n>/groundtruth.txt      xywh, comma separated, one line per frame
    <root>/<class>/<class>-<n>/full_occlusion.txt   0/1 per frame, comma separated on one line
    <root>/<class>/<class>-<n>/out_of_view.txt      0/1 per frame, comma separated on one line

``target_visible`` = not fully occluded and not out of view; the pytracking protocol counts
invisible frames as failures (IoU -1) while still dividing by all frames.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Optional

import numpy as np

from ltr.admin.environment import DatasetPathError, env_settings, require_dataset_dir
from pytracking.analysis.textio import annotation_cache_from_settings, read_boxes, read_flags
from pytracking.evaluation.data import BaseDataset, NumberedFrames, Sequence, SequenceList

LASOT_LAYOUT = ("<root>/<class>/<class>-<n>/{img/%08d.jpg, groundtruth.txt, full_occlusion.txt, out_of_view.txt}")


def lasot_test_sequence_names() -> List[str]:
    """The 280 official LaSOT test sequences (Protocol II), in pytracking's order."""
    # A plain file next to this module (importlib.resources costs more to import than the read).
    text = (Path(__file__).resolve().parent / "data_specs" / "lasot_test.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


class LaSOTDataset(BaseDataset):
    """LaSOT test sequences (``dataset='lasot'``) with per-frame ``target_visible``."""

    name = "lasot"

    def __init__(self, root: Optional[str] = None, sequences: Optional[Iterable[str]] = None):
        root = root if root is not None else env_settings().lasot_dir
        self.root = require_dataset_dir("LaSOT", root, "lasot_dir", LASOT_LAYOUT)
        self.sequence_names = list(sequences) if sequences is not None else lasot_test_sequence_names()
        # os.path on strings: pathlib objects for 280 sequences x 3 files cost more than reading them.
        missing = [s for s in self.sequence_names
                   if not os.path.isfile(os.path.join(self._seq_folder(s), "groundtruth.txt"))]
        if missing:
            raise DatasetPathError(
                f"LaSOT: {len(missing)} of {len(self.sequence_names)} sequences are missing under '{self.root}', "
                f"e.g. {[str(self._seq_dir(s).relative_to(self.root)) for s in missing[:5]]}. Expected {LASOT_LAYOUT}; "
                f"set 'lasot_dir' (or SLT_LASOT_DIR) to the LaSOT root, or pass sequences=[...] for a subset.")
        self._sequences: Optional[SequenceList] = None
        self._annotation_cache = annotation_cache_from_settings()

    def _seq_dir(self, name: str) -> Path:
        return self.root / name.rsplit("-", 1)[0] / name

    def _seq_folder(self, name: str) -> str:
        """:meth:`_seq_dir` as a string."""
        return os.path.join(str(self.root), name.rsplit("-", 1)[0], name)

    def _construct_sequence(self, name: str) -> Sequence:
        seq_dir = self._seq_folder(name)
        gt = read_boxes(os.path.join(seq_dir, "groundtruth.txt"), allow_nonfinite=True, cache=self._annotation_cache)
        n = len(gt)
        flags = []
        for file_name in ("full_occlusion.txt", "out_of_view.txt"):
            path = os.path.join(seq_dir, file_name)
            if not os.path.isfile(path):
                raise DatasetPathError(f"LaSOT: {path} is missing; expected {LASOT_LAYOUT}.")
            values = read_flags(path, cache=self._annotation_cache)
            if len(values) != n:
                raise DatasetPathError(f"LaSOT: {path} has {len(values)} values for {n} ground-truth boxes.")
            flags.append(values)
        target_visible = np.logical_and(flags[0] == 0, flags[1] == 0)
        # Paths made on access: building LaSOT's 700k frame paths up front costs more than its annotations.
        frames = NumberedFrames(os.path.join(seq_dir, "img", ""), n)
        return Sequence(name, frames, "lasot", gt, target_visible=target_visible,
                        object_class=name.rsplit("-", 1)[0])

    def get_sequence_list(self) -> SequenceList:
        if self._sequences is None:
            self._sequences = SequenceList(self._construct_sequence(s) for s in self.sequence_names)
        return self._sequences

    def __len__(self) -> int:
        return len(self.sequence_names)
