"""Datasets packed into one LMDB file, and the packer.

Millions of small JPEGs are slow to open on network and spinning disks; one memory-mapped LMDB
file is read sequentially by the OS and needs no directory lookups. The packer stores the
original file bytes (never re-encoded), so an LMDB-backed dataset returns exactly the same
frames, annotations and meta as the folder version it was packed from.

Records (keys are UTF-8 strings)::

    __meta__                  JSON: format, dataset name, flags, sequence names, class per sequence
    seq/<k>/info              numpy .npz of the sequence info arrays (bbox, valid, visible, ...)
    seq/<k>/meta              JSON of the get_frames meta dict
    seq/<k>/frames            JSON list of the image keys of the sequence's frames
    seq/<k>/mask/<j>          PNG of the 0/1 target mask of frame j (datasets with masks)
    img/<path below root>     original image file bytes, stored once even if shared (COCO)

A folder dataset can be packed if it provides ``get_sequence_name``, ``get_frame_path`` and,
with masks, ``get_frame_mask`` (every reader in ``ltr.dataset`` does; see docs/datasets.md).
"""
from __future__ import annotations

import functools
import io
import json
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from ltr.admin.environment import require_dataset_dir
from ltr.data import image_loader as _loaders
from ltr.data.image_loader import ImageReadError, decode_image_bytes, read_image_bytes
from ltr.dataset._common import (DatasetFileError, check_frame_ids, configured_root, frames_anno, layout_error,
                                 masks_for_frames, subsample)
from ltr.dataset.base_video_dataset import BaseVideoDataset
from ltr.dataset.got10k import got10k_select_sequences
from ltr.dataset.lasot import lasot_select_sequences
from ltr.dataset.trackingnet import trackingnet_select_sequences

__all__ = ["LmdbDataset", "pack_dataset", "Lasot_lmdb", "Got10k_lmdb", "TrackingNet_lmdb", "MSCOCOSeq_lmdb",
           "YouTubeVOS_lmdb", "LMDB_FORMAT"]

LMDB_FORMAT = "slt-lmdb-1"
_META_KEY = b"__meta__"
_EXPECTED = "an LMDB folder (data.mdb) written by `python -m ltr.util_scripts.pack_lmdb`"
_DEFAULT_MAP_SIZE = 1 << 40  # address space only; the file grows with the data
_COMMIT_BYTES = 256 << 20


def _encode_info(info: Dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{key: value.numpy() for key, value in info.items()})
    return buffer.getvalue()


def _decode_info(data: bytes) -> Dict[str, torch.Tensor]:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {key: torch.from_numpy(arrays[key].copy()) for key in arrays.files}


def _image_key(dataset: BaseVideoDataset, path: str) -> str:
    """``img/<path below the dataset root>``: stable, and shared by objects of one image."""
    root = dataset.root
    try:
        relative = Path(path).resolve().relative_to(Path(root).resolve())
        return "img/" + relative.as_posix()
    except (ValueError, TypeError):
        return "img/" + Path(path).as_posix()


def _write_sequence(txn, dataset: BaseVideoDataset, seq_id: int, k: int, written_images: set) -> int:
    """Put the records of one sequence (stored as number ``k``); returns the bytes written."""
    info = dataset.get_sequence_info(seq_id)
    if hasattr(dataset, "get_sequence_meta"):
        meta = dataset.get_sequence_meta(seq_id)
    else:
        meta = dataset.get_frames(seq_id, [0], info)[2]
    written = 0
    image_keys = []
    for frame_id in range(len(info["bbox"])):
        path = dataset.get_frame_path(seq_id, frame_id)
        key = _image_key(dataset, path)
        image_keys.append(key)
        if key not in written_images:
            data = read_image_bytes(path)  # original bytes, never re-encoded
            txn.put(key.encode(), data)
            written_images.add(key)
            written += len(data)
        if dataset.has_mask():
            ok, png = cv2.imencode(".png", dataset.get_frame_mask(seq_id, frame_id).astype(np.uint8))
            if not ok:
                raise RuntimeError(f"could not encode the mask of frame {frame_id} of "
                                   f"'{dataset.get_sequence_name(seq_id)}'")
            txn.put(f"seq/{k}/mask/{frame_id}".encode(), png.tobytes())
            written += png.nbytes
    txn.put(f"seq/{k}/info".encode(), _encode_info(info))
    txn.put(f"seq/{k}/meta".encode(), json.dumps(meta).encode())
    txn.put(f"seq/{k}/frames".encode(), json.dumps(image_keys).encode())
    return written


def pack_dataset(dataset: BaseVideoDataset, out_path: Union[str, os.PathLike],
                 sequences: Optional[Sequence[int]] = None, map_size: int = _DEFAULT_MAP_SIZE,
                 overwrite: bool = False, progress: bool = True) -> Path:
    """Write ``dataset`` (or the sequences ``sequences``) to an LMDB folder at ``out_path``.

    The LMDB is written under a temporary name next to ``out_path`` and renamed when complete,
    so an interrupted run never leaves a half-written dataset under the final name.

    Args:
        dataset: a folder dataset with ``get_sequence_name``/``get_frame_path`` (see module doc).
        out_path: destination folder (created; holds data.mdb).
        sequences: sequence ids to pack, in order; None = all.
        map_size: LMDB address-space reservation in bytes.
        overwrite: replace an existing ``out_path``.
        progress: show a tqdm progress bar.
    Returns:
        the final path.
    """
    import lmdb

    for method in ("get_sequence_name", "get_frame_path"):
        if not callable(getattr(dataset, method, None)):
            raise TypeError(f"{type(dataset).__name__} cannot be packed: it lacks {method}(); see docs/datasets.md.")
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"LMDB destination '{out_path}' exists; pass overwrite=True (--overwrite) to replace it.")
    seq_ids = list(range(dataset.get_num_sequences())) if sequences is None else [int(s) for s in sequences]
    tmp_path = out_path.with_name(f"{out_path.name}.partial-{os.getpid()}")
    if tmp_path.exists():
        shutil.rmtree(tmp_path)
    tmp_path.parent.mkdir(parents=True, exist_ok=True)

    iterator = seq_ids
    if progress:
        from tqdm import tqdm
        iterator = tqdm(seq_ids, desc=f"packing {dataset.get_name()}", unit="seq")

    names, classes, lengths = [], [], []
    written_images: set = set()
    env = lmdb.open(str(tmp_path), map_size=map_size, subdir=True, meminit=False)
    try:
        txn = env.begin(write=True)
        pending = 0
        for k, seq_id in enumerate(iterator):
            pending += _write_sequence(txn, dataset, seq_id, k, written_images)
            names.append(dataset.get_sequence_name(seq_id))
            classes.append(dataset.get_class_name(seq_id) if dataset.has_class_info() else None)
            lengths.append(len(dataset.get_sequence_info(seq_id)["bbox"]))
            if pending > _COMMIT_BYTES:  # bounded transactions keep memory flat on big datasets
                txn.commit()
                txn = env.begin(write=True)
                pending = 0
        header = {
            "format": LMDB_FORMAT,
            "dataset": dataset.get_name(),
            "source": type(dataset).__name__,
            "is_video": bool(dataset.is_video_sequence()),
            "has_mask": bool(dataset.has_mask()),
            "has_class_info": bool(dataset.has_class_info()),
            "has_occlusion_info": bool(dataset.has_occlusion_info()),
            "sequences": names,
            "classes": classes,
            "num_frames": lengths,
        }
        txn.put(_META_KEY, json.dumps(header).encode())
        txn.commit()
        env.sync(True)
    except BaseException:
        env.close()
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise
    env.close()
    if out_path.exists():
        shutil.rmtree(out_path)
    os.replace(tmp_path, out_path)
    return out_path


#: realpath -> (pid, file identity, environment). py-lmdb allows one environment per file and
#: process, and a forked DataLoader worker must not use its parent's; datasets on one file share it.
_ENVIRONMENTS: Dict[str, tuple] = {}


def _environment(path: Path):
    """The read-only LMDB environment of ``path`` for this process (opened on first use)."""
    import lmdb

    key = os.path.realpath(path)
    stat = os.stat(os.path.join(key, "data.mdb"))
    identity = (stat.st_dev, stat.st_ino)
    entry = _ENVIRONMENTS.pop(key, None)
    if entry is not None:
        pid, old_identity, env = entry
        if pid == os.getpid() and old_identity == identity:
            _ENVIRONMENTS[key] = entry
            return env
        # Inherited through fork (closing only unmaps this process's copy; the parent's handle
        # is unaffected) or the file was re-packed in place: start afresh.
        env.close()
    env = lmdb.open(key, readonly=True, lock=False, readahead=False, meminit=False, max_readers=256, subdir=True)
    _ENVIRONMENTS[key] = (os.getpid(), identity, env)
    return env


def _as_decoder(image_loader) -> Callable[[bytes, str], np.ndarray]:
    """A bytes decoder for an LMDB dataset; path loaders of this package map to their decoder."""
    if image_loader is None or image_loader is _loaders.imread_rgb:
        return decode_image_bytes
    # partial objects, not lambdas, so that datasets pickle into spawned DataLoader workers
    if image_loader is _loaders.opencv_loader:
        return functools.partial(decode_image_bytes, backend="opencv")
    if image_loader is _loaders.jpeg4py_loader:
        return functools.partial(decode_image_bytes, backend="jpeg4py")
    return image_loader


class LmdbDataset(BaseVideoDataset):
    """A dataset read from an LMDB written by :func:`pack_dataset`.

    Args:
        lmdb_path: the LMDB folder.
        image_loader: decoder ``(data: bytes, name: str) -> H x W x 3 uint8 RGB``; default
            :func:`decode_image_bytes` (jpeg4py from memory, OpenCV fallback).
        sequences: names of the sequences to use (in that order), or a function mapping the list
            of packed names to that list; None = all, in packed order.
        data_fraction: use a fixed random fraction of the sequences (same choice as the folder
            dataset for the same list).
    """

    _label = "LMDB dataset"
    _field = "lmdb_dir"
    #: decoded per-sequence records kept per process (sampling revisits sequences often)
    record_cache_size = 64

    def __init__(self, lmdb_path: Optional[Union[str, os.PathLike]], image_loader=None,
                 sequences: Union[None, Sequence[str], Callable[[List[str]], List[str]]] = None,
                 data_fraction: Optional[float] = None):
        path = require_dataset_dir(self._label, str(lmdb_path) if lmdb_path else None, self._field, _EXPECTED)
        if not (path / "data.mdb").is_file():
            raise layout_error(self._label, path, self._field, _EXPECTED, "has no data.mdb")
        self._path = path
        self._records: "OrderedDict[int, dict]" = OrderedDict()
        header = self._read_header()
        super().__init__(header["dataset"] + "_lmdb", str(path), _as_decoder(image_loader))
        self._header = header
        all_names: List[str] = header["sequences"]
        index = {name: k for k, name in enumerate(all_names)}
        if sequences is None:
            chosen = list(all_names)
        elif callable(sequences):
            chosen = list(sequences(list(all_names)))
        else:
            chosen = list(sequences)
        unknown = [name for name in chosen if name not in index]
        if unknown:
            raise ValueError(f"{self._label} '{path}' does not contain the sequences {unknown[:5]} "
                             f"({len(unknown)} missing).")
        if not chosen:
            raise layout_error(self._label, path, self._field, _EXPECTED, "holds none of the selected sequences")
        self._keys: List[int] = [index[name] for name in subsample(chosen, data_fraction)]
        self.sequence_list = [all_names[k] for k in self._keys]
        self.class_list = sorted({c for c in (header["classes"][k] for k in self._keys) if c is not None})

    # ---- LMDB access ---------------------------------------------------------------------
    def _open(self):
        try:
            return _environment(self._path)
        except Exception as exc:  # lmdb.Error and OS errors
            raise layout_error(self._label, self._path, self._field, _EXPECTED, f"cannot be opened ({exc})") from exc

    def _get(self, key: str) -> bytes:
        with self._open().begin(buffers=False) as txn:
            value = txn.get(key.encode())
        if value is None:
            raise DatasetFileError(f"{self._label} '{self._path}' lacks the record '{key}' (incomplete or "
                                   f"foreign LMDB).")
        return value

    def _read_header(self) -> dict:
        try:
            header = json.loads(self._get(_META_KEY.decode()))
        except (DatasetFileError, ValueError) as exc:
            raise layout_error(self._label, self._path, self._field, _EXPECTED, f"has no valid header ({exc})") from exc
        if header.get("format") != LMDB_FORMAT:
            raise layout_error(self._label, self._path, self._field, _EXPECTED,
                               f"has format {header.get('format')!r}, expected {LMDB_FORMAT!r}")
        return header

    # ---- dataset interface ------------------------------------------------------------
    def get_name(self) -> str:
        return self.name

    @property
    def lmdb_path(self) -> Path:
        return self._path

    def is_video_sequence(self) -> bool:
        return self._header["is_video"]

    def has_mask(self) -> bool:
        return self._header["has_mask"]

    def has_class_info(self) -> bool:
        return self._header["has_class_info"]

    def has_occlusion_info(self) -> bool:
        return self._header["has_occlusion_info"]

    def get_sequence_name(self, seq_id: int) -> str:
        return self.sequence_list[seq_id]

    def get_class_name(self, seq_id: int) -> Optional[str]:
        return self._header["classes"][self._keys[seq_id]]

    def get_sequences_in_class(self, class_name: str) -> List[int]:
        return [i for i, k in enumerate(self._keys) if self._header["classes"][k] == class_name]

    def _cached_record(self, seq_id: int) -> dict:
        """Decoded info, meta and frame keys of a sequence (kept for the last few sequences)."""
        record = self._records.get(seq_id)
        if record is None:
            k = self._keys[seq_id]
            record = {
                "info": _decode_info(self._get(f"seq/{k}/info")),
                "meta": json.loads(self._get(f"seq/{k}/meta"), object_pairs_hook=OrderedDict),
                "frames": json.loads(self._get(f"seq/{k}/frames")),
            }
            self._records[seq_id] = record
            while len(self._records) > self.record_cache_size:
                self._records.popitem(last=False)
        else:
            self._records.move_to_end(seq_id)
        return record

    def get_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        return {key: value.clone() for key, value in self._cached_record(seq_id)["info"].items()}

    def get_sequence_meta(self, seq_id: int) -> "OrderedDict[str, Optional[str]]":
        return OrderedDict(self._cached_record(seq_id)["meta"])

    def get_frame_key(self, seq_id: int, frame_id: int) -> str:
        """LMDB key of the image of one frame."""
        return self._cached_record(seq_id)["frames"][frame_id]

    def get_frame_mask(self, seq_id: int, frame_id: int) -> np.ndarray:
        key = f"seq/{self._keys[seq_id]}/mask/{frame_id}"
        mask = cv2.imdecode(np.frombuffer(self._get(key), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise ImageReadError(f"{self._path}::{key}", "corrupt mask PNG")
        return mask

    def get_frames(self, seq_id: int, frame_ids: Sequence[int], anno: Optional[Dict[str, torch.Tensor]] = None):
        frame_ids = [int(f) for f in frame_ids]
        if anno is None:
            anno = self.get_sequence_info(seq_id)
        check_frame_ids(self.name, self.sequence_list[seq_id], frame_ids, len(anno["bbox"]))
        keys = self._cached_record(seq_id)["frames"]
        decoded: Dict[str, np.ndarray] = {}
        frames = []
        for f in frame_ids:
            key = keys[f]
            if key in decoded:
                # repeated frames (image datasets) are separate arrays, as in the folder readers
                frames.append(decoded[key].copy())
                continue
            decoded[key] = self.image_loader(self._get(key), f"{self._path}::{key}")
            frames.append(decoded[key])
        anno_frames = frames_anno(anno, frame_ids)
        if self.has_mask():
            anno_frames["mask"] = masks_for_frames(self.get_frame_mask, seq_id, frame_ids)
        return frames, anno_frames, self.get_sequence_meta(seq_id)


class _NamedLmdb(LmdbDataset):
    """An LMDB variant whose default path comes from a settings field and that selects sequences
    with the folder reader's split logic."""

    def _setup(self, root, field: str, image_loader, select: Callable[[List[str]], List[str]],
               data_fraction: Optional[float]):
        self._field = field
        LmdbDataset.__init__(self, configured_root(root, field), image_loader, sequences=select,
                             data_fraction=data_fraction)


class Lasot_lmdb(_NamedLmdb):
    """LaSOT from an LMDB (default path: ``lasot_lmdb_dir`` / ``SLT_LASOT_LMDB_DIR``); same
    arguments as :class:`ltr.dataset.Lasot`."""

    _label = "LaSOT (LMDB)"

    def __init__(self, root=None, image_loader=None, vid_ids=None, split=None, data_fraction=None):
        self._setup(root, "lasot_lmdb_dir", image_loader,
                    lambda names: lasot_select_sequences(names, split=split, vid_ids=vid_ids), data_fraction)


class Got10k_lmdb(_NamedLmdb):
    """GOT-10k from an LMDB of one split folder (default path: ``got10k_lmdb_dir``); same
    arguments as :class:`ltr.dataset.Got10k`."""

    _label = "GOT-10k (LMDB)"

    def __init__(self, root=None, image_loader=None, split=None, seq_ids=None, data_fraction=None):
        def select(names):
            chosen = got10k_select_sequences(names, split)
            return [chosen[i] for i in seq_ids] if seq_ids is not None else chosen
        self._setup(root, "got10k_lmdb_dir", image_loader, select, data_fraction)


class TrackingNet_lmdb(_NamedLmdb):
    """TrackingNet from an LMDB (default path: ``trackingnet_lmdb_dir``); same arguments as
    :class:`ltr.dataset.TrackingNet`."""

    _label = "TrackingNet (LMDB)"

    def __init__(self, root=None, image_loader=None, set_ids=None, data_fraction=None):
        self._setup(root, "trackingnet_lmdb_dir", image_loader,
                    lambda names: trackingnet_select_sequences(names, set_ids), data_fraction)


class MSCOCOSeq_lmdb(_NamedLmdb):
    """COCO objects from an LMDB of one split (default path: ``coco_lmdb_dir``)."""

    _label = "COCO (LMDB)"

    def __init__(self, root=None, image_loader=None, data_fraction=None):
        self._setup(root, "coco_lmdb_dir", image_loader, lambda names: names, data_fraction)


class YouTubeVOS_lmdb(_NamedLmdb):
    """YouTube-VOS objects from an LMDB (default path: ``youtubevos_lmdb_dir``)."""

    _label = "YouTube-VOS (LMDB)"

    def __init__(self, root=None, image_loader=None, data_fraction=None):
        self._setup(root, "youtubevos_lmdb_dir", image_loader, lambda names: names, data_fraction)
