"""Run trackers over datasets and write result files.

* Each (tracker, sequence) pair writes ``<tracker.results_dir>/<sequence>.txt`` and
  ``<sequence>_time.txt`` atomically (see :mod:`pytracking.evaluation.results_io`).
* Pairs whose two files already exist are skipped, so a killed run resumes where it stopped
  (with ``debug > 0`` every sequence runs again, since the point is to watch it).
* ``threads=N > 0`` runs the pairs in N worker processes (``spawn``; each limited to one torch
  thread); ``threads=0`` runs them in this process, which live visualisation requires.
* A sequence that fails (e.g. a frame that cannot be read) is reported with the reason, including
  the file name; the run continues and a summary of failures is printed at the end.
* ``batch_sequences=N > 1`` tracks N sequences of a configuration in lockstep through one network
  call per frame step (:mod:`pytracking.evaluation.batched`); with worker processes each worker
  batches its share of the sequences. Trackers without a batched core, and ``debug > 0`` (the live
  view shows one sequence), run one sequence at a time, with a note.
* Tracking runs under :func:`pytracking.evaluation.kernels.batch_invariant_kernels`, so a
  sequence's boxes are the same bit for bit whatever ``batch_sequences`` is (on a CPU);
  ``invariant_kernels=False`` (``--fast-cpu-kernels``) trades that for torch's faster default
  CPU convolutions (about 1.9x on a paper-size CPU frame, benchmarks/README.md).
"""
from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import sys
import traceback
from typing import Any, Dict, Iterable, List, Optional, Sequence as SequenceT, Tuple

import numpy as np

from pytracking.evaluation import results_io
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.kernels import batch_invariant_kernels
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


@dataclasses.dataclass
class _BatchTask:
    """A share of one configuration's sequences, tracked ``batch_sequences`` at a time."""

    tracker: Tracker
    items: List[Tuple[int, Sequence, str]]  # (result index, sequence, position label)
    batch_sequences: int
    debug: int
    invariant_kernels: bool = True


def _run_task(task: Any, visdom: Any = None) -> List[Tuple[int, SequenceResult]]:
    invariant = task.invariant_kernels if isinstance(task, _BatchTask) else task[5]
    with batch_invariant_kernels() if invariant else contextlib.nullcontext():
        if isinstance(task, _BatchTask):
            from pytracking.evaluation.batched import run_sequences_batched

            return run_sequences_batched(task.items, task.tracker, task.batch_sequences, debug=task.debug)
        index, seq, tracker, debug, position, _ = task
        return [(index, run_sequence(seq, tracker, debug=debug, visdom=visdom, position=position))]


def _worker_run(task: Any) -> List[Tuple[int, SequenceResult]]:
    return _run_task(task)


def _batch_size_for(tracker: Tracker, batch_sequences: int, debug: int) -> int:
    """``batch_sequences``, or 1 with a note where this configuration cannot be batched."""
    if batch_sequences <= 1:
        return 1
    from pytracking.evaluation.batched import supports_batching

    if debug > 0:
        _print(f"note: --debug shows one sequence at a time; {tracker.display_name} runs with --batch-sequences 1")
        return 1
    if not supports_batching(tracker):
        _print(f"note: {tracker.display_name}: {tracker.entry.tracker_class.__name__} has no batched core "
               f"(start_trackers / keep_trackers / track_batch, see pytracking.tracker.common.tracker_state); "
               f"running one sequence at a time")
        return 1
    return int(batch_sequences)


def run_dataset(dataset: Iterable[Sequence], trackers: SequenceT[Tracker], threads: int = 0, debug: int = 0,
                visdom: Any = None, start_method: str = "spawn", print_summary: bool = True,
                batch_sequences: int = 1, invariant_kernels: bool = True) -> RunSummary:
    """Run every tracker on every sequence and write the result files.

    Args:
        dataset: the sequences (a SequenceList or any iterable of Sequence).
        trackers: :class:`Tracker` configurations.
        threads: 0 = run in this process; N > 0 = N worker processes.
        debug: debug level given to the trackers; > 0 also disables skipping finished sequences.
        visdom: a connected visualisation client (used only with ``threads=0``).
        start_method: multiprocessing start method for workers (``'spawn'`` is safe with torch).
        print_summary: print :meth:`RunSummary.report` at the end.
        batch_sequences: sequences of a configuration tracked in lockstep (1 = one at a time).
        invariant_kernels: track under :func:`~pytracking.evaluation.kernels.batch_invariant_kernels`
            (boxes independent of ``batch_sequences`` on a CPU); False keeps torch's faster default
            CPU convolutions, whose last bits depend on the batch size.

    Returns:
        A :class:`RunSummary`; check ``summary.ok`` (the command-line tools exit non-zero if not).
    """
    sequences = list(dataset)
    trackers = list(trackers)
    # Resolve every tracker now: an unknown name fails before any work, and workers receive the
    # class by reference.
    for tracker in trackers:
        _ = tracker.entry
    if int(batch_sequences) < 1:
        raise ValueError(f"batch_sequences must be >= 1, got {batch_sequences}")
    batch = {id(tracker): _batch_size_for(tracker, int(batch_sequences), debug) for tracker in trackers}
    total = len(sequences) * len(trackers)
    tasks: List[Any] = []
    shares: Dict[int, List[List[Tuple[int, Sequence, str]]]] = {
        id(t): [[] for _ in range(max(int(threads), 1))] for t in trackers if batch[id(t)] > 1}
    index = 0
    for seq in sequences:
        for tracker in trackers:
            position = f"[{index + 1}/{total}]"
            if batch[id(tracker)] > 1:
                # Interleaved shares: every worker gets a mix of short and long sequences.
                share = shares[id(tracker)]
                share[sum(len(s) for s in share) % len(share)].append((index, seq, position))
            else:
                tasks.append((index, seq, tracker, debug, position, invariant_kernels))
            index += 1
    for tracker in trackers:
        for items in shares.get(id(tracker), []):
            if items:
                tasks.append(_BatchTask(tracker, items, batch[id(tracker)], debug, invariant_kernels))

    results: List[Optional[SequenceResult]] = [None] * total
    if threads <= 0:
        for task in tasks:
            for index, result in _run_task(task, visdom=visdom):
                results[index] = result
    else:
        if visdom is not None:
            print("WARNING: live visualisation needs --threads 0; running without it", file=sys.stderr, flush=True)
        context = multiprocessing.get_context(start_method)
        with context.Pool(processes=int(threads), initializer=_worker_init) as pool:
            try:
                for outcome in pool.imap_unordered(_worker_run, tasks):
                    for index, result in outcome:
                        results[index] = result
            except KeyboardInterrupt:
                pool.terminate()
                raise
    summary = RunSummary([r for r in results if r is not None])
    if print_summary:
        _print(summary.report())
    return summary


__all__ = ["run_dataset", "run_sequence", "RunSummary", "SequenceResult"]
