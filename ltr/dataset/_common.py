"""Small helpers shared by the dataset readers (split lists, annotation files, errors)."""
from __future__ import annotations

import random
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, TypeVar

import numpy as np
import torch

from ltr.admin.environment import DatasetPathError, EnvSettings, env_settings, local_settings_path
from ltr.dataset.base_video_dataset import BaseVideoDataset

T = TypeVar("T")

#: Folder holding the shipped split lists (installed with the package).
DATA_SPECS_DIR = Path(__file__).resolve().parents[1] / "data_specs"


class DatasetFileError(OSError):
    """An annotation file of a dataset is missing or cannot be parsed; the message names it."""


def configured_root(root: Optional[str], field: str) -> Optional[str]:
    """``root`` if given, else the value of the settings field (local file or ``SLT_*`` variable)."""
    if root:
        return str(root)
    return getattr(env_settings(), field) or None


def layout_error(dataset: str, root: Path, field: str, expected: str, detail: str) -> DatasetPathError:
    """A :class:`DatasetPathError` for a root that exists but does not hold the expected layout."""
    return DatasetPathError(
        f"{dataset}: root '{root}' {detail}. Expected {expected}; set '{field}' in {local_settings_path()} "
        f"or the environment variable {EnvSettings.env_var(field)}, or pass the root explicitly.")


def read_split_file(filename: str) -> List[str]:
    """Lines of a shipped split list in ``ltr/data_specs`` (blank lines dropped)."""
    path = DATA_SPECS_DIR / filename
    if not path.is_file():
        raise DatasetFileError(f"Split list '{path}' is missing from the installation; reinstall the package "
                               f"(setup.py ships ltr/data_specs/*.txt).")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def keep_present(dataset: str, wanted: Sequence[str], present: Iterable[str], what: str) -> List[str]:
    """Entries of ``wanted`` that are in ``present``; warns once if some are missing.

    Partial copies of a dataset are common (a few chunks downloaded), so a split naming
    sequences that are not on disk is reported, not fatal; an empty result is left to the
    caller to reject.
    """
    present_set = set(present)
    kept = [name for name in wanted if name in present_set]
    missing = len(wanted) - len(kept)
    if missing and kept:
        examples = [name for name in wanted if name not in present_set][:3]
        warnings.warn(f"{dataset}: {missing} of the {len(wanted)} sequences of {what} are not on disk "
                      f"(e.g. {examples}); using the {len(kept)} present.", RuntimeWarning, stacklevel=3)
    return kept


def subsample(items: List[T], data_fraction: Optional[float], seed: int = 0) -> List[T]:
    """A fixed random fraction of ``items`` (order kept), the same on every run and process."""
    if data_fraction is None or data_fraction >= 1:
        return list(items)
    if not 0 < data_fraction:
        raise ValueError(f"data_fraction must be in (0, 1], got {data_fraction}")
    count = max(1, int(round(len(items) * data_fraction)))
    chosen = sorted(random.Random(seed).sample(range(len(items)), count))
    return [items[i] for i in chosen]


def read_text(path: Path, dataset: str) -> str:
    """Content of an annotation file; a missing file raises :class:`DatasetFileError` naming it."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise DatasetFileError(f"{dataset}: annotation file '{path}' does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetFileError(f"{dataset}: cannot read annotation file '{path}': {exc}") from exc


def read_numbers(path: Path, dataset: str, columns: int = 1, dtype=np.float64) -> np.ndarray:
    """Parse a text file of numbers separated by commas, tabs or spaces.

    Returns an array of shape (N, columns), or (N,) when ``columns == 1``. ``NaN`` entries are
    kept (some datasets mark unknown boxes that way).
    """
    text = read_text(path, dataset)
    tokens = text.replace(",", " ").replace(";", " ").split()
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError as exc:
        raise DatasetFileError(f"{dataset}: annotation file '{path}' holds non-numeric values: {exc}") from exc
    if columns > 1:
        if values.size % columns:
            raise DatasetFileError(f"{dataset}: annotation file '{path}' has {values.size} numbers, "
                                   f"not a multiple of {columns} per line.")
        values = values.reshape(-1, columns)
    return values.astype(dtype)


def boxes_to_info(bbox: np.ndarray, visible: Optional[np.ndarray] = None,
                  visible_ratio: Optional[np.ndarray] = None) -> Dict[str, torch.Tensor]:
    """The sequence-info dict from (N, 4) xywh pixel boxes and optional visibility flags.

    ``valid`` is ``w > 0 and h > 0`` (NaN boxes are invalid); ``visible`` is ANDed with ``valid``
    so a sampler never picks a frame without a usable box.
    """
    bbox_t = torch.as_tensor(np.asarray(bbox, dtype=np.float32).reshape(-1, 4))
    valid = (bbox_t[:, 2] > 0) & (bbox_t[:, 3] > 0)
    vis = valid.clone() if visible is None else (torch.as_tensor(np.asarray(visible, dtype=bool)) & valid)
    info = {"bbox": bbox_t, "valid": valid, "visible": vis}
    if visible_ratio is not None:
        info["visible_ratio"] = torch.as_tensor(np.asarray(visible_ratio, dtype=np.float32))
    return info


def check_length(dataset: str, path: Path, values: np.ndarray, expected: int) -> np.ndarray:
    """Ensure a per-frame flag file has one entry per box."""
    if len(values) != expected:
        raise DatasetFileError(f"{dataset}: '{path}' has {len(values)} entries but the ground truth has "
                               f"{expected} frames.")
    return values


def frames_anno(info: Dict[str, torch.Tensor], frame_ids: Sequence[int]) -> Dict[str, list]:
    """Per-frame annotation lists for ``get_frames`` (one cloned entry per requested frame)."""
    return {key: [value[f, ...].clone() for f in frame_ids] for key, value in info.items()}


def masks_for_frames(get_frame_mask, seq_id: int, frame_ids: Sequence[int]) -> List[torch.Tensor]:
    """``anno['mask']`` entries: one H x W float32 0/1 tensor per requested frame.

    Each mask is read once even if its frame is requested repeatedly (image datasets), and every
    entry is its own tensor so that augmenting one does not change another.
    """
    read = {f: get_frame_mask(seq_id, f) for f in dict.fromkeys(frame_ids)}
    return [torch.from_numpy(read[f].astype(np.float32)) for f in frame_ids]


def object_meta(object_class_name: Optional[str] = None, motion_class: Optional[str] = None,
                major_class: Optional[str] = None, root_class: Optional[str] = None,
                motion_adverb: Optional[str] = None) -> "OrderedDict[str, Optional[str]]":
    """The meta dict that ``get_frames`` returns (pytracking's keys)."""
    return OrderedDict(object_class_name=object_class_name, motion_class=motion_class,
                       major_class=major_class, root_class=root_class, motion_adverb=motion_adverb)


def check_frame_ids(dataset: str, sequence: str, frame_ids: Sequence[int], num_frames: int) -> None:
    """Reject frame ids outside the sequence with a message naming it (not an IndexError)."""
    bad = [f for f in frame_ids if not 0 <= int(f) < num_frames]
    if bad:
        raise IndexError(f"{dataset}: frame ids {bad[:5]} are outside sequence '{sequence}' "
                         f"({num_frames} frames).")


class SequenceFolderDataset(BaseVideoDataset):
    """Shared machinery of the folder-based readers.

    Subclasses fill ``self.sequence_list`` and implement :meth:`_load_sequence_info`,
    :meth:`get_frame_path`, :meth:`get_sequence_name` and, where they have classes,
    :meth:`_sequence_class`. Besides the pytracking interface they expose what the LMDB packer
    needs: :meth:`get_frame_path`, :meth:`get_sequence_name`, :meth:`get_sequence_meta` and, for
    datasets with masks, :meth:`get_frame_mask`.
    """

    #: Sequence infos kept per process; sampling re-reads the same sequences often.
    info_cache_size = 64

    def __init__(self, name: str, root, image_loader=None):
        from ltr.data.image_loader import imread_rgb
        super().__init__(name, root, image_loader if image_loader is not None else imread_rgb)
        self._info_cache: "OrderedDict[int, Dict[str, torch.Tensor]]" = OrderedDict()

    # ---- to implement -------------------------------------------------------------------
    def _load_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def get_frame_path(self, seq_id: int, frame_id: int) -> str:
        """Path of the image file of one frame (0-based frame id)."""
        raise NotImplementedError

    def get_sequence_name(self, seq_id: int) -> str:
        """A name that identifies the sequence within the dataset."""
        raise NotImplementedError

    def _sequence_class(self, seq_id: int) -> Optional[str]:
        return None

    # ---- shared -------------------------------------------------------------------------
    def get_name(self) -> str:
        return self.name

    def get_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        info = self._info_cache.get(seq_id)
        if info is None:
            info = self._load_sequence_info(seq_id)
            self._info_cache[seq_id] = info
            while len(self._info_cache) > self.info_cache_size:
                self._info_cache.popitem(last=False)
        else:
            self._info_cache.move_to_end(seq_id)
        # Callers (processing, augmentation) may modify what they get; the cache must not change.
        return {key: value.clone() for key, value in info.items()}

    def get_sequence_meta(self, seq_id: int) -> "OrderedDict[str, Optional[str]]":
        """The meta dict of ``get_frames`` (object class and, for GOT-10k, motion classes)."""
        return object_meta(self._sequence_class(seq_id))

    def get_class_name(self, seq_id: int) -> Optional[str]:
        return self._sequence_class(seq_id)

    def get_sequences_in_class(self, class_name: str) -> List[int]:
        if not self.has_class_info():
            raise NotImplementedError(f"{self.name} has no class information.")
        return [i for i in range(self.get_num_sequences()) if self._sequence_class(i) == class_name]

    def get_frame_mask(self, seq_id: int, frame_id: int) -> np.ndarray:
        """Target mask of one frame as an H x W uint8 array of 0/1 (datasets with masks only)."""
        raise NotImplementedError(f"{self.name} has no masks.")

    def _read_frames(self, seq_id: int, frame_ids: Sequence[int]) -> List[np.ndarray]:
        return [self.image_loader(self.get_frame_path(seq_id, f)) for f in frame_ids]

    def get_frames(self, seq_id: int, frame_ids: Sequence[int], anno: Optional[Dict[str, torch.Tensor]] = None):
        frame_ids = [int(f) for f in frame_ids]
        if anno is None:
            anno = self.get_sequence_info(seq_id)
        check_frame_ids(self.name, self.get_sequence_name(seq_id), frame_ids, len(anno["bbox"]))
        frames = self._read_frames(seq_id, frame_ids)
        anno_frames = frames_anno(anno, frame_ids)
        if self.has_mask():
            anno_frames["mask"] = masks_for_frames(self.get_frame_mask, seq_id, frame_ids)
        return frames, anno_frames, self.get_sequence_meta(seq_id)
