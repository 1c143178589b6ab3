"""TransT frame-level training (FLT) with the official settings, plus the FLT building blocks.

Official recipe (TransT, ``ltr/train_settings/transt/transt.py``), as far as it applies here:

* data: LaSOT train, GOT-10k vot-train, COCO 2017 train, TrackingNet chunks 0-3, equal
  probabilities; template and search frames within 100 frames of each other (either order);
* crops: template 128 px (factor 2), search 256 px (factor 4); search jitter: centre 3,
  scale 0.25; template not jittered; brightness jitter 0.2; grey with probability 0.05;
* loss: 8.334 CE + 5 L1 + 2 GIoU;
* optimisation: AdamW, lr 1e-4 (backbone 1e-5), weight decay 1e-4, batch 38, 1000 epochs of
  1000 iterations, lr x 0.1 after epoch 500, no gradient clipping.

The ResNet-50 starts from ImageNet weights when ``settings.backbone_weights`` (or
``<pretrained_networks_dir>/resnet50.pth``) exists; nothing is downloaded.

Run: ``python ltr/run_training.py transt transt`` (``torchrun`` for several GPUs; the batch size is
per process).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch

from ltr.actors.transt_actor import TransTActor
from ltr.admin.settings import Settings
from ltr.data.processing import stack_siamese_batch
from ltr.data.sampler import FrameLevelSampler
from ltr.data.transt_processing import TransTProcessing
from ltr.models.tracking.transt import TransTConfig
from ltr.trainers.base_trainer import LTRTrainer
from ltr.train_settings.common import assemble_flt_trainer, load_or_build_net, run_trainer, set_defaults, wrap_ddp

__all__ = ["model_config", "build_net", "param_groups", "build_optimizer", "build_flt_trainer", "configure",
           "build_trainer", "run"]


def model_config(size: str) -> TransTConfig:
    """``'paper'`` or ``'tiny'``."""
    return TransTConfig.from_size(size)


def build_net(settings: Settings) -> torch.nn.Module:
    """Random-initialised TransT (ImageNet backbone where available), or ``settings.checkpoint``'s weights."""
    return load_or_build_net(settings, "transt")


def param_groups(net: torch.nn.Module, lr: float, backbone_lr: float) -> List[dict]:
    """Two AdamW groups as TransT trains: the ResNet (``backbone.*``) at ``backbone_lr``, the rest at ``lr``."""
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in named if "backbone" not in n], "lr": lr},
            {"params": [p for n, p in named if "backbone" in n], "lr": backbone_lr}]


def build_optimizer(net: torch.nn.Module, settings: Settings) -> Tuple[torch.optim.Optimizer, object]:
    """AdamW over :func:`param_groups` (``lr``, ``backbone_lr``, ``weight_decay``) with the lr
    multiplied by 0.1 every ``lr_drop_epochs``, as TransT and SLT-TransT train."""
    optimizer = torch.optim.AdamW(param_groups(net, settings.lr, settings.backbone_lr), lr=settings.lr,
                                  weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_drop_epochs, gamma=0.1)
    return optimizer, scheduler


def build_flt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False) -> LTRTrainer:
    """Frame-level TransT trainer from the fields of ``settings`` (see :func:`configure` and tiny.py).

    The optional validation fields (``validate_every``, ``validation_dataset``) attach tracking
    validation (:func:`ltr.trainers.validation.attach_from_settings`).
    """
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


def configure(settings: Settings) -> None:
    """The official numbers (command-line overrides win)."""
    folder = settings.env.pretrained_networks_dir
    pretrained = Path(folder) / "resnet50.pth" if folder else None
    set_defaults(settings, model_size="paper", batch_size=38, iterations_per_epoch=1000, epochs=1000,
                 lr=1e-4, backbone_lr=1e-5, weight_decay=1e-4, lr_drop_epochs=500,
                 num_workers=4, print_interval=10, max_gap=100,
                 template_center_jitter=0.0, search_center_jitter=3.0, template_scale_jitter=0.0,
                 search_scale_jitter=0.25, brightness_jitter=0.2, gray_prob=0.05,
                 backbone_weights=str(pretrained) if pretrained is not None and pretrained.is_file() else None)


def paper_datasets(settings: Settings) -> List:
    """LaSOT train, GOT-10k vot-train, COCO train 2017, TrackingNet 0-3 (paths from the environment)."""
    from ltr.dataset import Got10k, Lasot, MSCOCOSeq, TrackingNet
    env = settings.env
    return [Lasot(env.lasot_dir, split="train"), Got10k(env.got10k_dir, split="vottrain"), MSCOCOSeq(env.coco_dir),
            TrackingNet(env.trackingnet_dir, set_ids=list(range(4)))]


def build_trainer(settings: Settings, quiet: bool = False) -> LTRTrainer:
    configure(settings)
    return build_flt_trainer(settings, paper_datasets(settings), [1, 1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
