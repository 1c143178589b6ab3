"""The training loop shared by frame-level (FLT) and sequence-level (SLT) training.

A trainer owns: the network, the optimizer and scheduler, a dataset whose item ``i`` of epoch
``e`` is a pure function of (seed, e, i) (``dataset.set_epoch(e)``), the data loader over it,
checkpoints and logs. Subclasses implement :meth:`BaseTrainer.train_step`, which gets one batch and
performs forward, backward and the optimizer step, returning plain-number stats.

Because every sample is a function of its index, a run interrupted at iteration ``i`` of epoch
``e`` resumes from the checkpoint by skipping the first ``i`` batches of that epoch; with
deterministic ops the resumed run ends with the same parameters as an uninterrupted one.

Distributed (torchrun, one process per rank): rank ``r`` takes the ``r``-th block of
``batch_size`` indices of every global batch, so the ranks together see exactly the samples of a
single-process run with ``batch_size * world_size``. Step statistics and the epoch summary are
reduced over ranks; only rank 0 prints, logs and writes checkpoints (which hold every rank's
RNG state, so a resumed distributed run continues each rank's random stream).
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import torch

from ltr.admin import checkpoint as ckpt
from ltr.admin import distributed
from ltr.admin.seeding import seed_everything
from ltr.admin.stats import AverageMeter, StatsTracker, append_jsonl


def _bad_frame_count(dataset) -> int:
    bad = getattr(dataset, "bad_frames", None)
    if bad is None:
        return 0
    return int(bad if isinstance(bad, (int, float)) else len(bad))


class _CountingDataset(torch.utils.data.Dataset):
    """Pairs each item with the frames the sampler skipped while drawing it.

    Samplers count bad frames on themselves, which inside a DataLoader worker process is a copy
    the trainer never sees; the per-item difference travels with the batch instead.
    """

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        before = _bad_frame_count(self.dataset)
        item = self.dataset[index]
        return item, _bad_frame_count(self.dataset) - before


class _CountingCollate:
    """``collate_fn`` for :class:`_CountingDataset`: (the batch, bad frames skipped for it)."""

    def __init__(self, collate_fn: Optional[Callable]) -> None:
        self.collate_fn = collate_fn or torch.utils.data.default_collate

    def __call__(self, pairs):
        return self.collate_fn([item for item, _ in pairs]), sum(bad for _, bad in pairs)


def _is_rate(value: Any) -> bool:
    return isinstance(value, (int, float, torch.Tensor)) and not isinstance(value, bool)


def _scale_scheduler(scheduler: Any, factor: float) -> None:
    """Scale the reference rates a learning-rate scheduler computes its rates from (in place)."""
    for name in ("base_lrs", "max_lrs", "min_lrs", "_last_lr"):
        values = getattr(scheduler, name, None)
        if isinstance(values, list):
            setattr(scheduler, name, [v * factor if _is_rate(v) else v for v in values])
    # A cosine schedule decays towards eta_min: left unscaled, its rates would not stay factor x.
    if _is_rate(getattr(scheduler, "eta_min", None)):
        scheduler.eta_min *= factor
    # SequentialLR and ChainedScheduler delegate to the schedulers they hold.
    for inner in getattr(scheduler, "_schedulers", None) or []:
        _scale_scheduler(inner, factor)


class BaseTrainer:
    """Epoch/iteration loop with checkpoints, resume, logs and an optional wall-time budget.

    Args:
        net: the network (possibly DDP-wrapped).
        optimizer, lr_scheduler: torch optimizer and an optional scheduler stepped per epoch.
        dataset: torch Dataset with ``set_epoch(epoch)``; ``len(dataset)`` samples per epoch.
        batch_size: samples per iteration (per process).
        collate_fn: how the loader stacks samples.
        settings: a :class:`ltr.admin.settings.Settings` (or any object with ``project_path``,
            ``env.checkpoints_dir``, ``rank``, ``world_size``).
        tracker_name, model_size: recorded in checkpoints ('siamrpnpp', 'tiny').
        num_workers: data loader workers.
        grad_clip: max gradient norm (None: no clipping).
        print_interval: iterations between log lines.
        checkpoint_every: also write the checkpoint every N iterations (0: only at epoch ends;
            then ``settings.checkpoint_every`` is used when set, e.g. by ``--checkpoint-every``).
        log_hooks: callables ``hook(record: dict)`` receiving every logged record (e.g. visdom).

    ``epoch_end_hooks`` (attribute, initially empty): callables ``hook(trainer)`` run after each
    finished epoch, once that epoch's checkpoint is on disk (e.g. validation by tracking, see
    :mod:`ltr.trainers.validation`).
    """

    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, dataset, batch_size: int,
                 settings: Any, tracker_name: str, model_size: str, collate_fn: Optional[Callable] = None,
                 lr_scheduler=None, num_workers: int = 0, grad_clip: Optional[float] = None,
                 print_interval: int = 10, checkpoint_every: int = 0,
                 log_hooks: Optional[List[Callable[[Dict[str, Any]], None]]] = None,
                 checkpoint_dir: Optional[os.PathLike] = None, quiet: bool = False):
        self.net = net
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.dataset = dataset
        self.batch_size = batch_size
        self.collate_fn = collate_fn
        self.settings = settings
        self.tracker_name = tracker_name
        self.model_size = model_size
        self.num_workers = num_workers
        self.grad_clip = grad_clip
        self.print_interval = print_interval
        self.checkpoint_every = int(checkpoint_every or getattr(settings, "checkpoint_every", 0) or 0)
        self.log_hooks = list(log_hooks or [])
        self.quiet = quiet
        self.rank = int(getattr(settings, "rank", 0))
        self.world_size = int(getattr(settings, "world_size", 1))
        if checkpoint_dir is None:
            checkpoint_dir = Path(settings.env.checkpoints_dir) / settings.project_path
        self.checkpoint_dir = Path(checkpoint_dir)
        self.epoch = 0            # epochs fully finished
        self.iteration_in_epoch = 0  # iterations finished in the current epoch
        self.total_iterations = 0
        self.stats = StatsTracker()
        self.history: List[Dict[str, Any]] = []
        self.counters: Dict[str, float] = {}
        self.epoch_end_hooks: List[Callable[["BaseTrainer"], None]] = []

    # ----------------------------------------------------------------------------- subclass API
    def train_step(self, batch) -> Dict[str, float]:
        """One optimisation step on ``batch``; returns stats (plain floats)."""
        raise NotImplementedError

    def local_bad_frames(self) -> Optional[int]:
        """Frames this rank's sampler has skipped in this run so far (None: the dataset does not count).

        Samplers keep either a count (``SequenceSampler``) or a list of (file, reason)
        (``FrameLevelSampler``); the loader reports what each batch cost (also from DataLoader
        worker processes), accumulated in ``counters['bad_frames']`` and kept in checkpoints.
        """
        if getattr(self.dataset, "bad_frames", None) is None:
            return None
        return int(self.counters.get("bad_frames", 0))

    def epoch_summary_extra(self) -> Dict[str, Any]:
        """Extra fields for the epoch summary: ``bad_frames_skipped``, summed over all ranks.

        Called on every rank (it may run a collective).
        """
        local = self.local_bad_frames()
        if distributed.any_rank(local is not None):
            total = distributed.all_reduce_sum({"bad_frames": float(local or 0)})["bad_frames"]
            return {"bad_frames_skipped": int(round(total))}
        return {}

    # ----------------------------------------------------------------------------- loop
    @property
    def iterations_per_epoch(self) -> int:
        return len(self.dataset) // (self.batch_size * self.world_size)

    def batches(self, start_iteration: int = 0, epoch: Optional[int] = None) -> Iterator[Any]:
        """This process's collated batches of one epoch, from iteration ``start_iteration`` on.

        Exactly the batches :meth:`train` feeds to :meth:`train_step` at those iterations (same
        samples, same order, same rank split), without training on them: for diagnostics that
        explore or replay batches themselves.

        Args:
            start_iteration: the first iteration of the epoch to yield (0: the whole epoch).
            epoch: the epoch whose samples to draw (default: the current one, ``self.epoch``).
                The dataset is switched to it (``dataset.set_epoch``) before the first batch.
        """
        for batch, _ in self._epoch_loader(start_iteration, epoch):
            yield batch

    def _epoch_loader(self, start_iteration: int, epoch: Optional[int] = None) -> Iterable[Tuple[Any, int]]:
        """This rank's batches from ``start_iteration`` on, as ``(batch, bad frames skipped for it)``."""
        epoch = self.epoch if epoch is None else int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        per_iter = self.batch_size * self.world_size
        start = start_iteration * per_iter
        end = self.iterations_per_epoch * per_iter
        # Rank r takes every world_size-th sample inside each global batch: ranks draw different
        # samples, and the union over ranks equals the single-process batch.
        indices = [i for i in range(start, end) if (i % per_iter) // self.batch_size == self.rank]
        # An explicit generator: otherwise creating the loader draws from torch's global RNG, and
        # a resumed run (one extra loader) would continue a shifted random stream.
        generator = torch.Generator().manual_seed(int(getattr(self.settings, "seed", 0) or 0) * 100003
                                                  + epoch * 1009 + self.rank)
        return torch.utils.data.DataLoader(_CountingDataset(self.dataset), batch_size=self.batch_size,
                                           sampler=indices, num_workers=self.num_workers,
                                           collate_fn=_CountingCollate(self.collate_fn), drop_last=True,
                                           persistent_workers=False, generator=generator)

    def scale_learning_rates(self, factor: float) -> None:
        """Multiply the recipe's learning rates by ``factor``, schedule included.

        Scales every parameter group's ``lr`` (and ``initial_lr``, ``max_lr``, ``min_lr`` where
        present) and the scheduler's reference rates (``base_lrs``, a cosine ``eta_min``, a
        plateau ``min_lrs``, the last rates), so that stepping the scheduler afterwards gives
        ``factor`` times the unscaled schedule: an epoch (StepLR) or cosine schedule continues
        from the scaled rates instead of snapping back to the recipe's.

        Call it before :meth:`load_checkpoint`: a checkpoint holds the already scaled rates and
        its optimizer and scheduler state replace these, so scaling after loading would scale twice.
        """
        factor = float(factor)
        if not math.isfinite(factor) or factor <= 0:
            raise ValueError(f"scale_learning_rates needs a positive finite factor, got {factor}.")
        for group in self.optimizer.param_groups:
            for key in ("lr", "initial_lr", "max_lr", "min_lr"):
                if _is_rate(group.get(key)):
                    group[key] = group[key] * factor
        if self.lr_scheduler is not None:
            _scale_scheduler(self.lr_scheduler, factor)

    def set_training_mode(self) -> None:
        """Put the network in the module mode its training steps run in.

        :meth:`train` calls it at the start of every epoch. Frame-level training: ``net.train()``
        followed by :meth:`on_epoch_start`; subclasses whose actor owns the mode (SLT) delegate.
        """
        self.net.train()
        self.on_epoch_start()

    def train(self, max_epochs: int, time_budget_s: Optional[float] = None,
              max_iterations: Optional[int] = None,
              lr_schedule: Optional[Callable[[float], float]] = None,
              progress_hook: Optional[Callable[[float, int], None]] = None,
              clock: Callable[[], float] = time.perf_counter) -> Dict[str, Any]:
        """Train until ``max_epochs`` are done, the time budget is spent or ``max_iterations`` reached.

        Args:
            lr_schedule: optional ``progress -> factor`` applied to the learning rates this call
                starts with; progress in [0, 1] is the spent share of the time budget (or of
                ``max_iterations``). Lets budgeted runs anneal by wall time.
            progress_hook: called after every step with (seconds spent, iterations done) in this call.
            clock: what the time budget counts, in seconds: wall time (``time.perf_counter``, the
                default) or e.g. ``time.process_time`` (this process's CPU time), which keeps
                budgets comparable when other jobs share the cores.
        Returns a summary with the number of iterations and seconds spent in this call.
        """
        start_time = clock()
        base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        iterations_this_call = 0
        stop = False
        while self.epoch < max_epochs and not stop:
            self.set_training_mode()
            tic = time.perf_counter()
            for batch, bad_frames in self._epoch_loader(self.iteration_in_epoch):
                if bad_frames:
                    self.counters["bad_frames"] = self.counters.get("bad_frames", 0.0) + float(bad_frames)
                if lr_schedule is not None:
                    if time_budget_s is not None:
                        progress = (clock() - start_time) / time_budget_s
                    else:
                        progress = iterations_this_call / max(max_iterations or 1, 1)
                    factor = lr_schedule(min(max(progress, 0.0), 1.0))
                    for group, base in zip(self.optimizer.param_groups, base_lrs):
                        group["lr"] = base * factor
                step_stats = self.train_step(batch)
                self.iteration_in_epoch += 1
                self.total_iterations += 1
                iterations_this_call += 1
                self.stats.update(step_stats)
                for key in ("frames_grad", "frames_nograd"):
                    if key in step_stats:
                        self.counters[key] = self.counters.get(key, 0.0) + step_stats[key]
                if self.rank == 0 and self.print_interval and self.iteration_in_epoch % self.print_interval == 0:
                    rate = self.iteration_in_epoch / max(time.perf_counter() - tic, 1e-9)
                    self._log({"kind": "iteration", "epoch": self.epoch + 1, "iteration": self.iteration_in_epoch,
                               "iterations_per_s": rate, **self.stats.averages()},
                              f"[{self.settings.project_path}] epoch {self.epoch + 1} it {self.iteration_in_epoch}/"
                              f"{self.iterations_per_epoch} ({rate:.2f} it/s)  {self.stats.format()}")
                if self.checkpoint_every and self.total_iterations % self.checkpoint_every == 0:
                    self.save_checkpoint()
                elapsed = clock() - start_time
                if progress_hook is not None:
                    progress_hook(elapsed, iterations_this_call)
                out_of_time = time_budget_s is not None and elapsed >= time_budget_s
                if time_budget_s is not None:
                    # Clocks differ between ranks: stop all of them at the same iteration.
                    out_of_time = distributed.any_rank(out_of_time)
                if out_of_time or (max_iterations is not None and iterations_this_call >= max_iterations):
                    stop = True
                    break
            finished = not stop or self.iteration_in_epoch >= self.iterations_per_epoch
            if finished:
                self._finish_epoch()
            self.save_checkpoint()
            if finished:
                # After the save: a hook may use the epoch's checkpoint file (e.g. keep it as best.pth).
                for hook in self.epoch_end_hooks:
                    hook(self)
        return {"iterations": iterations_this_call, "seconds": clock() - start_time,
                "epoch": self.epoch, **self.counters}

    def on_epoch_start(self) -> None:
        """Hook for subclasses (e.g. switching normalisation layers to eval mode)."""

    def _finish_epoch(self) -> None:
        averages = self.stats.averages()
        self.epoch += 1
        self.iteration_in_epoch = 0
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        record = {"kind": "epoch", "epoch": self.epoch, **averages, **self.epoch_summary_extra()}
        self.history.append(record)
        if self.rank == 0:
            self._log(record, f"[{self.settings.project_path}] epoch {self.epoch} done: " +
                      "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in record.items() if k not in ("kind", "epoch")))
        self.stats.reset()

    def _log(self, record: Dict[str, Any], line: str) -> None:
        if not self.quiet:
            print(line, flush=True)
        append_jsonl(self.checkpoint_dir / "stats.jsonl", record)
        for hook in self.log_hooks:
            hook(record)

    # ----------------------------------------------------------------------------- checkpoints
    def checkpoint_path(self, epoch: Optional[int] = None) -> Path:
        return self.checkpoint_dir / f"{self.tracker_name}_ep{(self.epoch if epoch is None else epoch):04d}.pth"

    def save_checkpoint(self) -> Optional[Path]:
        """Write the state atomically (rank 0 writes); also refresh ``latest.pth``.

        Every rank must call it at the same point: the ranks' RNG states are gathered first.
        """
        rng_per_rank = distributed.all_gather_object(self.rng_state())
        if self.rank != 0:
            return None
        extra: Dict[str, Any] = {"total_iterations": self.total_iterations, "counters": dict(self.counters)}
        if len(rng_per_rank) > 1:
            extra["rng_per_rank"] = rng_per_rank
        state = dict(
            net_state=distributed.unwrap_ddp(self.net).state_dict(), tracker=self.tracker_name, size=self.model_size,
            epoch=self.epoch, iteration=self.iteration_in_epoch, optimizer=self.optimizer.state_dict(),
            scheduler=self.lr_scheduler.state_dict() if self.lr_scheduler is not None else None,
            settings=self.settings_for_checkpoint(), stats={"history": self.history, "meters": self._meter_state()},
            rng=rng_per_rank[0], extra=extra)
        # latest.pth first: a run killed between the two writes still resumes from this state.
        ckpt.save_checkpoint(self.checkpoint_dir / "latest.pth", **state)
        return ckpt.save_checkpoint(self.checkpoint_path(), **state)

    def rng_state(self) -> Dict[str, Any]:
        """This process's random state, as plain data: what a resumed run continues from.

        The global python, numpy and torch (and CUDA) generators; subclasses add the generators
        they own under further keys (see :meth:`load_rng_state`). :meth:`save_checkpoint` keeps
        one such state per rank.
        """
        return ckpt.capture_rng_state()

    def load_rng_state(self, state: Dict[str, Any]) -> None:
        """Inverse of :meth:`rng_state` (called by :meth:`load_checkpoint`)."""
        ckpt.restore_rng_state(state)

    def _meter_state(self) -> Dict[str, List[float]]:
        # The running averages of the unfinished epoch: a run resumed mid-epoch then reports the
        # same epoch summary as an uninterrupted one.
        return {k: [m.sum, float(m.count), m.last] for k, m in self.stats.meters.items()}

    def _restore_meters(self, meters: Dict[str, List[float]]) -> None:
        self.stats.reset()
        for key, (total, count, last) in meters.items():
            meter = self.stats.meters.setdefault(key, AverageMeter())
            meter.sum, meter.count, meter.last = float(total), int(count), float(last)

    def settings_for_checkpoint(self) -> Dict[str, Any]:
        plain = ckpt.to_plain(self.settings)
        return plain if isinstance(plain, dict) else {"settings": plain}

    def load_checkpoint(self, path: Optional[os.PathLike] = None) -> bool:
        """Resume from ``path`` or from ``latest.pth`` in the checkpoint folder. Returns True if loaded.

        Without ``latest.pth`` (e.g. deleted) the newest ``<tracker>_epNNNN.pth`` is used.
        """
        if path is None:
            path = self.checkpoint_dir / "latest.pth"
            if not path.is_file():
                path = ckpt.latest_checkpoint(self.checkpoint_dir, prefix=self.tracker_name) or path
        path = Path(path)
        found = distributed.all_gather_object(path.is_file())
        if any(found) and not all(found):
            # Ranks resuming from different states would silently train different models.
            raise ckpt.CheckpointError(
                f"Checkpoint '{path}' exists on ranks {[r for r, f in enumerate(found) if f]} but not on the others; "
                f"put the workspace (SLT_WORKSPACE_DIR) on a file system every node can read.")
        if not found[0]:
            return False
        state = ckpt.load_checkpoint(path)
        distributed.unwrap_ddp(self.net).load_state_dict(state["net"])
        if state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.lr_scheduler is not None and state.get("scheduler") is not None:
            self.lr_scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        self.iteration_in_epoch = int(state["iteration"])
        self.total_iterations = int(state.get("total_iterations", 0))
        self.counters = dict(state.get("counters", {}) or {})
        self.history = list((state.get("stats") or {}).get("history", []))
        self._restore_meters((state.get("stats") or {}).get("meters") or {})
        per_rank = state.get("rng_per_rank")
        if per_rank is not None and len(per_rank) == self.world_size:
            self.load_rng_state(per_rank[self.rank])
        elif state.get("rng") is not None:
            # Saved by a run with another number of ranks: rank 0's stream, offset per rank so
            # that ranks do not draw identical augmentation.
            self.load_rng_state(state["rng"])
            if self.rank:
                seed_everything(int(torch.randint(0, 2 ** 62, (1,))) + self.rank)
        if self.rank == 0 and not self.quiet:
            print(f"Resumed from {path}: epoch {self.epoch}, iteration {self.iteration_in_epoch}", flush=True)
        return True

    # ----------------------------------------------------------------------------- helpers
    def clip_and_step(self) -> float:
        """Clip gradients (if configured), step the optimizer; returns the gradient norm."""
        params = [p for p in self.net.parameters() if p.grad is not None]
        if self.grad_clip is not None and params:
            norm = float(torch.nn.utils.clip_grad_norm_(params, self.grad_clip))
        else:
            norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params)) if params else 0.0
        self.optimizer.step()
        return norm


class LTRTrainer(BaseTrainer):
    """Frame-level training: ``actor(batch) -> (loss, stats)``, then backward and step."""

    def __init__(self, actor, *args, **kwargs):
        super().__init__(actor.net, *args, **kwargs)
        self.actor = actor

    def set_training_mode(self) -> None:
        super().set_training_mode()
        # Actors whose loss follows the epoch (OSTrack's candidate-elimination schedule) learn it here.
        if hasattr(self.actor, "set_epoch"):
            self.actor.set_epoch(self.epoch + 1)

    def train_step(self, batch) -> Dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        loss, stats = self.actor(batch)
        # Under DDP the actor's net is the wrapped module, so backward averages the gradients.
        loss.backward()
        stats = dict(stats)
        stats["grad_norm"] = self.clip_and_step()
        return distributed.all_reduce_mean(stats)
