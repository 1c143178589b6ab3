"""Validation by tracking during training: AO / SR of the current weights on a validation split.

Losses say little about how well a tracker tracks (the SLT paper, Fig. 1c: the frame-level loss
keeps falling while tracking accuracy stalls). A :class:`Validator` measures what matters: every
``every`` epochs it runs the real test-time tracker (:mod:`pytracking.evaluation`) with the
epoch's checkpoint on a validation split and scores the result files with
:mod:`pytracking.analysis` (GOT-10k toolkit AO / SR50 / SR75 and pytracking AUC). It then

* logs a ``{"kind": "validation", ...}`` record through the trainer (stdout, ``stats.jsonl`` in
  the checkpoint folder, and every log hook, e.g. :class:`VisdomTrainingPlots`);
* adds ``val/AO`` etc. to the epoch's entry of ``trainer.history`` (so later checkpoints carry it);
* keeps the best checkpoint by AO as ``best.pth`` (a copy of the epoch checkpoint, which has the
  same format as ``latest.pth``) and its scores in ``best.json``; a resumed run reads
  ``best.json`` so an earlier best is not overwritten by a worse epoch.

The tracker is built from the checkpoint file the trainer has just written (the trainer calls its
``epoch_end_hooks`` after saving), so validation exercises exactly the load path and test-time
code a user runs afterwards, for any tracker with a registered parameter set.

Attaching from a training setting (see :func:`attach_from_settings`)::

    settings.validate_every = 1                 # epochs; 0 or unset: no validation
    settings.validation_dataset = "got10k_val"  # or "synthetic", "auto" (GOT-10k val if configured)
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence as SequenceT, Tuple

#: Scores copied into the logged record and the epoch's history entry.
SCORE_KEYS = ("AO", "SR50", "SR75", "AUC", "Precision")

#: Defaults of the synthetic validation split written when none exists yet.
SYNTHETIC_VAL_VIDEOS = 20
SYNTHETIC_VAL_FRAMES = 48


class Validator:
    """Epoch-end hook: track a validation split with the epoch's checkpoint and keep the best.

    Args:
        sequences: validation sequences (pytracking ``Sequence`` objects with full ground truth).
        tracker_name: tracker to run, e.g. ``'siamrpnpp'`` (resolved like ``run_tracker.py``).
        parameter_name: its parameter set, e.g. ``'tiny'``.
        every: validate after every ``every``-th epoch (epochs counted from 1); the last epoch of
            a ``train(max_epochs)`` call is not forced, so pick ``every`` dividing the epochs.
        dataset_name: label for logs (``'got10k_val'``, ``'synthetic_val'``).
        device: device of the validation tracker (default: the parameter set's).
        threads: tracking worker processes (0: in the training process).
        keep_results: keep the result files in ``<checkpoint_dir>/validation/ep<NNNN>/``
            (default: tracked in a temporary folder and deleted after scoring).
        metric: the score that selects ``best.pth`` (``'AO'`` by default).
    """

    def __init__(self, sequences: SequenceT, tracker_name: str, parameter_name: str, every: int = 1,
                 dataset_name: str = "validation", device: Optional[str] = None, threads: int = 0,
                 keep_results: bool = False, metric: str = "AO"):
        if int(every) < 1:
            raise ValueError(f"validate every N epochs needs N >= 1, got {every}")
        self.sequences = list(sequences)
        if not self.sequences:
            raise ValueError("the validation split has no sequences")
        self.tracker_name = tracker_name
        self.parameter_name = parameter_name
        self.every = int(every)
        self.dataset_name = dataset_name
        self.device = device
        self.threads = int(threads)
        self.keep_results = keep_results
        self.metric = metric
        self.best: Optional[Dict[str, Any]] = None
        self._best_loaded = False

    # ------------------------------------------------------------------------------------ hook
    def __call__(self, trainer) -> Optional[Dict[str, Any]]:
        """Validate after epoch ``trainer.epoch`` when due; returns the logged record (or None)."""
        if getattr(trainer, "rank", 0) != 0 or trainer.epoch % self.every != 0:
            return None
        checkpoint = Path(trainer.checkpoint_path())
        if not checkpoint.is_file():
            raise FileNotFoundError(f"validation: the epoch checkpoint {checkpoint} was not written")
        self._load_best(Path(trainer.checkpoint_dir))
        tic = time.perf_counter()
        scores, failed = self.evaluate_checkpoint(checkpoint, Path(trainer.checkpoint_dir), trainer.epoch)
        record: Dict[str, Any] = {"kind": "validation", "epoch": int(trainer.epoch), "dataset": self.dataset_name,
                                  **{k: scores.get(k, float("nan")) for k in SCORE_KEYS},
                                  "sequences": int(scores.get("sequences", 0)), "failed": failed,
                                  "seconds": time.perf_counter() - tic}
        value = record.get(self.metric, float("nan"))
        improved = not math.isnan(value) and (self.best is None or value > self.best[self.metric])
        if improved:
            self._save_best(checkpoint, Path(trainer.checkpoint_dir), record)
        record["best_epoch"] = self.best["epoch"] if self.best else None
        record[f"best_{self.metric}"] = self.best[self.metric] if self.best else float("nan")
        # The epoch entry of the history goes into every later checkpoint: resumed runs keep it.
        if trainer.history and trainer.history[-1].get("epoch") == trainer.epoch:
            trainer.history[-1].update({f"val/{k}": record[k] for k in SCORE_KEYS})
        line = (f"[{trainer.settings.project_path}] validation after epoch {trainer.epoch} on {self.dataset_name} "
                f"({record['sequences']} videos, {record['seconds']:.0f} s): "
                + "  ".join(f"{k}={record[k]:.2f}" for k in SCORE_KEYS)
                + (f"  failed={failed}" if failed else "")
                + (f"  -> new best, saved {Path(trainer.checkpoint_dir) / 'best.pth'}" if improved
                   else f"  (best {self.metric} {record[f'best_{self.metric}']:.2f} at epoch {record['best_epoch']})"))
        trainer._log(record, line)
        return record

    # ------------------------------------------------------------------------------- tracking
    def evaluate_checkpoint(self, checkpoint: Path, workdir: Path, epoch: int) -> Tuple[Dict[str, float], int]:
        """Track every validation sequence with ``checkpoint``; returns (summary scores, #failed).

        Result files go to ``<workdir>/validation/ep<epoch>`` (kept with ``keep_results``) or
        to a temporary folder there. Sequences whose tracking failed are left out of the scores
        (and counted), so one unreadable frame does not end a long training run.
        """
        from pytracking.evaluation.checkpoint_eval import evaluate_checkpoint

        base = Path(workdir) / "validation"
        base.mkdir(parents=True, exist_ok=True)
        if self.keep_results:
            context: Any = contextlib.nullcontext(str(base / f"ep{epoch:04d}"))
        else:
            context = tempfile.TemporaryDirectory(prefix=f".ep{epoch:04d}-", dir=str(base))
        with context as folder:
            try:
                result = evaluate_checkpoint(checkpoint, self.sequences, self.tracker_name, self.parameter_name,
                                             folder, label=f"epoch {epoch}", threads=self.threads,
                                             device=self.device)
            except RuntimeError as error:
                raise RuntimeError(f"validation: {error}") from None
        return result.summary, result.failed

    # ----------------------------------------------------------------------------------- best
    def _load_best(self, checkpoint_dir: Path) -> None:
        # Once per run: a resumed training continues from the best of its earlier epochs.
        if self._best_loaded:
            return
        self._best_loaded = True
        path = checkpoint_dir / "best.json"
        if path.is_file() and (checkpoint_dir / "best.pth").is_file():
            try:
                best = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                return  # unreadable: the next validation writes a fresh one
            if isinstance(best, dict) and isinstance(best.get(self.metric), (int, float)):
                self.best = best

    def _save_best(self, checkpoint: Path, checkpoint_dir: Path, record: Dict[str, Any]) -> None:
        target = checkpoint_dir / "best.pth"
        # Copy then rename: a crash never leaves a torn best.pth.
        tmp = checkpoint_dir / f".best.pth.{os.getpid()}.tmp"
        shutil.copyfile(checkpoint, tmp)
        os.replace(tmp, target)
        self.best = {"epoch": record["epoch"], "checkpoint": checkpoint.name, "dataset": self.dataset_name,
                     **{k: record[k] for k in SCORE_KEYS}}
        tmp_json = checkpoint_dir / f".best.json.{os.getpid()}.tmp"
        tmp_json.write_text(json.dumps(self.best, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp_json, checkpoint_dir / "best.json")


# -------------------------------------------------------------------------------------- visdom
class VisdomTrainingPlots:
    """Log hook drawing training curves in visdom: per-epoch stats and validation scores.

    Epoch records give one line plot per statistic (x = epoch); validation records give one plot
    with AO / SR50 / SR75 / AUC as series. Iteration records are ignored (too many points).

    Args:
        client: a :class:`pytracking.utils.visdom.Visdom` (a disconnected client draws nothing).
        prefix: window-name prefix, e.g. the project path, so several runs can share one env.
    """

    def __init__(self, client: Any, prefix: str = ""):
        self.client = client
        self.prefix = f"{prefix} " if prefix else ""

    def __call__(self, record: Dict[str, Any]) -> None:
        kind, epoch = record.get("kind"), record.get("epoch")
        if epoch is None:
            return
        if kind == "epoch":
            for key, value in record.items():
                if key in ("kind", "epoch") or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                if isinstance(value, float) and not math.isfinite(value):
                    continue
                self.client.register_line(f"{self.prefix}{key}", epoch, value, xlabel="epoch", ylabel=key)
        elif kind == "validation":
            window = f"{self.prefix}validation ({record.get('dataset', '')})"
            for key in ("AO", "SR50", "SR75", "AUC"):
                value = record.get(key)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self.client.register_line(window, epoch, value, series=key, xlabel="epoch", ylabel="%")


# ----------------------------------------------------------------------------- from settings
def _got10k_val_configured(settings: Any) -> bool:
    root = getattr(getattr(settings, "env", None), "got10k_dir", "") or ""
    return bool(root) and (Path(root) / "val" / "list.txt").is_file()


def validation_sequences(settings: Any) -> Tuple[List[Any], str]:
    """(sequences, dataset label) of the validation split a setting asks for.

    Settings fields (all optional):
        validation_dataset: ``'auto'`` (default: GOT-10k val when ``env.got10k_dir`` holds it,
            else the synthetic split), ``'synthetic'``, or any name of
            :func:`pytracking.evaluation.datasets.get_dataset` (``'got10k_val'``, ``'otb'``, ...).
        validation_root: dataset root overriding the environment setting.
        validation_split: synthetic split, ``'val'`` by default. The synthetic ``test`` split is
            where final numbers come from; selecting ``best.pth`` on it would tune on the test set.
        validation_videos / validation_frames: size of the synthetic split written under
            ``env.synthetic_dir`` (or ``validation_root``) when it does not exist yet.
        validation_max_sequences: use only the first N sequences (a cheaper, noisier estimate).
    """
    from pytracking.evaluation.datasets import get_dataset

    name = getattr(settings, "validation_dataset", None) or "auto"
    if name == "auto":
        name = "got10k_val" if _got10k_val_configured(settings) else "synthetic"
    root = getattr(settings, "validation_root", None)
    if name.startswith("synthetic"):
        split = getattr(settings, "validation_split", None) or "val"
        if root is None:
            root = getattr(getattr(settings, "env", None), "synthetic_dir", "") or None
        if root is None:
            raise ValueError("validation on synthetic videos needs 'validation_root' or env.synthetic_dir")
        if not (Path(root) / split / "list.txt").is_file():
            from ltr.util_scripts.make_synthetic import write_got10k_layout
            write_got10k_layout(root, split, num_videos=int(getattr(settings, "validation_videos", None)
                                                            or SYNTHETIC_VAL_VIDEOS),
                                frames=int(getattr(settings, "validation_frames", None) or SYNTHETIC_VAL_FRAMES),
                                seed=0, quiet=True)
        sequences = get_dataset("synthetic", root=str(root), split=split)
        label = f"synthetic_{split}"
    else:
        sequences = get_dataset(name, root=root)
        label = name
    limit = getattr(settings, "validation_max_sequences", None)
    if limit:
        sequences = sequences[:int(limit)]
    return list(sequences), label


def default_parameter_name(tracker_name: str, model_size: str) -> str:
    """The test-time parameter set matching a training size: ``'tiny'`` or the tracker's own."""
    return "tiny" if model_size == "tiny" else tracker_name


def attach_from_settings(trainer: Any, settings: Any) -> Optional[Validator]:
    """Attach validation and visdom training plots to ``trainer`` as ``settings`` asks.

    Settings fields: ``validate_every`` (epochs; 0 / unset: off), the dataset fields of
    :func:`validation_sequences`, ``validation_param`` (parameter set; default from the model
    size), ``validation_threads``, ``validation_keep_results``, and ``visdom`` (True or a dict
    with ``host`` / ``port`` / ``env``: draw the training curves in visdom). Only rank 0
    validates. Returns the validator (also stored as ``trainer.validator``), or None.
    """
    if getattr(settings, "visdom", None) and getattr(trainer, "rank", 0) == 0:
        from pytracking.utils.visdom import DEFAULT_ENV, DEFAULT_HOST, DEFAULT_PORT, Visdom
        options = settings.visdom if isinstance(settings.visdom, dict) else {}
        client = Visdom(host=options.get("host", DEFAULT_HOST), port=int(options.get("port", DEFAULT_PORT)),
                        env=options.get("env", DEFAULT_ENV), debug=1)
        if client.connected:
            trainer.log_hooks.append(VisdomTrainingPlots(client, prefix=getattr(settings, "project_path", "")))
    every = int(getattr(settings, "validate_every", 0) or 0)
    trainer.validator = None
    if every <= 0 or getattr(trainer, "rank", 0) != 0:
        return None
    sequences, label = validation_sequences(settings)
    param = getattr(settings, "validation_param", None) or default_parameter_name(trainer.tracker_name,
                                                                                 trainer.model_size)
    validator = Validator(sequences, trainer.tracker_name, param, every=every, dataset_name=label,
                          device=str(getattr(settings, "device", "cpu")),
                          threads=int(getattr(settings, "validation_threads", 0) or 0),
                          keep_results=bool(getattr(settings, "validation_keep_results", False)))
    trainer.epoch_end_hooks.append(validator)
    trainer.validator = validator
    return validator


__all__ = ["Validator", "VisdomTrainingPlots", "attach_from_settings", "validation_sequences",
           "default_parameter_name", "SCORE_KEYS"]
