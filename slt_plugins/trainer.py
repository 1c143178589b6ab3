"""The SLT training loop: explore episodes, score them, replay with gradients, step.

It reuses :class:`ltr.trainers.base_trainer.BaseTrainer` for epochs, checkpoints, resume, logs and
the wall-time budget; only the step differs from frame-level training.

One iteration:
    episodes (k per process) -> actor.explore (no grad, 2k or k(1+S) trackers in lockstep)
    -> rewards, advantages -> actor.replay (grad, chunked; backward per chunk)
    -> gradient clipping -> optimizer step.

The network runs in eval mode for the whole SLT run (frozen normalisation statistics, no dropout)
so that the log-probabilities in the loss belong to the actions the explore pass actually took.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, List

import torch

from ltr.admin.distributed import all_reduce_mean, is_distributed
from ltr.trainers.base_trainer import BaseTrainer


def collate_episodes(episodes: List[Any]) -> List[Any]:
    """Episodes stay a list: their frames have different sizes."""
    return list(episodes)


class SLTTrainer(BaseTrainer):
    """Sequence-level training on top of an :class:`slt_plugins.actor.SLTActor`.

    Args:
        actor: the SLT actor (holds the adapter, which holds the network).
        net: the network being trained (possibly DDP-wrapped); its parameters are optimised.
        seed: base seed of the per-iteration sampling generator.
        Remaining arguments: see :class:`BaseTrainer` (``batch_size`` = episodes per iteration).
    """

    def __init__(self, actor, net: torch.nn.Module, *args, seed: int = 0, **kwargs):
        kwargs.setdefault("collate_fn", collate_episodes)
        super().__init__(net, *args, **kwargs)
        self.actor = actor
        self.seed = seed

    def on_epoch_start(self) -> None:
        self.net.eval()

    def _generator(self) -> torch.Generator:
        # A pure function of (seed, epoch, iteration, rank): resumed runs draw the same actions.
        generator = torch.Generator()
        generator.manual_seed(hash((self.seed, self.epoch, self.iteration_in_epoch, self.rank)) % (2 ** 63))
        return generator

    def _no_sync(self):
        if is_distributed() and hasattr(self.net, "no_sync"):
            return self.net.no_sync()
        return contextlib.nullcontext()

    def train_step(self, episodes) -> Dict[str, float]:
        self.optimizer.zero_grad(set_to_none=True)
        rollouts = self.actor.explore(episodes, self._generator())
        loss_out = self.actor.replay(rollouts, no_sync_ctx=self._no_sync)
        stats = dict(rollouts.stats)
        stats.update({k: float(v) for k, v in loss_out.stats.items()})
        stats["grad_norm"] = self.clip_and_step()
        tracked = int(rollouts.visible.shape[1])
        stats["frames_nograd"] = float(rollouts.pred_boxes_xywh.shape[0] * tracked)
        stats["frames_grad"] = float(rollouts.records.num_rollouts * tracked)
        return all_reduce_mean(stats)
