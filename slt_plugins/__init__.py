"""Sequence-level training (SLT) plugins, independent of any particular tracker.

Importing the package registers its own policies and rewards in :mod:`slt_plugins.registry`;
trackers add adapters (see :mod:`slt_plugins.adapter`, docs/slt.md and docs/own_tracker.md).
"""
from slt_plugins import registry
from slt_plugins.registry import available, build, get, register
from slt_plugins.adapter import LossOutput, ReplayRecords, SLTAdapter, StepOutput
from slt_plugins.policy import LogitSoftmaxPolicy, SoftmaxPolicy, official_policy
from slt_plugins.scst import (average_overlap, scst_loss, self_critical_advantage, success_auc,
                              success_rate)
from slt_plugins.sampler import Episode, SequenceSampler, collate_episodes
from slt_plugins.actor import Rollouts, SLTActor

__all__ = [
    "registry", "available", "build", "get", "register",
    "LossOutput", "ReplayRecords", "SLTAdapter", "StepOutput",
    "LogitSoftmaxPolicy", "SoftmaxPolicy", "official_policy",
    "average_overlap", "scst_loss", "self_critical_advantage", "success_auc", "success_rate",
    "Episode", "SequenceSampler", "collate_episodes",
    "Rollouts", "SLTActor",
]
