"""Building blocks shared by the SiamRPN++ settings (FLT and SLT, paper and tiny).

Each setting module fills ``settings`` with plain fields and calls a builder here; the builders
return ready trainers so benchmarks can drive them with their own budgets.

Every builder also reads the optional validation fields (``validate_every`` epochs, 0 = off;
``validation_dataset`` 'auto' / 'got10k_val' / 'synthetic' / ...; see
:func:`ltr.trainers.validation.attach_from_settings`) and ``visdom`` (training curves in visdom).
"""
from __future__ import annotations

from typing import List

import torch

from ltr.actors.siamrpn_actor import SiamRPNActor
from ltr.admin import distributed
from ltr.admin.settings import Settings
from ltr.data.processing import SiameseProcessing, stack_siamese_batch
from ltr.data.sampler import FrameLevelSampler
from ltr.models.registry import build_network, load_network
from ltr.models.tracking.siamrpnpp import SiamRPNConfig
from ltr.train_settings.common import run_trainer, set_defaults, wrap_ddp  # noqa: F401 (re-exported)
from ltr.trainers.base_trainer import LTRTrainer
from ltr.trainers.validation import attach_from_settings


def model_config(size: str) -> SiamRPNConfig:
    return SiamRPNConfig.paper() if size == "paper" else SiamRPNConfig.tiny()


def build_net(settings: Settings) -> torch.nn.Module:
    """Random-initialised network, or the weights of ``settings.checkpoint`` when given."""
    if getattr(settings, "checkpoint", None):
        net, _ = load_network(settings.checkpoint, tracker="siamrpnpp", size=settings.model_size)
    else:
        net = build_network("siamrpnpp", settings.model_size)
        backbone = getattr(settings, "backbone_weights", None)
        if backbone:
            net.load_backbone_weights(backbone)
    return net.to(settings.device)


def build_flt_trainer(settings: Settings, datasets: List, p_datasets=None, quiet: bool = False) -> LTRTrainer:
    """Frame-level SiamRPN++ trainer from the fields of ``settings`` (see tiny.py / siamrpnpp.py)."""
    cfg = model_config(settings.model_size)
    processing = SiameseProcessing(cfg.exemplar_size, cfg.instance_size, context_amount=cfg.context_amount,
                                   template_shift=settings.template_shift, template_scale=settings.template_scale,
                                   search_shift=settings.search_shift, search_scale=settings.search_scale,
                                   blur_prob=settings.blur_prob, gray_prob=settings.gray_prob)
    sampler = FrameLevelSampler(datasets, p_datasets, samples_per_epoch=settings.batch_size * settings.iterations_per_epoch
                                * settings.world_size, max_gap=settings.max_gap, processing=processing,
                                seed=settings.seed)
    net = wrap_ddp(build_net(settings), settings)
    actor = SiamRPNActor(net, cfg, device=settings.device)
    params = [p for p in net.parameters() if p.requires_grad]
    if settings.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=0.9, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(settings.epochs, 1),
                                                           eta_min=settings.lr * settings.final_lr_factor)
    trainer = LTRTrainer(actor, optimizer, sampler, settings.batch_size, settings, tracker_name="siamrpnpp",
                         model_size=settings.model_size, collate_fn=stack_siamese_batch, lr_scheduler=scheduler,
                         num_workers=settings.num_workers, grad_clip=settings.grad_clip,
                         print_interval=settings.print_interval, quiet=quiet)
    attach_from_settings(trainer, settings)
    return trainer




def build_slt_trainer(settings: Settings, datasets: List, p_datasets=None, quiet: bool = False):
    """Sequence-level SiamRPN++ trainer (explore/replay through the SiamRPN++ SLT adapter).

    Fields of ``settings`` used: model_size, checkpoint (FLT start), device, seed, episodes_per_batch
    (k), num_frames (T), samples_per_episode, max_gap, max_interval, interval_prob, temperature,
    eps, scst_weight, box_weight, replay_chunk, lr, final_lr_factor, weight_decay, grad_clip,
    epochs, iterations_per_epoch, num_workers, print_interval.
    """
    from pytracking.tracker.siamrpnpp.core import SiamRPNCore
    from pytracking.tracker.siamrpnpp.slt_adapter import SiamRPNSLTAdapter
    from slt_plugins.actor import SLTActor
    from slt_plugins.policy import LogitSoftmaxPolicy
    from slt_plugins.sampler import SequenceSampler
    from slt_plugins.trainer import SLTTrainer

    cfg = model_config(settings.model_size)
    net = build_net(settings)
    core = SiamRPNCore(net, cfg, device=settings.device)
    adapter = SiamRPNSLTAdapter(core, LogitSoftmaxPolicy(settings.temperature, settings.eps),
                                scst_weight=settings.scst_weight, box_weight=settings.box_weight)
    actor = SLTActor(adapter, reward=settings.reward, num_samples=settings.samples_per_episode,
                     chunk_size=settings.replay_chunk, start="first_frame")
    # The net stays unwrapped: SLTTrainer puts the adapter's replay pass under DDP when distributed.
    sampler = SequenceSampler(datasets, p_datasets,
                              num_episodes=settings.episodes_per_batch * settings.iterations_per_epoch * settings.world_size,
                              num_frames=settings.num_frames, max_gap=settings.max_gap,
                              max_interval=settings.max_interval, interval_prob=settings.interval_prob,
                              seed=settings.seed)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(settings.epochs, 1),
                                                           eta_min=settings.lr * settings.final_lr_factor)
    trainer = SLTTrainer(actor, net, optimizer, sampler, settings.episodes_per_batch, settings,
                         tracker_name="siamrpnpp", model_size=settings.model_size, lr_scheduler=scheduler,
                         num_workers=settings.num_workers, grad_clip=settings.grad_clip,
                         print_interval=settings.print_interval, seed=settings.seed, quiet=quiet)
    attach_from_settings(trainer, settings)
    return trainer
