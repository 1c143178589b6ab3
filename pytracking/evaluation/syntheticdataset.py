"""The synthetic evaluation split, written by the synthetic-video generator in GOT-10k layout.

Layout::

    <synthetic_dir>/<split>/list.txt
    <synthetic_dir>/<split>/attributes.json          {seq: {attribute: bool|number}} or {seq: [names]}
    <synthetic_dir>/<split>/<Seq>/{00000001.jpg,..., groundtruth.txt, absence.label, cover.label,
                                   meta_info.ini}

It is evaluated like GOT-10k val (full ground truth, cover labels for the GOT-10k protocol);
the per-sequence attributes go into ``Sequence.attributes`` for attribute-wise analysis.

Generated on first use: when no root is passed and the ``synthetic_dir`` setting is at its
workspace default (``<workspace>/data/synthetic``, neither the local settings file nor
``SLT_SYNTHETIC_DIR`` sets it), the splits in :data:`EMBEDDED_SPLITS` are written there the first
time they are asked for (atomically, with a progress bar) and reused afterwards; a split written
with other settings than the table's is regenerated. A root the user chose (the setting, the
variable or ``root=``) is only read, never written: a missing one is an error that says how to
write the videos there. See docs/synthetic_data.md.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, Optional

from ltr.admin.environment import (DatasetPathError, EnvSettings, env_settings, require_dataset_dir,
                                   workspace_default)
from pytracking.evaluation.got10kdataset import GOT10kLayoutDataset

if TYPE_CHECKING:  # the generator imports torch; reading a written split must not need it
    from ltr.dataset.synthetic import SyntheticConfig

SYNTHETIC_LAYOUT = ("<root>/<split>/list.txt, <root>/<split>/attributes.json and "
                    "<root>/<split>/<Seq>/{00000001.jpg,..., groundtruth.txt, absence.label, cover.label, meta_info.ini}")


@dataclasses.dataclass(frozen=True)
class EmbeddedSplit:
    """How a split under the default synthetic root is generated on first use.

    The arguments of :func:`ltr.util_scripts.make_synthetic.ensure_got10k_layout`; every one of
    them is recorded in the split's ``complete.json``, so changing one regenerates the split.
    """

    num_videos: int = 60
    frames: int = 48
    seed: int = 0
    config: Optional["SyntheticConfig"] = None
    """Generator knobs; None: the default :class:`~ltr.dataset.synthetic.SyntheticConfig`."""
    jpeg_quality: int = 90


#: Splits generated on first use under the default root. ``test`` is the ``synthetic`` dataset
#: (the same 60 x 48 set ``python -m ltr.util_scripts.make_synthetic`` writes with its defaults).
#: ``val`` is left out on purpose: training-time validation writes it with its own size.
EMBEDDED_SPLITS: Dict[str, EmbeddedSplit] = {"test": EmbeddedSplit()}


def is_default_synthetic_root(settings: EnvSettings) -> bool:
    """True when ``settings.synthetic_dir`` is its workspace default: the framework's own folder,
    which it may write; otherwise the user chose it and it is only read."""
    default = workspace_default(settings, "synthetic_dir")
    return Path(settings.synthetic_dir).expanduser().resolve() == Path(default).expanduser().resolve()


def ensure_embedded_split(root: str, split: str, progress: bool = True) -> Path:
    """Generate ``split`` of :data:`EMBEDDED_SPLITS` under ``root`` unless it is there and complete."""
    from ltr.util_scripts.make_synthetic import ensure_got10k_layout

    spec = EMBEDDED_SPLITS[split]
    return ensure_got10k_layout(root, split, num_videos=spec.num_videos, frames=spec.frames, seed=spec.seed,
                                config=spec.config, jpeg_quality=spec.jpeg_quality, progress=progress)


def _missing_split_hint(root: str, split: str, owned: bool, default_root: str) -> str:
    write = f"python -m ltr.util_scripts.make_synthetic --root {root} --split {split}"
    if owned:
        return f"Only the splits {sorted(EMBEDDED_SPLITS)} are generated on first use; write this one with '{write}'."
    return (f"Nothing is generated in a root you chose (the synthetic_dir setting, SLT_SYNTHETIC_DIR or an explicit "
            f"root): write the videos with '{write}', or leave synthetic_dir unset to use {default_root}, where "
            f"the 'test' split is generated on first use.")


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
        owned = False
        if root is None:
            settings = env_settings()
            root = settings.synthetic_dir
            owned = is_default_synthetic_root(settings)
            if owned and split in EMBEDDED_SPLITS:
                ensure_embedded_split(root, split)
        try:
            base = require_dataset_dir("Synthetic", root, "synthetic_dir", SYNTHETIC_LAYOUT,
                                       must_contain=[f"{split}/list.txt"])
        except DatasetPathError as err:
            if not root:
                raise
            # create_local_file=False: composing an error message must not write the settings file
            default_root = workspace_default(env_settings(create_local_file=False), "synthetic_dir")
            raise DatasetPathError(f"{err} {_missing_split_hint(root, split, owned, default_root)}") from None
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
