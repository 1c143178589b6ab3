"""The synthetic evaluation split, written by the synthetic-video generator in GOT-10k layout.

Layout::

    <synthetic_dir>/<split>/list.txt
    <synthetic_dir>/<split>/attributes.json          {seq: {attribute: bool|number}} or {seq: [names]}
    <synthetic_dir>/<split>/<Seq>/{00000001.jpg,..., groundtruth.txt, absence.label, cover.label,
                                   meta_info.ini}

It is evaluated like GOT-10k val (full ground truth, cover labels for the GOT-10k protocol);
the per-sequence attributes go into ``Sequence.attributes`` for attribute-wise analysis.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, Optional

from ltr.admin.environment import DatasetPathError, env_settings, require_dataset_dir
from pytracking.evaluation.got10kdataset import GOT10kLayoutDataset

SYNTHETIC_LAYOUT = ("<root>/<split>/list.txt, <root>/<split>/attributes.json and "
                    "<root>/<split>/<Seq>/{00000001.jpg,..., groundtruth.txt, absence.label, cover.label, meta_info.ini}")


def _normalise_attributes(value) -> Dict[str, object]:
    # The generator may store either flag dicts or lists of attribute names; both become dicts.
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return {str(name): True for name in value}
    return {}


class SyntheticDataset(GOT10kLayoutDataset):
    """Synthetic videos in GOT-10k layout (``dataset='synthetic'``), default split ``test``."""

    def __init__(self, split: str = "test", root: Optional[str] = None, sequences: Optional[Iterable[str]] = None):
        root = root if root is not None else env_settings().synthetic_dir
        base = require_dataset_dir("Synthetic", root, "synthetic_dir", SYNTHETIC_LAYOUT,
                                   must_contain=[f"{split}/list.txt"])
        self.split = split
        self.name = "synthetic" if split == "test" else f"synthetic_{split}"
        attributes_file = base / split / "attributes.json"
        self._attribute_table: Dict[str, Dict[str, object]] = {}
        if attributes_file.is_file():
            try:
                raw = json.loads(attributes_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DatasetPathError(f"Synthetic: {attributes_file} is not valid JSON ({exc}).") from None
            if isinstance(raw, dict):
                self._attribute_table = {str(k): _normalise_attributes(v) for k, v in raw.items()}
        super().__init__(Path(base) / split, "synthetic", sequences)

    def _attributes(self, name: str):
        return self._attribute_table.get(name, {})
