"""Building blocks shared by the SiamRPN++ settings (FLT and SLT, paper and tiny): the fields,
the official recipes (pysot's siamrpnpp.yaml and SLTtrack's slt_siamrpnpp.yaml, written once
here) and the trainer builders.

Each setting module declares its fields, fills them from its own numbers and the official
recipe (:func:`ltr.train_settings.common.configure_setting`) and calls a builder here; the
builders return ready trainers so experiments can drive them with their own budgets.

Every builder also reads the optional validation fields (``validate_every`` epochs, 0 = off;
``validation_dataset`` 'auto' / 'got10k_val' / 'synthetic' / ...; see
:func:`ltr.trainers.validation.attach_from_settings`) and ``visdom`` (training curves in visdom).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch

from ltr.actors.siamrpnpp_actor import SiamRPNActor
from ltr.admin.config import Field
from ltr.admin.settings import Settings
from ltr.data.processing import SiameseProcessing, stack_siamese_batch
from ltr.data.sampler import FrameLevelSampler
from ltr.models.tracking.siamrpnpp import SiamRPNConfig
# configure_setting and run_trainer are re-exported: the SiamRPN++ setting modules import them from here.
from ltr.train_settings.common import (assemble_flt_trainer, assemble_slt_trainer, build_policy,  # noqa: F401
                                       configure_setting, cosine_optimizer, load_or_build_net,
                                       official_policy_fields, run_trainer, wrap_ddp)
from ltr.train_settings.fields import BOX_SCALE_FIELD, flt_schema, slt_schema
from ltr.trainers.base_trainer import LTRTrainer
from pytracking.tracker.siamrpnpp.slt_adapter import LOSS_TABLE

_SCHEDULE_FIELDS: Dict[str, Field] = {
    "final_lr_factor": Field(float, 1.0, "the cosine schedule ends at lr x this factor"),
}

#: Fields of the frame-level settings (``siamrpnpp``, ``tiny``).
FLT_FIELDS: Dict[str, Field] = flt_schema(_SCHEDULE_FIELDS, {
    "optimizer": Field(str, "sgd", "optimiser (SGD with momentum 0.9, or Adam)", choices=("sgd", "adam")),
    "template_shift": Field(float, 0.0, "template crop: largest centre shift, as a fraction of the crop size"),
    "template_scale": Field(float, 0.0, "template crop: largest relative scale change"),
    "search_shift": Field(float, 0.0, "search crop: largest centre shift, as a fraction of the crop size"),
    "search_scale": Field(float, 0.0, "search crop: largest relative scale change"),
    "blur_prob": Field(float, 0.0, "probability of blurring the search crop"),
})

#: Fields of the sequence-level settings (``slt``, ``slt_tiny``).
SLT_FIELDS: Dict[str, Field] = slt_schema(_SCHEDULE_FIELDS, BOX_SCALE_FIELD)

#: pysot's siamrpnpp.yaml (the FLT recipe the paper-size setting runs).
OFFICIAL_FLT: Dict[str, Any] = dict(
    model_size="paper", batch_size=28, iterations_per_epoch=600000 // (28 * 8), epochs=20,
    optimizer="sgd", lr=0.005, final_lr_factor=0.1, weight_decay=1e-4, grad_clip=10.0,
    num_workers=8, print_interval=50, max_gap=100,
    template_shift=4 / 127, template_scale=0.05, search_shift=64 / 255, search_scale=0.18,
    blur_prob=0.2, gray_prob=0.0)

#: SLTtrack's slt_siamrpnpp.yaml (the SLT recipe); the policy's knobs come from slt_plugins.policy.
OFFICIAL_SLT: Dict[str, Any] = dict(
    model_size="paper", episodes_per_batch=8, num_frames=24, samples_per_episode=1,
    max_gap=None, max_interval=7, interval_prob=0.5, reward="ao", scst_weight=LOSS_TABLE.scst_weight,
    box_weight=1.0,
    replay_chunk=2, lr=1e-5, final_lr_factor=1.0, weight_decay=0.0, grad_clip=10.0, epochs=20,
    iterations_per_epoch=10000 // 8, num_workers=4, print_interval=10, **official_policy_fields("siamrpnpp"))


def model_config(size: str) -> SiamRPNConfig:
    return SiamRPNConfig.paper() if size == "paper" else SiamRPNConfig.tiny()


def build_net(settings: Settings) -> torch.nn.Module:
    """Random-initialised network, or the weights of ``settings.checkpoint`` when given."""
    return load_or_build_net(settings, "siamrpnpp")


def build_pair_sampler(settings: Settings, cfg: SiamRPNConfig, datasets: List, p_datasets=None,
                       return_masks: bool = False) -> FrameLevelSampler:
    """The frame-level (template, search) pair sampler of the anchor Siamese trackers (SiamRPN++, SiamAttn):
    pysot-style crops of ``cfg``'s sizes with the jitter fields of ``settings``; with ``return_masks``
    the samples also carry the search-crop mask of datasets that have masks (weight 0 elsewhere)."""
    processing = SiameseProcessing(cfg.exemplar_size, cfg.instance_size, context_amount=cfg.context_amount,
                                   template_shift=settings.template_shift, template_scale=settings.template_scale,
                                   search_shift=settings.search_shift, search_scale=settings.search_scale,
                                   blur_prob=settings.blur_prob, gray_prob=settings.gray_prob)
    return FrameLevelSampler(datasets, p_datasets, samples_per_epoch=settings.batch_size * settings.iterations_per_epoch
                             * settings.world_size, max_gap=settings.max_gap, processing=processing,
                             seed=settings.seed, return_masks=return_masks)


def build_flt_trainer(settings: Settings, datasets: List, p_datasets=None, quiet: bool = False) -> LTRTrainer:
    """Frame-level SiamRPN++ trainer from the fields of ``settings`` (see tiny.py / siamrpnpp.py)."""
    cfg = model_config(settings.model_size)
    sampler = build_pair_sampler(settings, cfg, datasets, p_datasets)
    net = wrap_ddp(build_net(settings), settings)
    actor = SiamRPNActor(net, cfg, device=settings.device)
    optimizer, scheduler = cosine_optimizer(net, settings)
    return assemble_flt_trainer(actor, optimizer, scheduler, sampler, settings, "siamrpnpp", stack_siamese_batch,
                                quiet=quiet)


def build_slt_trainer(settings: Settings, datasets: List, p_datasets=None, quiet: bool = False):
    """Sequence-level SiamRPN++ trainer (explore/replay through the SiamRPN++ SLT adapter).

    Fields of ``settings`` used: model_size, checkpoint (FLT start), device, seed, episodes_per_batch
    (k), num_frames (T), samples_per_episode, max_gap, max_interval, interval_prob, temperature,
    eps, scst_weight, box_weight, replay_chunk, lr, final_lr_factor, weight_decay, grad_clip,
    epochs, iterations_per_epoch, num_workers, print_interval, so_mode.
    """
    from pytracking.tracker.siamrpnpp.slt_adapter import SiamRPNSLTAdapter

    net = build_net(settings)
    adapter = SiamRPNSLTAdapter.from_settings(net, build_policy(settings, "siamrpnpp"), settings)
    # SLT always fine-tunes with Adam, whatever optimiser the frame-level run used.
    return assemble_slt_trainer(adapter, net, settings, datasets, p_datasets,
                                lambda n: cosine_optimizer(n, settings, "adam"), "siamrpnpp", quiet=quiet)
