"""Building blocks shared by the SiamAttn settings (FLT and SLT, paper and tiny): the fields, the
official recipes (SLTtrack's siamattn.yaml and slt_siamattn.yaml, written once here), the optimiser
with its parameter groups and schedules, the staged backbone of frame-level training, and the
trainer builders.

The frame-level data pipeline is SiamRPN++'s (:func:`ltr.train_settings.siamrpnpp.common.build_pair_sampler`)
with masks: datasets with masks (``has_mask()``) feed the mask term, the others give it weight 0 per sample.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

import torch

from ltr.actors.siamattn_actor import SiamAttnActor
from ltr.admin.config import Field
from ltr.admin.settings import Settings
from ltr.data.processing import stack_siamese_batch
from ltr.models.tracking.siamattn import SiamAttnConfig
# configure_setting and run_trainer are re-exported: the SiamAttn setting modules import them from here.
from ltr.train_settings.common import (assemble_flt_trainer, assemble_slt_trainer, build_policy,  # noqa: F401
                                       configure_setting, load_or_build_net, official_policy_fields, run_trainer,
                                       wrap_ddp)
from ltr.train_settings.fields import BOX_SCALE_FIELD, flt_schema, slt_schema
from ltr.train_settings.siamrpnpp.common import FLT_FIELDS as SIAMRPN_FLT_FIELDS
from ltr.train_settings.siamrpnpp.common import build_pair_sampler
from ltr.trainers.base_trainer import LTRTrainer
from pytracking.tracker.siamattn.slt_adapter import LOSS_TABLE

_OPTIMISER_FIELDS: Dict[str, Field] = {
    "schedule": Field(str, "pysot", "learning-rate schedule: pysot (5-epoch step warm-up to lr, then log decay to "
                                    "lr x final_lr_factor), log (log decay only) or cosine",
                      choices=("pysot", "log", "cosine")),
    "final_lr_factor": Field(float, 0.1, "the schedule ends at lr x this factor"),
    "backbone_lr_factor": Field(float, 0.05, "learning rate of the trained backbone layers, as a factor of lr"),
    "backbone_train_layers": Field(tuple, ("layer2", "layer3", "layer4"), "backbone layers that train (the "
                                                                           "others stay frozen, normalisation in eval)"),
}

#: Fields of the frame-level settings (``siamattn``, ``tiny``, ``got10k``).
FLT_FIELDS: Dict[str, Field] = flt_schema(
    {k: SIAMRPN_FLT_FIELDS[k] for k in ("optimizer", "template_shift", "template_scale", "search_shift",
                                        "search_scale", "blur_prob")},
    _OPTIMISER_FIELDS, {
        "backbone_train_epoch": Field(int, 10, "epoch from which the backbone layers train (before it the whole "
                                               "backbone is frozen with normalisation in eval)"),
        "use_masks": Field(bool, True, "feed the mask loss from datasets with masks (others give weight 0)"),
    })

#: Fields of the sequence-level settings (``slt``, ``slt_tiny``).
SLT_FIELDS: Dict[str, Field] = slt_schema(_OPTIMISER_FIELDS, BOX_SCALE_FIELD)

#: SLTtrack's siamattn.yaml (the FLT recipe): 20 epochs of 600000 pairs at batch 224 (56 x 4 GPUs), SGD.
OFFICIAL_FLT: Dict[str, Any] = dict(
    model_size="paper", batch_size=56, iterations_per_epoch=600000 // (56 * 4), epochs=20,
    optimizer="sgd", lr=0.01, schedule="pysot", final_lr_factor=0.1, weight_decay=1e-4, grad_clip=10.0,
    backbone_lr_factor=0.05, backbone_train_layers=("layer2", "layer3", "layer4"), backbone_train_epoch=10,
    num_workers=8, print_interval=50, max_gap=100, use_masks=True,
    template_shift=4 / 127, template_scale=0.05, search_shift=64 / 255, search_scale=0.18,
    blur_prob=0.2, gray_prob=0.0)

#: SLTtrack's slt_siamattn.yaml (the SLT recipe); the policy's knobs come from slt_plugins.policy.
OFFICIAL_SLT: Dict[str, Any] = dict(
    model_size="paper", episodes_per_batch=12, num_frames=24, samples_per_episode=1,
    max_gap=None, max_interval=7, interval_prob=0.5, reward="ao", scst_weight=LOSS_TABLE.scst_weight,
    box_weight=1.0, replay_chunk=4, lr=1e-5, schedule="log", final_lr_factor=0.1, weight_decay=1e-4,
    grad_clip=10.0, backbone_lr_factor=0.05, backbone_train_layers=("layer2", "layer3", "layer4"), epochs=20,
    iterations_per_epoch=10000 // 12, num_workers=4, print_interval=10, network_mode="eval",
    **official_policy_fields("siamattn"))


def model_config(size: str) -> SiamAttnConfig:
    return SiamAttnConfig.paper() if size == "paper" else SiamAttnConfig.tiny()


def build_net(settings: Settings) -> torch.nn.Module:
    """Random-initialised network, or the weights of ``settings.checkpoint`` when given."""
    return load_or_build_net(settings, "siamattn")


def _unwrap(net: torch.nn.Module) -> torch.nn.Module:
    return getattr(net, "module", net)


def set_backbone_training(net: torch.nn.Module, layers: Sequence[str], train: bool) -> None:
    """Freeze the whole backbone (normalisation in eval), then let ``layers`` train when ``train``."""
    backbone = _unwrap(net).backbone
    backbone.requires_grad_(False)
    backbone.eval()
    if train:
        for name in layers:
            layer = getattr(backbone, name, None)
            if layer is None:
                raise ValueError(f"backbone_train_layers names {name!r}, which the backbone does not have.")
            layer.requires_grad_(True)
            layer.train(net.training)


def schedule_factor(epoch: int, epochs: int, kind: str, final_factor: float) -> float:
    """Learning-rate factor of ``epoch`` (0-based) for schedule ``kind`` over ``epochs``.

    'pysot' (siamattn.yaml): a step warm-up over the first 5 epochs from lr / 5 to lr (pysot's
    0.001 -> 0.005, scaled by lr / 0.005), then a log decay to lr x ``final_factor`` at the last epoch;
    'log' (slt_siamattn.yaml): the log decay alone; 'cosine': cosine from 1 to ``final_factor``.
    """
    if kind == "cosine":
        return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))
    warmup = 5 if kind == "pysot" and epochs > 5 else 0
    if epoch < warmup:
        return 0.2 * 5.0 ** (epoch / warmup)
    span = max(epochs - warmup - 1, 1)
    return final_factor ** (min(epoch - warmup, span) / span)


def build_optimizer(net: torch.nn.Module, settings: Settings, kind: str) -> Tuple[torch.optim.Optimizer, object]:
    """SGD (momentum 0.9) or Adam over two groups: the backbone's trainable layers at lr x
    ``backbone_lr_factor`` and every other module at lr, with the per-epoch schedule of the settings.

    The backbone group holds its layers' parameters whether or not they train yet; frozen ones get no
    gradient and so no update (frame-level training unfreezes them at ``backbone_train_epoch``).
    """
    model = _unwrap(net)
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    backbone = [p for name in settings.backbone_train_layers for p in getattr(model.backbone, name).parameters()]
    heads = [p for p in model.parameters() if id(p) not in backbone_ids]
    groups = [{"params": heads, "lr": settings.lr},
              {"params": backbone, "lr": settings.lr * settings.backbone_lr_factor}]
    if kind == "adam":
        optimizer = torch.optim.Adam(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    else:
        optimizer = torch.optim.SGD(groups, lr=settings.lr, momentum=0.9, weight_decay=settings.weight_decay)
    epochs, schedule, final = settings.epochs, settings.schedule, settings.final_lr_factor
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: schedule_factor(e, epochs, schedule, final))
    return optimizer, scheduler


class SiamAttnFLTTrainer(LTRTrainer):
    """Frame-level trainer with SiamAttn's staged backbone: frozen (normalisation in eval) before
    ``backbone_train_epoch``, then ``backbone_train_layers`` train; at the switch the optimiser's
    state (momentum) is reset, as the official code rebuilds its optimiser."""

    def on_epoch_start(self) -> None:
        train = self.epoch >= self.settings.backbone_train_epoch
        set_backbone_training(self.net, self.settings.backbone_train_layers, train)
        switching = self.epoch == self.settings.backbone_train_epoch > 0 and self.iteration_in_epoch == 0
        if train and switching:  # not again when a run resumes inside the switch epoch
            self.optimizer.state.clear()


def build_flt_trainer(settings: Settings, datasets: List, p_datasets=None, quiet: bool = False) -> LTRTrainer:
    """Frame-level SiamAttn trainer from the fields of ``settings`` (see tiny.py / siamattn.py)."""
    cfg = model_config(settings.model_size)
    sampler = build_pair_sampler(settings, cfg, datasets, p_datasets, return_masks=settings.use_masks)
    net = wrap_ddp(build_net(settings), settings)
    actor = SiamAttnActor(net, cfg, device=settings.device)
    optimizer, scheduler = build_optimizer(net, settings, settings.optimizer)
    return assemble_flt_trainer(actor, optimizer, scheduler, sampler, settings, "siamattn", stack_siamese_batch,
                                quiet=quiet, trainer_class=SiamAttnFLTTrainer)


def build_slt_trainer(settings: Settings, datasets: List, p_datasets=None, quiet: bool = False):
    """Sequence-level SiamAttn trainer (explore/replay through the SiamAttn SLT adapter): Adam, the
    backbone's ``backbone_train_layers`` at lr x ``backbone_lr_factor`` from the first step, every
    normalisation layer in eval mode in explore and replay (``network_mode``)."""
    from pytracking.tracker.siamattn.slt_adapter import SiamAttnSLTAdapter

    net = build_net(settings)
    set_backbone_training(net, settings.backbone_train_layers, True)
    adapter = SiamAttnSLTAdapter.from_settings(net, build_policy(settings, "siamattn"), settings)
    return assemble_slt_trainer(adapter, net, settings, datasets, p_datasets,
                                lambda n: build_optimizer(n, settings, "adam"), "siamattn", quiet=quiet)
