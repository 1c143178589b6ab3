"""Pack a results folder for the GOT-10k or TrackingNet evaluation server.

    python pytracking/util_scripts/pack_results.py got10k --results-dir DIR --out got10k_test.zip \\
        [--dataset-root GOT10K_ROOT | --sequence-list FILE]
    python pytracking/util_scripts/pack_results.py trackingnet --results-dir DIR --out trackingnet.zip \\
        [--dataset-root TRACKINGNET_ROOT | --sequence-list FILE]

Input: pytracking's layout, ``DIR/<seq>.txt`` (one xywh box per line; commas, tabs or spaces)
and optionally ``DIR/<seq>_time.txt`` (seconds per frame).

Output layouts:

* GOT-10k: ``<seq>/<seq>_001.txt`` (comma separated boxes) and ``<seq>/<seq>_time.txt`` (one
  time per line; only written where the results folder has one).
* TrackingNet: ``<seq>.txt`` (comma separated boxes) at the top of the archive.

With ``--dataset-root`` (the test split's sequence list and frame counts) or ``--sequence-list``
every listed sequence must have a result file, otherwise the packer stops and lists the
missing ones; with a dataset root the line counts are checked too. Without either, every
``<seq>.txt`` found is packed.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence as SequenceT

import numpy as np

if __package__ in (None, ""):
    # Run as a file from the checkout: make the repository importable without installation.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pytracking.analysis.results_io import MissingResultsError, ResultFileError, load_result_file  # noqa: E402
from pytracking.analysis.textio import TableFormatError, read_numeric_table  # noqa: E402

BENCHMARKS = ("got10k", "trackingnet")


class PackError(RuntimeError):
    """The results cannot be packed (missing or malformed files)."""


def result_sequences(results_dir: str) -> List[str]:
    """Sequence names with a ``<seq>.txt`` result file in ``results_dir`` (time files excluded)."""
    folder = Path(results_dir)
    if not folder.is_dir():
        raise PackError(f"results folder '{folder}' does not exist")
    return sorted(p.stem for p in folder.glob("*.txt") if not p.stem.endswith("_time"))


def dataset_frame_counts(benchmark: str, root: Optional[str]) -> Dict[str, int]:
    """Test-split sequence names -> frame counts of GOT-10k test or TrackingNet TEST (annotations only)."""
    from pytracking.evaluation.datasets import get_dataset
    name = {"got10k": "got10k_test", "trackingnet": "trackingnet"}[benchmark]
    return {seq.name: len(seq.frames) for seq in get_dataset(name, root)}


def _format_boxes(boxes: np.ndarray) -> str:
    buffer = io.StringIO()
    np.savetxt(buffer, boxes, fmt="%.4f", delimiter=",")
    return buffer.getvalue()


def _read_times(path: Path) -> str:
    try:
        times = read_numeric_table(path, ncols=None, allow_nonfinite=False)
    except TableFormatError as exc:
        raise PackError(str(exc)) from None
    return "".join(f"{t:.8f}\n" for t in times)


def _collect(results_dir: str, sequence_names: Optional[SequenceT[str]],
             frame_counts: Optional[Dict[str, int]]) -> Dict[str, np.ndarray]:
    folder = Path(results_dir)
    available = set(result_sequences(results_dir))
    if frame_counts is not None and sequence_names is None:
        sequence_names = list(frame_counts)
    if sequence_names is None:
        sequence_names = sorted(available)
        if not sequence_names:
            raise PackError(f"no result files (<seq>.txt) in '{folder}'")
    missing = [s for s in sequence_names if s not in available]
    if missing:
        raise PackError(str(MissingResultsError(folder, missing)).replace(
            "Run the tracker on them, or pass --skip-missing to evaluate the others.",
            "The server needs every sequence: run the tracker on them first."))
    boxes: Dict[str, np.ndarray] = {}
    for name in sequence_names:
        num_frames = frame_counts.get(name) if frame_counts is not None else None
        try:
            boxes[name] = load_result_file(folder / f"{name}.txt", num_frames=num_frames)
        except ResultFileError as exc:
            raise PackError(str(exc)) from None
    return boxes


def _write_zip(out_zip: str, entries: Dict[str, str]) -> str:
    out = Path(out_zip)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so an interrupted run never leaves a half archive.
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=str(out.parent))
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for arcname, text in entries.items():
                archive.writestr(arcname, text)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return str(out)


def pack_got10k(results_dir: str, out_zip: str, sequence_names: Optional[SequenceT[str]] = None,
                frame_counts: Optional[Dict[str, int]] = None) -> List[str]:
    """Write the GOT-10k server archive; returns warnings (e.g. sequences without a time file).

    Args:
        results_dir: folder with ``<seq>.txt`` (and optionally ``<seq>_time.txt``).
        out_zip: archive to write.
        sequence_names: sequences that must all be present (default: the keys of
            ``frame_counts``, else every result file found).
        frame_counts: sequence -> frames; when given, line counts are checked.
    Raises:
        PackError listing missing sequences, or naming a malformed file and line.
    """
    boxes = _collect(results_dir, sequence_names, frame_counts)
    entries: Dict[str, str] = {}
    no_time: List[str] = []
    for name, seq_boxes in boxes.items():
        entries[f"{name}/{name}_001.txt"] = _format_boxes(seq_boxes)
        time_file = Path(results_dir) / f"{name}_time.txt"
        if time_file.is_file():
            entries[f"{name}/{name}_time.txt"] = _read_times(time_file)
        else:
            no_time.append(name)
    _write_zip(out_zip, entries)
    warnings = []
    if no_time:
        warnings.append(f"{len(no_time)} sequence(s) have no <seq>_time.txt, so the server cannot report speed "
                        f"for them: {', '.join(no_time[:10])}{' ...' if len(no_time) > 10 else ''}")
    return warnings


def pack_trackingnet(results_dir: str, out_zip: str, sequence_names: Optional[SequenceT[str]] = None,
                     frame_counts: Optional[Dict[str, int]] = None) -> List[str]:
    """Write the TrackingNet server archive (``<seq>.txt`` per sequence); arguments as :func:`pack_got10k`."""
    boxes = _collect(results_dir, sequence_names, frame_counts)
    _write_zip(out_zip, {f"{name}.txt": _format_boxes(b) for name, b in boxes.items()})
    return []


def main(argv: Optional[SequenceT[str]] = None) -> int:
    """Command line entry point; returns the exit code (0 ok, 1 bad input)."""
    parser = argparse.ArgumentParser(prog="pack_results.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", choices=BENCHMARKS)
    parser.add_argument("--results-dir", required=True, metavar="DIR", help="folder with <seq>.txt result files")
    parser.add_argument("--out", required=True, metavar="FILE.zip", help="archive to write")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--dataset-root", default=None,
                       help="dataset root: check that every test sequence has results with the right line count")
    group.add_argument("--sequence-list", default=None, metavar="FILE",
                       help="check that every sequence named in FILE (one per line) has results")
    args = parser.parse_args(argv)

    try:
        frame_counts = None
        names = None
        if args.dataset_root is not None:
            from ltr.admin.environment import DatasetPathError
            try:
                frame_counts = dataset_frame_counts(args.benchmark, args.dataset_root)
            except DatasetPathError as exc:
                raise PackError(str(exc)) from None
        elif args.sequence_list is not None:
            text = Path(args.sequence_list).read_text(encoding="utf-8")
            names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
            names = [n for n in names if n]
        pack = pack_got10k if args.benchmark == "got10k" else pack_trackingnet
        warnings = pack(args.results_dir, args.out, sequence_names=names, frame_counts=frame_counts)
    except (PackError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
