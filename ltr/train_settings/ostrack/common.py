"""Building blocks shared by the OSTrack settings (FLT and SLT, paper and tiny): the fields, the
recipes (written once here), the data and the trainer builders.

Official FLT recipe (OSTrack ``experiments/ostrack/vitb_256_mae_ce_32x4_ep300.yaml`` with
``lib/train``), as far as it applies here:

* data: LaSOT train, GOT-10k vot-train, COCO 2017 train, TrackingNet, equal probabilities; the
  search frame after the template, within 200 frames; 60,000 pairs per epoch;
* crops: template 128 px (factor 2), search 256 px (factor 4), side ``ceil(sqrt(wh) * factor)``,
  zero padding; search jitter centre 3, scale 0.25; grey p 0.05, joint horizontal flip p 0.5,
  brightness 0.2;
* model: ViT-B/16 from MAE weights (``<pretrained_networks_dir>/mae_pretrain_vit_base.pth`` when
  present), DropPath 0.1, CE at blocks 3/6/9 with keep ratio 0.7;
* candidate elimination schedule: no elimination before epoch 20 (``ce_start_epoch``), a cosine
  from keep 1 to 0.7 over the next 80 (``ce_warm_epochs``), 0.7 after;
* loss: 1 focal + 5 L1 + 2 GIoU;
* optimisation: AdamW, lr 4e-4 (backbone 4e-5), weight decay 1e-4, gradient norm clipped at 0.1,
  batch 32 per process, 300 epochs, lr x 0.1 after epoch 240. The official run has 4 processes of
  32 (469 iterations each per epoch); here one process draws the whole 60,000 pairs (1875
  iterations): under ``torchrun --nproc_per_node=4`` pass ``--iterations-per-epoch 469``.

SLT recipe. OSTrack has no official SLT code; this one is SLTtrack's SLT-TransT recipe carried
over through the seam, with OSTrack's own numbers where SLT's would not fit:

* start: frame-level OSTrack weights (a project checkpoint or the official ``OSTrack_ep0300.pth.tar``);
* episodes: LaSOT train, GOT-10k vot-train, TrackingNet (no COCO); k = 8 episodes of T = 24
  search frames; template at most 300 frames before; frame-interval augmentation p 0.3, up to 10;
* rollouts: one argmax and one sampling tracker per episode; candidates are the cells of the
  Hanning-windowed score map; policy softmax(4 * logit(0.01 + 0.98 * window * score)) (TransT's
  temperature and eps, the starting point); the box at the chosen cell as at test time; CE at
  the fixed test-time keep rate 0.7 in explore and replay (never the FLT schedule, which would
  switch elimination off in early epochs); both passes in eval mode (BatchNorm statistics
  frozen, DropPath off); reward AO;
* loss: 15 SCST in place of the focal loss, + 5 L1 + 2 GIoU on the sampled crops (+SS: the full
  FLT loss); replay 2 episodes at a time;
* optimisation: AdamW at 10x below the FLT stage, lr 4e-5 (backbone 4e-6), weight decay 1e-4,
  gradient norm clipped at 100 (SLT's), 120 epochs of 125 iterations, lr x 0.1 after epoch 100.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch

from ltr.actors.ostrack_actor import OSTrackActor
from ltr.admin.config import Field
from ltr.admin.settings import Settings
from ltr.data.ostrack_processing import OSTrackProcessing
from ltr.data.processing import stack_siamese_batch
from ltr.data.sampler import FrameLevelSampler
from ltr.models.tracking.ostrack import MIXED_PRECISION, OSTrackConfig
from ltr.trainers.base_trainer import LTRTrainer
# configure_setting and run_trainer are re-exported: the OSTrack setting modules import them from here.
from ltr.train_settings.common import (assemble_flt_trainer, pretrained_weights, assemble_slt_trainer,  # noqa: F401
                                       backbone_adamw_optimizer, build_policy,
                                       configure_setting, load_or_build_net, official_policy_fields, run_trainer,
                                       wrap_ddp)
from ltr.train_settings.fields import BOX_SCALE_FIELD, flt_schema, slt_schema
from pytracking.tracker.ostrack.slt_adapter import LOSS_TABLE

_MODEL_FIELDS: Dict[str, Field] = {
    "backbone_lr": Field(float, 4e-5, "learning rate of the ViT backbone (the rest trains at lr)"),
    "lr_drop_epochs": Field(int, 1, "multiply the learning rates by 0.1 every this many epochs"),
    "mixed_precision": Field(str, "off", "bf16: bfloat16 autocast for the ViT and the head convolutions "
                                         "(sigmoids and losses stay float32)", choices=tuple(MIXED_PRECISION)),
}

#: Fields of the frame-level settings (``ostrack``, ``tiny``).
FLT_FIELDS: Dict[str, Field] = flt_schema(_MODEL_FIELDS, {
    "search_center_jitter": Field(float, 0.0, "search crop: centre jitter factor"),
    "search_scale_jitter": Field(float, 0.0, "search crop: scale jitter factor"),
    "brightness_jitter": Field(float, 0.0, "brightness jitter"),
    "flip_prob": Field(float, 0.0, "probability of a joint horizontal flip of both crops"),
    "ce_start_epoch": Field(int, 1, "candidate elimination: first (1-based) epoch with elimination"),
    "ce_warm_epochs": Field(int, 0, "candidate elimination: epochs of the cosine from keep 1 to keep 0.7"),
})

#: Fields of the sequence-level settings (``slt``, ``slt_tiny``).
SLT_FIELDS: Dict[str, Field] = slt_schema(_MODEL_FIELDS, BOX_SCALE_FIELD)

OFFICIAL_FLT: Dict[str, Any] = dict(
    model_size="paper", batch_size=32, iterations_per_epoch=1875, epochs=300, lr=4e-4, backbone_lr=4e-5,
    weight_decay=1e-4, lr_drop_epochs=240, grad_clip=0.1, num_workers=4, print_interval=50, max_gap=200,
    search_center_jitter=3.0, search_scale_jitter=0.25, brightness_jitter=0.2, gray_prob=0.05, flip_prob=0.5,
    ce_start_epoch=20, ce_warm_epochs=80, mixed_precision="off")

OFFICIAL_SLT: Dict[str, Any] = dict(
    model_size="paper", episodes_per_batch=8, num_frames=24, samples_per_episode=1, max_gap=300, max_interval=10,
    interval_prob=0.3, reward="ao", scst_weight=LOSS_TABLE.scst_weight, box_weight=1.0, replay_chunk=2, lr=4e-5,
    backbone_lr=4e-6, weight_decay=1e-4, lr_drop_epochs=100, grad_clip=100.0, epochs=120, iterations_per_epoch=125,
    num_workers=4, print_interval=10, network_mode="eval", mixed_precision="off",
    **official_policy_fields("ostrack"))


def model_config(size: str) -> OSTrackConfig:
    """``'paper'`` or ``'tiny'``."""
    return OSTrackConfig.from_size(size)


def default_backbone_weights(settings: Settings) -> Optional[str]:
    """``<pretrained_networks_dir>/mae_pretrain_vit_base.pth`` when it exists (nothing is downloaded)."""
    return pretrained_weights(settings, "mae_pretrain_vit_base.pth")


def build_net(settings: Settings) -> torch.nn.Module:
    """Random-initialised OSTrack (MAE backbone where available), or ``settings.checkpoint``'s weights,
    with the ``mixed_precision`` mode."""
    net = load_or_build_net(settings, "ostrack")
    return net.set_mixed_precision(settings.mixed_precision)


def flt_paper_datasets(settings: Settings) -> List:
    """LaSOT train, GOT-10k vot-train, COCO train 2017, TrackingNet (paths from the environment)."""
    from ltr.dataset import Got10k, Lasot, MSCOCOSeq, TrackingNet
    env = settings.env
    return [Lasot(env.lasot_dir, split="train"), Got10k(env.got10k_dir, split="vottrain"), MSCOCOSeq(env.coco_dir),
            TrackingNet(env.trackingnet_dir)]


def slt_paper_datasets(settings: Settings) -> List:
    """LaSOT train, GOT-10k vot-train, TrackingNet (paths from the environment)."""
    from ltr.dataset import Got10k, Lasot, TrackingNet
    env = settings.env
    return [Lasot(env.lasot_dir, split="train"), Got10k(env.got10k_dir, split="vottrain"),
            TrackingNet(env.trackingnet_dir)]


def build_flt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False) -> LTRTrainer:
    """Frame-level OSTrack trainer from the fields of ``settings`` (:data:`FLT_FIELDS`)."""
    cfg = model_config(settings.model_size)
    processing = OSTrackProcessing(cfg, search_center_jitter=settings.search_center_jitter,
                                   search_scale_jitter=settings.search_scale_jitter,
                                   brightness_jitter=settings.brightness_jitter, gray_prob=settings.gray_prob,
                                   flip_prob=settings.flip_prob)
    sampler = FrameLevelSampler(datasets, p_datasets, samples_per_epoch=settings.batch_size
                                * settings.iterations_per_epoch * settings.world_size, max_gap=settings.max_gap,
                                processing=processing, frame_sample_mode="causal", seed=settings.seed)
    net = build_net(settings)
    actor = OSTrackActor(wrap_ddp(net, settings), device=settings.device, ce_start_epoch=settings.ce_start_epoch,
                         ce_warm_epochs=settings.ce_warm_epochs, ce_keep_ratio=cfg.ce_keep_ratio[0])
    # AdamW with the ViT at backbone_lr and the head at lr, decay on every parameter, as OSTrack trains.
    optimizer, scheduler = backbone_adamw_optimizer(net, settings)
    return assemble_flt_trainer(actor, optimizer, scheduler, sampler, settings, "ostrack", stack_siamese_batch,
                                quiet=quiet)


def build_slt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False):
    """Sequence-level OSTrack trainer (explore/replay through the OSTrack SLT adapter) from the
    fields of ``settings`` (:data:`SLT_FIELDS`)."""
    from pytracking.tracker.ostrack.slt_adapter import OSTrackSLTAdapter

    net = build_net(settings)
    adapter = OSTrackSLTAdapter.from_settings(net, build_policy(settings, "ostrack"), settings)
    return assemble_slt_trainer(adapter, net, settings, datasets, p_datasets,
                                lambda n: backbone_adamw_optimizer(n, settings), "ostrack", quiet=quiet)
