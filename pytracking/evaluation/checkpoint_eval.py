"""Score one checkpoint by tracking: the evaluation that validation during training and the
training experiments (FLT vs SLT, sweeps) share.

It runs the real test-time tracker (the parameter set's code, the checkpoint loaded as a user
loads it) on every sequence, writes result files in pytracking's layout and scores them with
:mod:`pytracking.analysis` (GOT-10k toolkit AO / SR50 / SR75, pytracking AUC and precision).
Sequences whose tracking failed are left out of the scores and counted, so one unreadable
frame does not end a long run.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence as SequenceT

from pytracking.evaluation.tracker import Tracker

__all__ = ["CheckpointEvaluation", "DeviceTracker", "evaluate_checkpoint"]


class DeviceTracker(Tracker):
    """A :class:`Tracker` whose parameter set runs on ``device`` (None: the set's own), e.g. the
    training device. Defined at module level so tracking worker processes can unpickle it."""

    def __init__(self, *args: Any, device: Optional[str] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.device = device

    def get_parameters(self):
        params = super().get_parameters()
        if self.device is not None and params.has("device"):
            params.device = str(self.device)
        return params


@dataclass
class CheckpointEvaluation:
    """Scores of one checkpoint.

    Attributes:
        evaluation: the :class:`pytracking.analysis.evaluate.TrackerEvaluation` (per-sequence curves).
        summary: AO, SR50, SR75, AUC, Precision (percent) and ``sequences``, the scored count.
        failed: sequences whose tracking failed (left out of the scores).
        results_dir: where the result files are.
    """

    evaluation: Any
    summary: Dict[str, float]
    failed: int
    results_dir: Path


def evaluate_checkpoint(checkpoint: os.PathLike, sequences: SequenceT, tracker_name: str, parameter_name: str,
                        results_dir: os.PathLike, label: str = "checkpoint", threads: int = 0,
                        device: Optional[str] = None, quiet: bool = True,
                        reuse_results: bool = False, frame_interval: int = 1,
                        batch_sequences: int = 1) -> CheckpointEvaluation:
    """Track ``sequences`` with ``checkpoint`` and score the results.

    Args:
        checkpoint: a project or official checkpoint the parameter set can load.
        sequences: pytracking ``Sequence`` objects with full ground truth.
        tracker_name, parameter_name: e.g. ``'siamrpnpp'``, ``'tiny'`` (resolved like run_tracker.py).
        results_dir: result files go here, one per sequence.
        label: display name in tables and plots.
        threads: tracking worker processes (0: this process).
        device: run the parameter set there (e.g. the training device); None: the set's own.
        frame_interval: track and score every I-th frame only (the paper's Table 6: faster
            apparent motion); result files go to ``results_dir`` as for I = 1.
        batch_sequences: sequences tracked in lockstep (see :func:`pytracking.evaluation.running.run_dataset`);
            the result files, and hence the scores, do not depend on it on a CPU.
        quiet: hide the per-sequence progress lines.
        reuse_results: keep result files written earlier for this same checkpoint file (its
            mtime is stamped in the folder) so an interrupted evaluation resumes; otherwise, and
            whenever the checkpoint changed, the folder starts empty.

    Raises:
        RuntimeError: tracking failed on every sequence (the message gives the first reasons).
    """
    from pytracking.analysis.evaluate import evaluate_tracker
    from pytracking.analysis.results_io import load_tracker_results
    from pytracking.evaluation.running import run_dataset
    results_dir = Path(results_dir)
    stamp = results_dir / ".checkpoint_mtime"
    key = f"{Path(checkpoint).resolve()} {os.path.getmtime(checkpoint)}"
    if results_dir.exists() and not (reuse_results and stamp.is_file() and stamp.read_text() == key):
        shutil.rmtree(results_dir)  # results of another checkpoint, or a fresh evaluation asked for
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)
    tracker = DeviceTracker(tracker_name, parameter_name, checkpoint=str(checkpoint), results_dir=str(results_dir),
                            display_name=label, device=device, frame_interval=frame_interval)
    output = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    with output:
        run = run_dataset(list(sequences), [tracker], threads=threads, print_summary=False,
                          batch_sequences=batch_sequences)
    failed = {r.sequence for r in run.failed}
    done = [s for s in sequences if s.name not in failed]
    if not done:
        reasons = "; ".join(f"{r.sequence}: {r.error}" for r in run.failed[:3])
        raise RuntimeError(f"{label}: tracking failed on every sequence ({reasons})")
    loaded = load_tracker_results(tracker.results_dir, done, name=label, frame_interval=frame_interval)
    evaluation = evaluate_tracker(done, loaded.boxes, name=label, frame_interval=frame_interval)
    return CheckpointEvaluation(evaluation=evaluation, summary=evaluation.summary(), failed=len(failed),
                                results_dir=results_dir)
