"""Loading tracker result files (pytracking layout: ``<results_dir>/<sequence>.txt``).

A result file has one ``x, y, w, h`` box (pixels, top-left corner) per frame, separated by
commas, tabs or spaces, as integers or floats. Malformed files are errors that name the file
and the line; negative widths/heights are only warned about (the metrics handle them, see
:mod:`pytracking.analysis.metrics`).
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence as SequenceT, Union

import numpy as np

from pytracking.analysis.textio import TableFormatError, read_numeric_table

PathLike = Union[str, Path]


class ResultFileError(TableFormatError):
    """A result file is malformed (wrong line count, unparsable text, NaN/inf)."""


class MissingResultsError(FileNotFoundError):
    """Result files are missing for some sequences.

    Attributes:
        missing: the sequence names without a result file.
        results_dir: where they were looked for.
    """

    def __init__(self, results_dir: PathLike, missing: List[str]):
        self.results_dir = str(results_dir)
        self.missing = list(missing)
        shown = ", ".join(f"{name}.txt" for name in self.missing[:20])
        more = f" and {len(self.missing) - 20} more" if len(self.missing) > 20 else ""
        super().__init__(f"{self.results_dir}: no result file for {len(self.missing)} sequence(s): {shown}{more}. "
                         f"Run the tracker on them, or pass --skip-missing to evaluate the others.")


def expected_line_counts(num_frames: int, frame_interval: int = 1) -> List[int]:
    """Line counts a result file may have: one per frame, or one per evaluated frame (0, I, 2I, ...)."""
    counts = [num_frames]
    if frame_interval > 1:
        counts.append(int(math.ceil(num_frames / frame_interval)))
    return counts


def load_result_file(path: PathLike, num_frames: Optional[int] = None, frame_interval: int = 1) -> np.ndarray:
    """Read one result file as an (N, 4) float64 xywh array.

    Args:
        path: ``<sequence>.txt``.
        num_frames: frames in the sequence; when given the line count must match (or, with
            ``frame_interval`` I > 1, may be ceil(N / I): one box per evaluated frame).
        frame_interval: see above.
    Raises:
        ResultFileError naming the file (and the line where one is to blame).
    """
    boxes = read_numeric_table(path, ncols=4, allow_nonfinite=False, error_cls=ResultFileError)
    if num_frames is not None:
        allowed = expected_line_counts(num_frames, frame_interval)
        if len(boxes) not in allowed:
            want = " or ".join(str(c) for c in allowed)
            raise ResultFileError(path, None, f"has {len(boxes)} lines but the sequence has {num_frames} frames "
                                              f"(expected {want} lines)")
    return boxes


def negative_size_lines(boxes: np.ndarray) -> np.ndarray:
    """1-based line numbers whose width or height is negative."""
    return np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0)) + 1


def _format_lines(lines: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(v)) for v in lines[:limit])
    return shown + (f", ... ({len(lines)} lines)" if len(lines) > limit else "")


@dataclasses.dataclass
class TrackerResults:
    """Boxes of one results folder.

    Attributes:
        name: display name.
        results_dir: the folder.
        boxes: sequence name -> (N, 4) float64 xywh.
        missing: sequences without a result file (only non-empty with ``skip_missing``).
        warnings: human-readable warnings (negative sizes, skipped sequences).
    """

    name: str
    results_dir: str
    boxes: Dict[str, np.ndarray]
    missing: List[str]
    warnings: List[str]


def load_tracker_results(results_dir: PathLike, sequences: SequenceT, name: Optional[str] = None,
                         skip_missing: bool = False, frame_interval: int = 1) -> TrackerResults:
    """Load ``<results_dir>/<seq.name>.txt`` for every sequence.

    Args:
        results_dir: folder of result files.
        sequences: Sequence objects (their ``name`` and frame count are used).
        name: display name (default: the folder name).
        skip_missing: missing files become a warning instead of an error.
        frame_interval: accept ceil(N / I) lines as well (see :func:`load_result_file`).
    Raises:
        MissingResultsError: files missing and not ``skip_missing``.
        ResultFileError: a malformed file.
    """
    folder = Path(results_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder '{folder}' does not exist")
    boxes: Dict[str, np.ndarray] = {}
    missing: List[str] = []
    warnings: List[str] = []
    for seq in sequences:
        path = folder / f"{seq.name}.txt"
        if not path.is_file():
            missing.append(seq.name)
            continue
        result = load_result_file(path, num_frames=len(seq.frames), frame_interval=frame_interval)
        negative = negative_size_lines(result)
        if len(negative):
            warnings.append(f"{path}: negative width/height on line(s) {_format_lines(negative)}; "
                            f"the GOT-10k protocol clips them to 0, the pytracking protocol treats them as "
                            f"zero-size boxes (replaced by the previous box)")
        boxes[seq.name] = result
    if missing:
        if not skip_missing:
            raise MissingResultsError(folder, missing)
        warnings.append(f"{folder}: skipping {len(missing)} sequence(s) without results: "
                        f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    return TrackerResults(name=name or folder.name, results_dir=str(folder), boxes=boxes,
                          missing=missing, warnings=warnings)
