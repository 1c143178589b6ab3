"""Building blocks shared by the TransT settings (FLT and SLT, paper and tiny): the fields, the
official recipes (TransT's and SLTtrack's training settings, written once here), the data and
the trainer builders.

Official FLT recipe (TransT, ``ltr/train_settings/transt/transt.py``), as far as it applies here:

* data: LaSOT train, GOT-10k vot-train, COCO 2017 train, TrackingNet chunks 0-3, equal
  probabilities; template and search frames within 100 frames of each other (either order);
* crops: template 128 px (factor 2), search 256 px (factor 4); search jitter: centre 3,
  scale 0.25; template not jittered; brightness jitter 0.2; grey with probability 0.05;
* loss: 8.334 CE + 5 L1 + 2 GIoU;
* optimisation: AdamW, lr 1e-4 (backbone 1e-5), weight decay 1e-4, batch 38, 1000 epochs of
  1000 iterations, lr x 0.1 after epoch 500, no gradient clipping.

Official SLT recipe (SLTtrack, ``ltr/train_settings/slt_transt/slt_transt.py``):

* start: the frame-level TransT weights, loaded strictly;
* episodes: LaSOT train, GOT-10k vot-train, TrackingNet chunks 0-3 (equal probabilities, no COCO);
  k = 8 episodes per iteration of T = 24 search frames; the template at most 300 frames before
  the first search frame; frame-interval augmentation with probability 0.3, intervals up to 10;
* rollouts: per episode one argmax and one sampling tracker, starting from the ground truth of
  the first search frame; policy softmax(4 * logit(0.01 + 0.98 * pscore)); reward AO;
* loss: 15 * SCST in place of the classification loss, + 5 L1 + 2 GIoU on the sampled crops;
  replay 2 episodes at a time;
* optimisation: AdamW, lr 1e-5 (backbone 1e-6), weight decay 1e-4, gradient norm clipped at 100,
  120 epochs of 1000 episodes (125 iterations), lr x 0.1 after epoch 100.

The ResNet-50 starts from ImageNet weights when ``<pretrained_networks_dir>/resnet50.pth`` exists;
nothing is downloaded.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ltr.actors.transt_actor import TransTActor
from ltr.admin.config import Field
from ltr.admin.settings import Settings
from ltr.data.processing import stack_siamese_batch
from ltr.data.sampler import FrameLevelSampler
from ltr.data.transt_processing import TransTProcessing
from ltr.models.tracking.transt import TransTConfig
from ltr.trainers.base_trainer import LTRTrainer
# configure_setting and run_trainer are re-exported: the TransT setting modules import them from here.
from ltr.train_settings.common import (assemble_flt_trainer, pretrained_weights, assemble_slt_trainer,  # noqa: F401
                                       backbone_adamw_optimizer, backbone_param_groups, build_policy,
                                       configure_setting, load_or_build_net, official_policy_fields, run_trainer,
                                       wrap_ddp)
from ltr.train_settings.fields import BOX_SCALE_FIELD, flt_schema, slt_schema
from pytracking.tracker.transt.slt_adapter import LOSS_TABLE

_OPTIMIZER_FIELDS: Dict[str, Field] = {
    "backbone_lr": Field(float, 1e-5, "learning rate of the ResNet backbone (the rest trains at lr)"),
    "lr_drop_epochs": Field(int, 1, "multiply the learning rates by 0.1 every this many epochs"),
}

#: Fields of the frame-level settings (``transt``, ``tiny``).
FLT_FIELDS: Dict[str, Field] = flt_schema(_OPTIMIZER_FIELDS, {
    "template_center_jitter": Field(float, 0.0, "template crop: centre jitter factor"),
    "search_center_jitter": Field(float, 0.0, "search crop: centre jitter factor"),
    "template_scale_jitter": Field(float, 0.0, "template crop: scale jitter factor"),
    "search_scale_jitter": Field(float, 0.0, "search crop: scale jitter factor"),
    "brightness_jitter": Field(float, 0.0, "brightness jitter"),
})

#: Fields of the sequence-level settings (``slt``, ``slt_tiny``).
SLT_FIELDS: Dict[str, Field] = slt_schema(_OPTIMIZER_FIELDS, BOX_SCALE_FIELD)

OFFICIAL_FLT: Dict[str, Any] = dict(
    model_size="paper", batch_size=38, iterations_per_epoch=1000, epochs=1000, lr=1e-4, backbone_lr=1e-5,
    weight_decay=1e-4, lr_drop_epochs=500, grad_clip=None, num_workers=4, print_interval=10, max_gap=100,
    template_center_jitter=0.0, search_center_jitter=3.0, template_scale_jitter=0.0, search_scale_jitter=0.25,
    brightness_jitter=0.2, gray_prob=0.05)

OFFICIAL_SLT: Dict[str, Any] = dict(
    model_size="paper", episodes_per_batch=8, num_frames=24, samples_per_episode=1, max_gap=300, max_interval=10,
    interval_prob=0.3, reward="ao", scst_weight=LOSS_TABLE.scst_weight, box_weight=1.0, replay_chunk=2, lr=1e-5,
    backbone_lr=1e-6,
    weight_decay=1e-4, lr_drop_epochs=100, grad_clip=100.0, epochs=120, iterations_per_epoch=125, num_workers=4,
    print_interval=10, **official_policy_fields("transt"))


def model_config(size: str) -> TransTConfig:
    """``'paper'`` or ``'tiny'``."""
    return TransTConfig.from_size(size)


def default_backbone_weights(settings: Settings) -> Optional[str]:
    """``<pretrained_networks_dir>/resnet50.pth`` when it exists (nothing is downloaded)."""
    return pretrained_weights(settings, "resnet50.pth")


def build_net(settings: Settings) -> torch.nn.Module:
    """Random-initialised TransT (ImageNet backbone where available), or ``settings.checkpoint``'s weights."""
    return load_or_build_net(settings, "transt")


def param_groups(net: torch.nn.Module, lr: float, backbone_lr: float) -> List[dict]:
    """Two AdamW groups as TransT trains: ``backbone.*`` at ``backbone_lr``, the rest at ``lr``."""
    return backbone_param_groups(net, lr, backbone_lr)


def build_optimizer(net: torch.nn.Module, settings: Settings) -> Tuple[torch.optim.Optimizer, object]:
    """AdamW over :func:`param_groups` (``lr``, ``backbone_lr``, ``weight_decay``) with the lr
    multiplied by 0.1 every ``lr_drop_epochs``, as TransT and SLT-TransT train."""
    return backbone_adamw_optimizer(net, settings)


def flt_paper_datasets(settings: Settings) -> List:
    """LaSOT train, GOT-10k vot-train, COCO train 2017, TrackingNet 0-3 (paths from the environment)."""
    from ltr.dataset import Got10k, Lasot, MSCOCOSeq, TrackingNet
    env = settings.env
    return [Lasot(env.lasot_dir, split="train"), Got10k(env.got10k_dir, split="vottrain"), MSCOCOSeq(env.coco_dir),
            TrackingNet(env.trackingnet_dir, set_ids=list(range(4)))]


def slt_paper_datasets(settings: Settings) -> List:
    """LaSOT train, GOT-10k vot-train, TrackingNet 0-3 (paths from the environment)."""
    from ltr.dataset import Got10k, Lasot, TrackingNet
    env = settings.env
    return [Lasot(env.lasot_dir, split="train"), Got10k(env.got10k_dir, split="vottrain"),
            TrackingNet(env.trackingnet_dir, set_ids=list(range(4)))]


def build_flt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False) -> LTRTrainer:
    """Frame-level TransT trainer from the fields of ``settings`` (:data:`FLT_FIELDS`)."""
    cfg = model_config(settings.model_size)
    processing = TransTProcessing(cfg, template_center_jitter=settings.template_center_jitter,
                                  search_center_jitter=settings.search_center_jitter,
                                  template_scale_jitter=settings.template_scale_jitter,
                                  search_scale_jitter=settings.search_scale_jitter,
                                  brightness_jitter=settings.brightness_jitter, gray_prob=settings.gray_prob)
    sampler = FrameLevelSampler(datasets, p_datasets, samples_per_epoch=settings.batch_size
                                * settings.iterations_per_epoch * settings.world_size, max_gap=settings.max_gap,
                                processing=processing, frame_sample_mode="interval", seed=settings.seed)
    net = wrap_ddp(build_net(settings), settings)
    actor = TransTActor(net, device=settings.device)
    optimizer, scheduler = build_optimizer(net, settings)
    return assemble_flt_trainer(actor, optimizer, scheduler, sampler, settings, "transt", stack_siamese_batch,
                                quiet=quiet)


def build_slt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False):
    """Sequence-level TransT trainer (explore/replay through the TransT SLT adapter) from the
    fields of ``settings`` (:data:`SLT_FIELDS`). The network stays unwrapped: under torchrun the
    SLT trainer puts the adapter's replay pass under DDP."""
    from pytracking.tracker.transt.slt_adapter import TransTSLTAdapter

    net = build_net(settings)
    adapter = TransTSLTAdapter.from_settings(net, build_policy(settings, "transt"), settings)
    return assemble_slt_trainer(adapter, net, settings, datasets, p_datasets,
                                lambda n: build_optimizer(n, settings), "transt", quiet=quiet)
