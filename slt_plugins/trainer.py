"""The SLT training loop: explore episodes, score them, replay with gradients, step.

It reuses :class:`ltr.trainers.base_trainer.BaseTrainer` for epochs, checkpoints, resume, logs and
the wall-time budget; only the step differs from frame-level training.

One iteration:
    episodes (k per process) -> actor.explore (no grad, 2k or k(1+S) trackers in lockstep)
    -> rewards, advantages -> actor.replay (grad, chunked; backward per chunk)
    -> gradient clipping -> optimizer step.

The actor owns the network's module mode (:attr:`slt_plugins.actor.SLTActor.mode`, eval by
default: frozen normalisation statistics, no dropout) and sets it before explore and before replay,
so that the log-probabilities in the loss belong to the actions the explore pass actually took;
the trainer never sets it itself.

Random state. Episodes are a pure function of (sampler seed, epoch, index) and the exploration
generator of (seed, epoch, iteration, rank), so both resume from the epoch and iteration in the
checkpoint; generators that carry over between iterations (the global ones and an adapter's
optional ``persistent_generators``, see :mod:`slt_plugins.adapter`) are saved per rank with it.
A killed run resumed from a checkpoint therefore ends on the parameters of an uninterrupted one.

Distributed training. DistributedDataParallel only averages gradients of computations that run
through the wrapped module's ``forward``; explore and replay call the network's own methods
(``template_features``, ``track``, ...), so wrapping the network alone would average nothing.
Two ways are supported:

* adapters with a ``replay_module`` attribute (an ``nn.Module`` whose forward is the replay
  network pass, e.g. :class:`pytracking.tracker.common.siamese_slt.SiameseReplayNet`): that
  module is wrapped in DDP once and put back on the adapter, so replay runs through DDP and the
  gradient all-reduce overlaps the backward; ``no_sync`` skips it on all chunks but the last;
* any other adapter: after replay the gradients are averaged with one all-reduce
  (:func:`ltr.admin.distributed.all_reduce_gradients`).

Each rank explores its own k episodes (the base trainer strides the episode indices by rank) and
averages its losses over its own rollouts; averaging gradients over ranks then gives the mean over
all ranks' rollouts, the gradient of one process running all the episodes.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Optional

import torch

from ltr.admin import distributed
from ltr.admin.distributed import all_reduce_mean, is_distributed, unwrap_ddp
from slt_plugins.sampler import collate_episodes
from ltr.trainers.base_trainer import BaseTrainer


class SLTTrainer(BaseTrainer):
    """Sequence-level training on top of an :class:`slt_plugins.actor.SLTActor`.

    Args:
        actor: the SLT actor (holds the adapter, which holds the network).
        net: the network being trained; its parameters are optimised. A DDP-wrapped network is
            unwrapped (see the module docstring for how gradients are synchronised).
        seed: base seed of the per-iteration sampling generator.
        Remaining arguments: see :class:`BaseTrainer` (``batch_size`` = episodes per iteration).
    """

    def __init__(self, actor, net: torch.nn.Module, *args, seed: int = 0, **kwargs):
        kwargs.setdefault("collate_fn", collate_episodes)
        # A DDP wrapper around the whole network would never see a forward call here; a second
        # DDP around the replay module would then hook the same parameters twice.
        super().__init__(unwrap_ddp(net), *args, **kwargs)
        self.actor = actor
        self.seed = seed
        self.replay_ddp: Optional[torch.nn.Module] = None
        self._sync_after_replay = False
        if is_distributed():
            self._setup_distributed()

    def _setup_distributed(self) -> None:
        adapter = getattr(self.actor, "adapter", None)
        module = getattr(adapter, "replay_module", None)
        if isinstance(module, torch.nn.Module):
            module = unwrap_ddp(module)
            owned = {id(p) for p in self.net.parameters()}
            if not all(id(p) in owned for p in module.parameters()):
                raise ValueError("The adapter's replay_module has parameters outside the trained network.")
            # An arm may leave a branch out of the loss (+SS+SO drops the classification loss,
            # box_weight=0 the box terms); DDP must then not wait for those parameters' gradients.
            self.replay_ddp = distributed.wrap_ddp(module, str(getattr(self.settings, "device", "cpu")),
                                                   find_unused_parameters=True)
            adapter.replay_module = self.replay_ddp
        else:
            # Same start on every rank (DDP would broadcast at construction); gradients are
            # averaged explicitly after each replay.
            distributed.broadcast_parameters(self.net)
            self._sync_after_replay = True

    def set_training_mode(self) -> None:
        """Delegate to the actor, the one owner of the network's mode during SLT."""
        set_mode = getattr(self.actor, "set_network_mode", None)
        if set_mode is None:
            super().set_training_mode()
        else:
            set_mode()

    def exploration_generator(self, epoch: Optional[int] = None, iteration: Optional[int] = None) -> torch.Generator:
        """The generator explore draws from at an iteration: a pure function of (seed, epoch, iteration, rank).

        Args:
            epoch: epochs finished before the iteration (default: the current ``self.epoch``).
            iteration: the iteration inside that epoch (default: the next one to run,
                ``self.iteration_in_epoch``).

        The actor's first draw from it is one seed per sampling rollout, ``(k, S)`` int64 values
        in ``[0, 2**62)``, episode-major. Rank ``r`` skips the values of the ``r * k`` episodes of
        the ranks before it, so all ranks together draw exactly the seeds of a single process
        running the whole global batch: the rollouts of an episode do not depend on how the
        batch is split over processes, and resumed runs draw the same actions.
        """
        epoch = self.epoch if epoch is None else int(epoch)
        iteration = self.iteration_in_epoch if iteration is None else int(iteration)
        generator = torch.Generator()
        generator.manual_seed(hash((self.seed, epoch, iteration)) % (2 ** 63))
        skip = self.rank * self.batch_size * int(getattr(self.actor, "num_samples", 1))
        if skip:
            torch.randint(0, 2 ** 62, (skip,), generator=generator, dtype=torch.int64)
        return generator

    def rng_state(self) -> Dict[str, Any]:
        """The global generators' states plus the adapter's persistent generators (key ``'adapter'``)."""
        state = super().rng_state()
        adapter_state = getattr(self.actor, "rng_state", lambda: {})()
        if adapter_state:
            state["adapter"] = adapter_state
        return state

    def load_rng_state(self, state: Dict[str, Any]) -> None:
        super().load_rng_state(state)
        if state.get("adapter") and hasattr(self.actor, "load_rng_state"):
            self.actor.load_rng_state(state["adapter"])

    def _no_sync(self):
        if self.replay_ddp is not None and hasattr(self.replay_ddp, "no_sync"):
            return self.replay_ddp.no_sync()
        return contextlib.nullcontext()

    def train_step(self, episodes) -> Dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        rollouts = self.actor.explore(episodes, self.exploration_generator())
        loss_out = self.actor.replay(rollouts, no_sync_ctx=self._no_sync)
        if self._sync_after_replay:
            distributed.all_reduce_gradients(self.net.parameters())
        stats = dict(rollouts.stats)
        stats.update({k: float(v) for k, v in loss_out.stats.items()})
        stats["grad_norm"] = self.clip_and_step()
        tracked = int(rollouts.visible.shape[1])
        stats["frames_nograd"] = float(rollouts.pred_boxes_xywh.shape[0] * tracked)
        stats["frames_grad"] = float(rollouts.records.num_rollouts * tracked)
        return all_reduce_mean(stats)
