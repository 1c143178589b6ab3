"""Run trackers over datasets and write result files.

* Each (tracker, sequence) pair writes ``<tracker.results_dir>/<sequence>.txt`` and
  ``<sequence>_time.txt`` atomically (see :mod:`pytracking.evaluation.results_io`).
* Pairs whose two files already exist are skipped, so a killed run resumes where it stopped
  (with ``debug > 0`` every sequence runs again, since the point is to watch it).
* ``threads=N > 0`` runs the pairs in N worker processes (``spawn``; each limited to one torch
  thread); ``threads=0`` runs them in this process, which live visualisation requires.
* A sequence that fails (e.g. a frame that cannot be read) is reported with the reason, including
  the file name; the run continues and a summary of failures is printed at the end.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import traceback
from typing import Any, Iterable, List, Optional, Sequence as SequenceT, Tuple

import numpy as np

from pytracking.evaluation import results_io
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.tracker import FrameLoadError, InvalidInitBoxError, Tracker


@dataclasses.dataclass
class SequenceResult:
    """Outcome of one (tracker, sequence) pair: status ``'done'``, ``'skipped'`` or ``'failed'``."""

    tracker: str
    sequence: str
    status: str
    num_frames: int = 0
    fps: float = 0.0
    error: str = ""


@dataclasses.dataclass
class RunSummary:
    """All outcomes of a :func:`run_dataset` call, in (tracker, sequence) order."""

    results: List[SequenceResult]

    def _with(self, status: str) -> List[SequenceResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> List[SequenceResult]:
        return self._with("done")

    @property
    def skipped(self) -> List[SequenceResult]:
        return self._with("skipped")

    @property
    def failed(self) -> List[SequenceResult]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True if no sequence failed."""
        return not self.failed

    def report(self) -> str:
        """Multi-line summary; every failure on its own line with its reason."""
        lines = [f"Finished: {len(self.done)} run, {len(self.skipped)} skipped (already done), "
                 f"{len(self.failed)} failed."]
        for r in self.failed:
            lines.append(f"  FAILED {r.tracker} {r.sequence}: {r.error}")
        return "\n".join(lines)


def _print(message: str) -> None:
    print(message, flush=True)


def run_sequence(seq: Sequence, tracker: Tracker, debug: int = 0, visdom: Any = None,
                 position: str = "") -> SequenceResult:
    """Run one tracker on one sequence, write its result files and print one progress line.

    Never raises for a failing sequence (KeyboardInterrupt excepted): the failure is returned.
    """
    label = tracker.display_name
    prefix = f"{position} " if position else ""
    if not debug and results_io.is_finished(tracker.results_dir, seq.name):
        _print(f"{prefix}{label} {seq.name}: already done, skipped")
        return SequenceResult(label, seq.name, "skipped")
    try:
        output = tracker.run_sequence(seq, debug=debug, visdom=visdom)
        results_io.write_results(tracker.results_dir, seq.name, output["target_bbox"], output["time"])
    except KeyboardInterrupt:
        raise
    except (FrameLoadError, InvalidInitBoxError) as err:  # bad input: the message says it all
        _print(f"{prefix}{label} {seq.name}: FAILED: {err}")
        return SequenceResult(label, seq.name, "failed", error=str(err))
    except Exception as err:  # one broken sequence must not end a long run
        traceback.print_exc()
        message = f"{type(err).__name__}: {err}"
        _print(f"{prefix}{label} {seq.name}: FAILED: {message}")
        return SequenceResult(label, seq.name, "failed", error=message)
    times = np.asarray(output["time"], dtype=np.float64)
    total = float(times.sum())
    fps = len(times) / total if total > 0 else float("inf")
    _print(f"{prefix}{label} {seq.name}: {len(times)} frames, {fps:.1f} FPS")
    return SequenceResult(label, seq.name, "done", num_frames=len(times), fps=fps)


def _worker_init() -> None:
    # Several workers share the cores: one intra-op thread each avoids oversubscription.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def _worker_run(task: Tuple[int, Sequence, Tracker, int, str]) -> Tuple[int, SequenceResult]:
    index, seq, tracker, debug, position = task
    return index, run_sequence(seq, tracker, debug=debug, position=position)


def run_dataset(dataset: Iterable[Sequence], trackers: SequenceT[Tracker], threads: int = 0, debug: int = 0,
                visdom: Any = None, start_method: str = "spawn", print_summary: bool = True) -> RunSummary:
    """Run every tracker on every sequence and write the result files.

    Args:
        dataset: the sequences (a SequenceList or any iterable of Sequence).
        trackers: :class:`Tracker` configurations.
        threads: 0 = run in this process; N > 0 = N worker processes.
        debug: debug level given to the trackers; > 0 also disables skipping finished sequences.
        visdom: a connected visualisation client (used only with ``threads=0``).
        start_method: multiprocessing start method for workers (``'spawn'`` is safe with torch).
        print_summary: print :meth:`RunSummary.report` at the end.

    Returns:
        A :class:`RunSummary`; check ``summary.ok`` (the command-line tools exit non-zero if not).
    """
    sequences = list(dataset)
    trackers = list(trackers)
    # Resolve every tracker now: an unknown name fails before any work, and workers receive the
    # class by reference.
    for tracker in trackers:
        _ = tracker.entry
    tasks = []
    total = len(sequences) * len(trackers)
    for seq in sequences:
        for tracker in trackers:
            tasks.append((len(tasks), seq, tracker, debug, f"[{len(tasks) + 1}/{total}]"))

    results: List[Optional[SequenceResult]] = [None] * len(tasks)
    if threads <= 0:
        for index, seq, tracker, dbg, position in tasks:
            results[index] = run_sequence(seq, tracker, debug=dbg, visdom=visdom, position=position)
    else:
        if visdom is not None:
            print("WARNING: live visualisation needs --threads 0; running without it", file=sys.stderr, flush=True)
        context = multiprocessing.get_context(start_method)
        with context.Pool(processes=int(threads), initializer=_worker_init) as pool:
            try:
                for index, result in pool.imap_unordered(_worker_run, tasks):
                    results[index] = result
            except KeyboardInterrupt:
                pool.terminate()
                raise
    summary = RunSummary([r for r in results if r is not None])
    if print_summary:
        _print(summary.report())
    return summary


__all__ = ["run_dataset", "run_sequence", "RunSummary", "SequenceResult"]
