"""Building blocks shared by the SiamRPN++ settings (FLT and SLT, paper and tiny).

Each setting module fills ``settings`` with plain fields and calls a builder here; the builders
return ready trainers so benchmarks can drive them with their own budgets.

Every builder also reads the optional validation fields (``validate_every`` epochs, 0 = off;
``validation_dataset`` 'auto' / 'got10k_val' / 'synthetic' / ...; see
:func:`ltr.trainers.validation.attach_from_settings`) and ``visdom`` (training curves in visdom).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch

from ltr.actors.siamrpn_actor import SiamRPNActor
from ltr.admin.settings import Settings
from ltr.data.processing import SiameseProcessing, stack_siamese_batch
from ltr.data.sampler import FrameLevelSampler
from ltr.models.tracking.siamrpnpp import SiamRPNConfig
# run_trainer and set_defaults are re-exported: the SiamRPN++ setting modules import them from here.
from ltr.train_settings.common import (assemble_flt_trainer, assemble_slt_trainer, load_or_build_net,  # noqa: F401
                                       run_trainer, set_defaults, wrap_ddp)
from ltr.trainers.base_trainer import LTRTrainer


def model_config(size: str) -> SiamRPNConfig:
    return SiamRPNConfig.paper() if size == "paper" else SiamRPNConfig.tiny()


def build_net(settings: Settings) -> torch.nn.Module:
    """Random-initialised network, or the weights of ``settings.checkpoint`` when given."""
    return load_or_build_net(settings, "siamrpnpp")


def build_optimizer(net: torch.nn.Module, settings: Settings,
                    kind: Optional[str] = None) -> Tuple[torch.optim.Optimizer, object]:
    """Adam (``kind='adam'``) or SGD with momentum 0.9 over the trainable parameters, with a cosine
    decay from ``lr`` to ``lr * final_lr_factor`` over ``epochs``; ``kind`` defaults to ``settings.optimizer``."""
    kind = settings.optimizer if kind is None else kind
    params = [p for p in net.parameters() if p.requires_grad]
    if kind == "adam":
        optimizer = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=settings.lr, momentum=0.9, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(settings.epochs, 1),
                                                           eta_min=settings.lr * settings.final_lr_factor)
    return optimizer, scheduler


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
    optimizer, scheduler = build_optimizer(net, settings)
    return assemble_flt_trainer(actor, optimizer, scheduler, sampler, settings, "siamrpnpp", stack_siamese_batch,
                                quiet=quiet)


def build_slt_trainer(settings: Settings, datasets: List, p_datasets=None, quiet: bool = False):
    """Sequence-level SiamRPN++ trainer (explore/replay through the SiamRPN++ SLT adapter).

    Fields of ``settings`` used: model_size, checkpoint (FLT start), device, seed, episodes_per_batch
    (k), num_frames (T), samples_per_episode, max_gap, max_interval, interval_prob, temperature,
    eps, scst_weight, box_weight, replay_chunk, lr, final_lr_factor, weight_decay, grad_clip,
    epochs, iterations_per_epoch, num_workers, print_interval.
    """
    from pytracking.tracker.siamrpnpp.core import SiamRPNCore
    from pytracking.tracker.siamrpnpp.slt_adapter import SiamRPNSLTAdapter
    from slt_plugins.policy import LogitSoftmaxPolicy

    cfg = model_config(settings.model_size)
    net = build_net(settings)
    core = SiamRPNCore(net, cfg, device=settings.device)
    adapter = SiamRPNSLTAdapter(core, LogitSoftmaxPolicy(settings.temperature, settings.eps),
                                scst_weight=settings.scst_weight, box_weight=settings.box_weight)
    # SLT always fine-tunes with Adam, whatever optimiser the frame-level run used.
    return assemble_slt_trainer(adapter, net, settings, datasets, p_datasets,
                                lambda n: build_optimizer(n, settings, "adam"), "siamrpnpp", quiet=quiet)
