"""Result files in pytracking's layout, written atomically.

For each tracker run and sequence, ``<results_dir>/``:

* ``<sequence>.txt``: one line per tracked frame, ``x,y,w,h`` in pixels (top-left corner, width,
  height) as comma-separated floats with 4 decimals; the first line is the initial box.
* ``<sequence>_time.txt``: one line per tracked frame, seconds spent in initialize()/track().

With a frame interval I > 1 only frames 0, I, 2I, ... are tracked, so both files have
``ceil(N / I)`` lines, line k belonging to frame k*I.

A file is written to a temporary name in the same folder, flushed and fsync'ed, then renamed
over the final name, so a killed run never leaves a truncated result. The box file is written
last: a sequence counts as finished (and is skipped on resume) only when both files exist.
The readers accept comma-, tab- or whitespace-separated files, as written by other pytracking
versions and toolkits.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np

from ltr.admin.atomic import atomic_write_text  # noqa: F401 (part of this module's API)

PathLike = Union[str, os.PathLike]


def bbox_file(results_dir: PathLike, sequence_name: str) -> Path:
    """Path of the box result file ``<results_dir>/<sequence_name>.txt``."""
    return Path(results_dir) / f"{sequence_name}.txt"


def time_file(results_dir: PathLike, sequence_name: str) -> Path:
    """Path of the timing file ``<results_dir>/<sequence_name>_time.txt``."""
    return Path(results_dir) / f"{sequence_name}_time.txt"


def format_boxes(boxes: Iterable[Sequence[float]]) -> str:
    """``x,y,w,h`` lines with 4 decimals, one per box."""
    lines = []
    for box in boxes:
        values = [float(v) for v in box]
        if len(values) != 4:
            raise ValueError(f"Expected a box [x, y, w, h], got {box!r}")
        lines.append(",".join(f"{v:.4f}" for v in values))
    return "\n".join(lines) + ("\n" if lines else "")


def write_results(results_dir: PathLike, sequence_name: str, boxes: Iterable[Sequence[float]],
                  times: Iterable[float]) -> Path:
    """Write ``<sequence>_time.txt`` then ``<sequence>.txt`` (xywh px boxes) atomically; returns the box file."""
    boxes = list(boxes)
    times = [float(t) for t in times]
    if len(times) != len(boxes):
        raise ValueError(f"{sequence_name}: {len(boxes)} boxes but {len(times)} times")
    atomic_write_text(time_file(results_dir, sequence_name), "".join(f"{t:.6f}\n" for t in times))
    path = bbox_file(results_dir, sequence_name)
    atomic_write_text(path, format_boxes(boxes))
    return path


def is_finished(results_dir: PathLike, sequence_name: str) -> bool:
    """Whether both result files of a sequence exist (a run killed mid-sequence leaves neither or one)."""
    return bbox_file(results_dir, sequence_name).is_file() and time_file(results_dir, sequence_name).is_file()


def _load_matrix(path: Path, columns: int) -> np.ndarray:
    text = path.read_text().strip()
    if not text:
        return np.zeros((0, columns), dtype=np.float64)
    rows = []
    for line_no, line in enumerate(text.splitlines(), 1):
        parts = line.replace(",", " ").replace("\t", " ").split()
        if len(parts) != columns:
            raise ValueError(f"{path}:{line_no}: expected {columns} values, got {line!r}")
        rows.append([float(p) for p in parts])
    return np.asarray(rows, dtype=np.float64)


def read_boxes(results_dir: PathLike, sequence_name: str) -> np.ndarray:
    """The boxes of ``<sequence>.txt`` as an (N, 4) float64 xywh-pixel array."""
    return _load_matrix(bbox_file(results_dir, sequence_name), 4)


def read_times(results_dir: PathLike, sequence_name: str) -> np.ndarray:
    """The per-frame times of ``<sequence>_time.txt`` in seconds, shape (N,)."""
    return _load_matrix(time_file(results_dir, sequence_name), 1).reshape(-1)


__all__ = ["bbox_file", "time_file", "atomic_write_text", "format_boxes", "write_results", "is_finished",
           "read_boxes", "read_times"]
