"""Helpers every training setting uses: its fields filled from its own numbers and the
official recipe (command-line overrides win), the SLT policy from the settings, the cosine
optimiser, DDP wrapping under torchrun, the start network, the trainer assembly and the
run-with-resume entry.

The trackers differ in their network, data processing, actor and optimiser; how those pieces
become a frame-level (FLT) or sequence-level (SLT) trainer is the same for all of them and
lives here, so a fix to the assembly (sampler sizes under DDP, validation hooks, ...) reaches
every tracker at once.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from ltr.admin import distributed
from ltr.admin.config import OFFICIAL_RECIPE, SETTING_DEFAULT, ConfigError, Schema
from ltr.admin.settings import Settings
from ltr.models.registry import build_network, load_network
from ltr.trainers.base_trainer import LTRTrainer
from ltr.trainers.validation import attach_from_settings

#: Builds the optimiser and its learning-rate schedule for a network (the per-tracker recipe).
OptimizerFactory = Callable[[torch.nn.Module], Tuple[torch.optim.Optimizer, object]]


def configure_setting(settings: Settings, schema: Schema, official: Mapping[str, Any],
                      changes: Optional[Mapping[str, Any]] = None) -> None:
    """Declare a setting's fields on ``settings`` and fill them: the setting's own ``changes``
    first (source 'setting default'), then the tracker's ``official`` recipe for the rest
    (source 'official recipe'); values from the command line or code are kept."""
    settings.declare(schema)
    settings.fill(changes or {}, SETTING_DEFAULT)
    settings.fill(official, OFFICIAL_RECIPE)


def official_policy_fields(tracker: str, extra: Sequence[str] = ()) -> Dict[str, Any]:
    """The official SLT policy's knobs for ``tracker`` as settings fields: ``temperature``, ``eps``
    (None where the policy has none) and the policy arguments named in ``extra`` (e.g. TrDiMP's
    ``mean_max_range``), read from :data:`slt_plugins.policy.OFFICIAL_SETTINGS`, their one home."""
    from slt_plugins.policy import OFFICIAL_SETTINGS

    _, kwargs = OFFICIAL_SETTINGS[tracker]
    fields = {"temperature": float(kwargs["temperature"]), "eps": kwargs.get("eps")}
    fields.update({name: kwargs[name] for name in extra})
    return fields


def build_policy(settings: Settings, tracker: str, extra: Sequence[str] = ()):
    """The official SLT policy family of ``tracker`` with the knobs of ``settings``: ``temperature``,
    ``eps`` where the family has one, and the fields named in ``extra``."""
    from slt_plugins.policy import OFFICIAL_SETTINGS
    from slt_plugins.registry import build

    name, kwargs = OFFICIAL_SETTINGS[tracker]
    kwargs = dict(kwargs, temperature=settings.temperature, **{field: getattr(settings, field) for field in extra})
    if "eps" in kwargs:
        if settings.eps is None:
            raise ValueError(f"{tracker}'s {name} policy needs eps (0 < eps < 0.5); got eps=None.")
        kwargs["eps"] = settings.eps
    elif settings.eps is not None:
        raise ValueError(f"{tracker}'s {name} policy has no eps; leave eps=None (got eps={settings.eps}).")
    return build("policy", name, **kwargs)


def cosine_optimizer(net: torch.nn.Module, settings: Settings,
                     kind: Optional[str] = None) -> Tuple[torch.optim.Optimizer, object]:
    """Adam or SGD with momentum 0.9 (``kind``, default ``settings.optimizer``) over the trainable
    parameters, with a cosine decay from ``lr`` to ``lr * final_lr_factor`` over ``epochs``
    (fields ``lr``, ``weight_decay``, ``final_lr_factor``, ``epochs``)."""
    kind = settings.optimizer if kind is None else kind
    params = [p for p in net.parameters() if p.requires_grad]
    if kind == "adam":
        optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=0.9, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(settings.epochs, 1),
                                                           eta_min=settings.lr * settings.final_lr_factor)
    return optimizer, scheduler


def backbone_param_groups(net: torch.nn.Module, lr: float, backbone_lr: float) -> List[dict]:
    """Two parameter groups: everything named ``*backbone*`` at ``backbone_lr``, the rest at ``lr``
    (trainable parameters only), as TransT and OSTrack train."""
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if "backbone" not in n], "lr": lr},
            {"params": [p for n, p in named if "backbone" in n], "lr": backbone_lr}]


def backbone_adamw_optimizer(net: torch.nn.Module, settings: Settings) -> Tuple[torch.optim.Optimizer, object]:
    """AdamW over :func:`backbone_param_groups` (fields ``lr``, ``backbone_lr``, ``weight_decay``; the
    decay on every parameter) with the rates multiplied by 0.1 every ``lr_drop_epochs``."""
    optimizer = torch.optim.AdamW(backbone_param_groups(net, settings.lr, settings.backbone_lr), lr=settings.lr,
                                  weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_drop_epochs, gamma=0.1)
    return optimizer, scheduler


def wrap_ddp(net: torch.nn.Module, settings: Settings) -> torch.nn.Module:
    """DDP around ``net`` under torchrun (frame-level actors call the network's forward, so DDP
    averages their gradients); ``net`` itself in a single process."""
    if getattr(settings, "world_size", 1) > 1:
        return distributed.wrap_ddp(net, str(settings.device))
    return net


def run_trainer(trainer, settings: Settings) -> None:
    """Resume from ``latest.pth`` unless ``--no-resume``, then train ``settings.epochs`` epochs."""
    if settings.resume:
        trainer.load_checkpoint()
    trainer.train(settings.epochs)


def load_or_build_net(settings: Settings, tracker: str) -> torch.nn.Module:
    """The weights of ``settings.checkpoint`` when given, else a random-initialised ``tracker``
    network whose backbone starts from ``settings.backbone_weights`` where set; on ``settings.device``."""
    if settings.checkpoint:
        net, _ = load_network(settings.checkpoint, tracker=tracker, size=settings.model_size)
    else:
        net = build_network(tracker, settings.model_size)
        if settings.backbone_weights:
            net.load_backbone_weights(settings.backbone_weights)
    return net.to(settings.device)


def assemble_flt_trainer(actor, optimizer: torch.optim.Optimizer, scheduler, sampler, settings: Settings,
                         tracker_name: str, collate_fn: Callable, quiet: bool = False,
                         trainer_class: type = LTRTrainer) -> LTRTrainer:
    """Frame-level trainer (``trainer_class``, an :class:`LTRTrainer`) around a tracker's actor, optimiser
    and sampler, with the optional validation fields of ``settings`` attached
    (:func:`ltr.trainers.validation.attach_from_settings`).

    Fields used: batch_size, model_size, num_workers, grad_clip (optional), print_interval.
    """
    trainer = trainer_class(actor, optimizer, sampler, settings.batch_size, settings, tracker_name=tracker_name,
                         model_size=settings.model_size, collate_fn=collate_fn, lr_scheduler=scheduler,
                         num_workers=settings.num_workers, grad_clip=settings.grad_clip,
                         print_interval=settings.print_interval, quiet=quiet)
    attach_from_settings(trainer, settings)
    return trainer


def assemble_slt_trainer(adapter, net: torch.nn.Module, settings: Settings, datasets: Sequence,
                         p_datasets: Optional[Sequence[float]], make_optimizer: OptimizerFactory,
                         tracker_name: str, quiet: bool = False):
    """Sequence-level trainer around a tracker's SLT adapter: the explore/replay actor, the episode
    sampler, the optimiser from ``make_optimizer(net)`` and the optional validation fields.

    ``net`` stays unwrapped: under torchrun the SLT trainer puts the adapter's replay pass under DDP.
    Fields used: reward, samples_per_episode, scst_baseline, candidate_set, candidate_top_k, replay_chunk, network_mode, episodes_per_batch (k),
    iterations_per_epoch, world_size, num_frames (T), max_gap, max_interval, interval_prob, seed,
    model_size, num_workers, grad_clip, print_interval; optional ``advantage`` ('episode', the
    official SCST weighting and the default, or 'reward_to_go', see :class:`slt_plugins.actor.SLTActor`)
    and ``include_invisible`` (False, the official sampler, or True for through-occlusion episodes,
    see :mod:`slt_plugins.sampler`).
    """
    from slt_plugins.actor import SLTActor
    from slt_plugins.sampler import SequenceSampler
    from slt_plugins.trainer import SLTTrainer

    from slt_plugins.policy import with_candidate_set

    if settings.scst_baseline == "mean" and settings.samples_per_episode < 2:
        raise ConfigError(f"scst_baseline='mean' needs samples_per_episode >= 2 (got "
                          f"{settings.samples_per_episode}); e.g. --set samples_per_episode=3.")
    # the candidate set wraps whatever policy the adapter was built with (every tracker, one place)
    policy = with_candidate_set(adapter.policy, settings.candidate_set, settings.candidate_top_k)
    actor = SLTActor(adapter, policy=policy, reward=settings.reward, num_samples=settings.samples_per_episode,
                     chunk_size=settings.replay_chunk, start="first_frame", baseline=settings.scst_baseline,
                     advantage=settings.advantage, mode=settings.network_mode)
    # Every process draws its own episodes, so an epoch holds k episodes per iteration and process.
    num_episodes = settings.episodes_per_batch * settings.iterations_per_epoch * settings.world_size
    sampler = SequenceSampler(datasets, p_datasets, num_episodes=num_episodes,
                              num_frames=settings.num_frames, max_gap=settings.max_gap,
                              max_interval=settings.max_interval, interval_prob=settings.interval_prob,
                              seed=settings.seed,
                              include_invisible=settings.include_invisible)
    optimizer, scheduler = make_optimizer(net)
    trainer = SLTTrainer(actor, net, optimizer, sampler, settings.episodes_per_batch, settings,
                         tracker_name=tracker_name, model_size=settings.model_size, lr_scheduler=scheduler,
                         num_workers=settings.num_workers, grad_clip=settings.grad_clip,
                         print_interval=settings.print_interval, seed=settings.seed, quiet=quiet)
    attach_from_settings(trainer, settings)
    return trainer


def synthetic_train_datasets(settings: Settings, fine_tune: bool = False) -> list:
    """The synthetic training stream of the tiny settings.

    Fine-tuning (SLT) reads a different seed than the frame-level stream, so it sees fresh videos.
    ``settings.synthetic_train_overrides`` (a dict of :class:`SyntheticConfig` fields, e.g.
    ``{"num_distractors": (2, 4)}``), when set, changes how the training videos are made; the
    held-out test videos are not affected.
    """
    from ltr.dataset.synthetic import SyntheticVideoDataset

    config = synthetic_config(settings.synthetic_train_overrides or {})
    return [SyntheticVideoDataset("train", seed=settings.seed + 1 if fine_tune else settings.seed, config=config)]


def synthetic_config(overrides: dict):
    """A :class:`SyntheticConfig` with ``overrides`` (field -> value), or None for no overrides.

    Raises:
        ValueError: an unknown field (the message lists the known ones) or an invalid value.
    """
    from ltr.dataset.synthetic import SyntheticConfig

    if not overrides:
        return None
    known = {f.name for f in dataclasses.fields(SyntheticConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"synthetic_train_overrides {overrides}: unknown fields {unknown}; "
                         f"known fields: {sorted(known)}")
    return SyntheticConfig(**overrides)


def require_checkpoint(settings: Settings, model: str, hint: str) -> None:
    """SLT fine-tunes a frame-level ``model``: stop with the fix (``hint``) when no start weights are given."""
    if not settings.checkpoint:
        raise SystemExit(f"{settings.project_path or 'SLT'} fine-tunes a frame-level {model}: pass --checkpoint FILE "
                         f"({hint}).")


def pretrained_weights(settings: Settings, filename: str) -> Optional[str]:
    """``<pretrained_networks_dir>/<filename>`` (the working directory when no folder is set) when
    that file exists, else None: pretrained weights are only ever read from disk, never downloaded."""
    path = Path(settings.env.pretrained_networks_dir or ".") / filename
    return str(path) if path.is_file() else None
