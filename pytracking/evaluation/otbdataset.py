"""OTB-100 (OTB-2015) in pytracking's layout.

Layout::

    <root>/<Seq>/img/0001.jpg ...             frame numbers zero-padded to 'nz' digits
    <root>/<Seq>/groundtruth_rect.txt         xywh, separated by commas, tabs or spaces
    <root>/<Seq>/groundtruth_rect.<k>.txt     for the two-target videos (Jogging, Skating2, Human4)

The sequence table (frame ranges, zero padding, extensions, annotation files, initial frames to
omit) is shipped as ``data_specs/otb100.json``.
"""
from __future__ import annotations

import json
import os
from importlib import resources
from typing import Dict, Iterable, List, Optional

from ltr.admin.environment import DatasetPathError, env_settings, require_dataset_dir
from pytracking.analysis.textio import annotation_cache_from_settings, read_boxes
from pytracking.evaluation.data import BaseDataset, NumberedFrames, Sequence, SequenceList

OTB_LAYOUT = "<root>/<Seq>/{img/%04d.jpg, groundtruth_rect.txt}"


def otb_sequence_info() -> List[Dict]:
    """The OTB-100 sequence table (name, path, startFrame, endFrame, nz, ext, anno_path, object_class[, initOmit])."""
    text = resources.files("pytracking.evaluation").joinpath("data_specs/otb100.json").read_text(encoding="utf-8")
    return json.loads(text)


class OTBDataset(BaseDataset):
    """OTB-100 sequences (``dataset='otb'``)."""

    name = "otb"

    def __init__(self, root: Optional[str] = None, sequences: Optional[Iterable[str]] = None):
        root = root if root is not None else env_settings().otb_dir
        self.root = require_dataset_dir("OTB-100", root, "otb_dir", OTB_LAYOUT)
        info = otb_sequence_info()
        if sequences is not None:
            by_name = {d["name"]: d for d in info}
            wanted = list(sequences)
            unknown = [w for w in wanted if w not in by_name]
            if unknown:
                raise KeyError(f"OTB-100: unknown sequences {unknown[:10]}")
            info = [by_name[w] for w in wanted]
        missing = [d["anno_path"] for d in info if not (self.root / d["anno_path"]).is_file()]
        if missing:
            raise DatasetPathError(f"OTB-100: {len(missing)} of {len(info)} annotation files are missing under "
                                   f"'{self.root}', e.g. {missing[:5]}. Expected {OTB_LAYOUT}; set 'otb_dir' "
                                   f"(or SLT_OTB_DIR), or pass sequences=[...] for a subset.")
        self.sequence_info = info
        self._sequences: Optional[SequenceList] = None
        self._annotation_cache = annotation_cache_from_settings()

    def _construct_sequence(self, info: Dict) -> Sequence:
        init_omit = int(info.get("initOmit", 0))
        first, last = int(info["startFrame"]) + init_omit, int(info["endFrame"])
        nz, ext = int(info["nz"]), info["ext"]
        frames = NumberedFrames(os.path.join(str(self.root), info["path"], ""), last + 1 - first, first=first,
                                digits=nz, suffix=f".{ext}")
        gt = read_boxes(self.root / info["anno_path"], allow_nonfinite=True, cache=self._annotation_cache)[init_omit:]
        return Sequence(info["name"], frames, "otb", gt, object_class=info.get("object_class"))

    def get_sequence_list(self) -> SequenceList:
        if self._sequences is None:
            self._sequences = SequenceList(self._construct_sequence(d) for d in self.sequence_info)
        return self._sequences

    def __len__(self) -> int:
        return len(self.sequence_info)
