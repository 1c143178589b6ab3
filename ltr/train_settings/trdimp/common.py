"""Building blocks shared by the TrDiMP settings (FLT and SLT, paper and tiny): the fields, the
reference recipes (SLTtrack's ``trdimp`` and ``slt_trdimp`` settings, written once here) and the
trainer builders.

Each setting declares its fields, fills them from its own numbers and the reference recipe
(:func:`ltr.train_settings.common.configure_setting`: command-line overrides win) and calls
:func:`build_flt_trainer` or :func:`build_slt_trainer`, which return ready trainers so
experiments can drive them with their own budgets.

Learning rates follow the reference per module (``lr_groups``): the filter initialiser, the
filter optimiser (its learned step length, regularisation and label/mask predictors), the
classification head, the transformer, the IoU-Net, and the trained backbone blocks
(``backbone_layers``; the paper model trains only ``layer3`` of its ImageNet ResNet-50).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from ltr.actors.trdimp_actor import OFFICIAL_LOSS_WEIGHT, TrDiMPActor
from ltr.admin.config import Field, optional_field
from ltr.admin.distributed import unwrap_ddp
from ltr.admin.settings import Settings
from ltr.data.trdimp_processing import OFFICIAL_PROPOSAL_PARAMS, DiMPProcessing, stack_dimp_batch
from ltr.data.sampler import FrameLevelSampler
from ltr.models.registry import load_network
from ltr.models.tracking.trdimp import TrDiMPConfig, build_trdimp
from ltr.trainers.base_trainer import LTRTrainer
from ltr.train_settings import common
# configure_setting and run_trainer are re-exported: the TrDiMP setting modules import them from here.
from ltr.train_settings.common import (assemble_flt_trainer, assemble_slt_trainer, build_policy,  # noqa: F401
                                       configure_setting, official_policy_fields, pretrained_weights, run_trainer)
from ltr.train_settings.fields import flt_schema, slt_schema
from pytracking.tracker.trdimp.slt_adapter import LOSS_TABLE

__all__ = ["OFFICIAL_FLT_LR", "OFFICIAL_SLT_LR", "model_config", "build_net", "param_groups", "build_optimizer",
           "build_processing", "build_flt_trainer", "build_slt_trainer", "flt_paper_datasets", "slt_paper_datasets",
           "require_checkpoint", "default_backbone_weights", "run_trainer", "configure_setting", "FLT_FIELDS",
           "SLT_FIELDS", "OFFICIAL_FLT", "OFFICIAL_SLT"]

#: Adam learning rates per module of TrDiMP's frame-level training (SLTtrack ``train_settings/trdimp/trdimp.py``).
OFFICIAL_FLT_LR: Dict[str, float] = {"filter_initializer": 5e-5, "filter_optimizer": 5e-4, "clf_head": 5e-5,
                                     "transformer": 1e-3, "bb_regressor": 1e-3, "backbone": 2e-5}

#: Adam learning rates per module of SLT-TrDiMP (SLTtrack ``train_settings/slt_trdimp/slt_trdimp.py``).
OFFICIAL_SLT_LR: Dict[str, float] = {"filter_initializer": 2e-6, "filter_optimizer": 2e-5, "clf_head": 2e-6,
                                     "transformer": 4e-5, "bb_regressor": 4e-5, "backbone": 8e-7}


_OPTIMIZER_FIELDS: Dict[str, Field] = {
    "lr_groups": Field(dict, {}, "learning rate per module group (filter_initializer, filter_optimizer, clf_head, "
                                 "transformer, bb_regressor, backbone)"),
    "backbone_layers": Field(tuple, (), "backbone blocks trained at lr_groups['backbone'], e.g. ('layer3',)"),
    "lr_step": Field(int, 1, "multiply the learning rates by lr_gamma every this many epochs"),
    "lr_gamma": Field(float, 1.0, "the step decay's factor"),
    "proposal_params": Field(dict, {}, "IoU-Net proposal sampling (GMM sigmas, boxes per frame, label density)"),
}

#: Fields of the frame-level settings (``trdimp``, ``tiny``).
FLT_FIELDS: Dict[str, Field] = flt_schema(_OPTIMIZER_FIELDS, {
    "num_template_frames": Field(int, 3, "train (template) frames per sample"),
    "num_search_frames": Field(int, 3, "test (search) frames per sample"),
    "template_center_jitter": Field(float, 0.0, "train-frame crops: centre jitter factor"),
    "search_center_jitter": Field(float, 0.0, "test-frame crops: centre jitter factor"),
    "template_scale_jitter": Field(float, 0.0, "train-frame crops: scale jitter factor"),
    "search_scale_jitter": Field(float, 0.0, "test-frame crops: scale jitter factor"),
    "output_sigma_factor": Field(float, 0.25, "Gaussian label sigma relative to the target size"),
    "brightness_jitter": Field(float, 0.0, "brightness jitter"),
    "flip_prob": Field(float, 0.0, "probability of a horizontal flip"),
    "loss_weight": Field(dict, {}, "weights of the IoU-Net KL and the classifier hinge terms"),
    "hinge_threshold": Field(float, 0.05, "the classifier loss's hinge threshold"),
})

#: Fields of the sequence-level settings (``slt``, ``slt_tiny``).
SLT_FIELDS: Dict[str, Field] = slt_schema(_OPTIMIZER_FIELDS, {
    "box_weight": Field(float, 0.01, "weight of the IoU-Net KL term beside SCST"),
    "official_explore": Field(bool, True, "explore as the reference SLT code does (no online classifier update, "
                                          "plain argmax localisation, softmax scores)"),
    "mean_max_range": optional_field(tuple, "policy: map each score map's mean and max to this (lo, hi) first "
                                            "(None: raw scores)"),
})

#: The reference FLT recipe (see trdimp.py for the data and the batch split over processes).
OFFICIAL_FLT: Dict[str, Any] = dict(
    model_size="paper", iterations_per_epoch=50000 // 40, epochs=50, max_gap=500, lr=2e-4,
    lr_groups=dict(OFFICIAL_FLT_LR), backbone_layers=("layer3",), lr_step=15, lr_gamma=0.2, grad_clip=None,
    num_workers=8, print_interval=10, num_template_frames=3, num_search_frames=3, template_center_jitter=3.0,
    search_center_jitter=5.5, template_scale_jitter=0.25, search_scale_jitter=0.5, output_sigma_factor=1.0 / 4.0,
    proposal_params=dict(OFFICIAL_PROPOSAL_PARAMS), brightness_jitter=0.2, gray_prob=0.05, flip_prob=0.5,
    loss_weight=dict(OFFICIAL_LOSS_WEIGHT), hinge_threshold=0.05)

#: The reference SLT recipe (see slt.py); the policy's knobs come from slt_plugins.policy.
OFFICIAL_SLT: Dict[str, Any] = dict(
    model_size="paper", episodes_per_batch=8, num_frames=24, samples_per_episode=1, max_gap=300, max_interval=10,
    interval_prob=0.3, reward="ao", scst_weight=LOSS_TABLE.scst_weight,
    box_weight=LOSS_TABLE.slt_weights["bb_ce"], replay_chunk=4, lr=8e-6,
    lr_groups=dict(OFFICIAL_SLT_LR), backbone_layers=("layer3",), lr_step=8, lr_gamma=0.5, grad_clip=40.0,
    epochs=40, iterations_per_epoch=5000 // 8, num_workers=4, print_interval=10,
    proposal_params=dict(OFFICIAL_PROPOSAL_PARAMS), official_explore=True,
    **official_policy_fields("trdimp", extra=("mean_max_range",)))


def model_config(size: str) -> TrDiMPConfig:
    """``'paper'`` or ``'tiny'``."""
    return TrDiMPConfig.from_size(size)


def default_backbone_weights(settings: Settings) -> Optional[str]:
    """``<pretrained_networks_dir>/resnet50.pth`` when it exists (nothing is downloaded)."""
    return pretrained_weights(settings, "resnet50.pth")


def build_net(settings: Settings) -> torch.nn.Module:
    """Random-initialised TrDiMP (ImageNet backbone when ``backbone_weights`` is set), or ``settings.checkpoint``'s.

    The checkpoint may be a project checkpoint or an official ``trdimp.pth`` (loaded strictly,
    as the reference SLT setting does).
    """
    if settings.checkpoint:
        net, _ = load_network(settings.checkpoint, tracker="trdimp", size=settings.model_size)
    else:
        net = build_trdimp(settings.model_size, backbone_weights=settings.backbone_weights)
    return net.to(settings.device)


def param_groups(net: torch.nn.Module, lr_groups: Mapping[str, float],
                 backbone_layers: Sequence[str]) -> List[Dict[str, Any]]:
    """Adam parameter groups, one per module with its own learning rate.

    Args:
        net: a TrDiMP network (possibly DDP-wrapped).
        lr_groups: learning rate per group name: ``filter_initializer``, ``filter_optimizer``,
            ``clf_head`` (classification feature head), ``transformer``, ``bb_regressor``,
            ``backbone``. A missing name leaves that module untrained.
        backbone_layers: backbone blocks trained at ``lr_groups['backbone']`` (e.g. ``['layer3']``).

    Returns:
        Groups of parameters that require gradients; parameters outside every group (frozen
        blocks, the unused ``layer4``/``fc``) are not optimised, as in the reference.
    """
    net = unwrap_ddp(net)
    clf = net.classifier
    modules: Dict[str, List[torch.nn.Module]] = {
        "filter_initializer": [clf.filter_initializer], "filter_optimizer": [clf.filter_optimizer],
        "clf_head": [clf.feature_extractor], "transformer": [clf.transformer], "bb_regressor": [net.bb_regressor],
        "backbone": [getattr(net.feature_extractor, name) for name in backbone_layers
                     if isinstance(getattr(net.feature_extractor, name, None), torch.nn.Module)],
    }
    unknown = sorted(set(lr_groups) - set(modules))
    if unknown:
        raise ValueError(f"Unknown learning-rate groups {unknown}; known: {sorted(modules)}.")
    seen: set = set()
    groups = []
    for name, lr in lr_groups.items():
        params = []
        for module in modules[name]:
            for p in module.parameters():
                # The transformer shares one attention module between encoder and decoder;
                # every tensor must sit in exactly one group.
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        if params:
            groups.append({"params": params, "lr": float(lr), "name": name})
    return groups


def build_optimizer(net: torch.nn.Module, settings: Settings) -> Tuple[torch.optim.Optimizer, object]:
    """Adam over the per-module groups (``lr_groups``, ``backbone_layers``; ``lr`` for the rest)
    with the lr multiplied by ``lr_gamma`` every ``lr_step`` epochs, as TrDiMP and SLT-TrDiMP train."""
    optimizer = torch.optim.Adam(param_groups(net, settings.lr_groups, settings.backbone_layers), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_step, gamma=settings.lr_gamma)
    return optimizer, scheduler


def build_processing(settings: Settings, cfg: TrDiMPConfig) -> DiMPProcessing:
    """TrDiMP crops/labels/proposals with the network's geometry and the jitter fields of ``settings``."""
    return DiMPProcessing(output_sz=cfg.image_sample_size, search_area_factor=cfg.search_area_scale,
                          feature_sz=cfg.feature_size, filter_sz=cfg.filter_size,
                          template_center_jitter=settings.template_center_jitter,
                          search_center_jitter=settings.search_center_jitter,
                          template_scale_jitter=settings.template_scale_jitter,
                          search_scale_jitter=settings.search_scale_jitter,
                          border_mode="inside_major", max_scale_change=1.5,
                          label_sigma_factor=settings.output_sigma_factor / cfg.search_area_scale,
                          template_label_sigma_factor=cfg.train_label_sigma_factor,
                          proposal_params=dict(settings.proposal_params),
                          brightness_jitter=settings.brightness_jitter, gray_prob=settings.gray_prob,
                          flip_prob=settings.flip_prob)


def wrap_ddp(net: torch.nn.Module, settings: Settings) -> torch.nn.Module:
    """DDP wrapper for multi-process runs.

    ``find_unused_parameters``: the paper network keeps ``layer4``/``fc`` (for checkpoint
    compatibility) and the transformer holds value projections it never uses, so not every
    parameter gets a gradient.
    """
    if settings.world_size > 1:
        device_ids = [settings.local_rank] if str(settings.device).startswith("cuda") else None
        return torch.nn.parallel.DistributedDataParallel(net, device_ids=device_ids, find_unused_parameters=True)
    return net


def build_flt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False) -> LTRTrainer:
    """Frame-level TrDiMP trainer from the fields of ``settings`` (see trdimp.py and tiny.py).

    Fields used: model_size, checkpoint, backbone_weights, device, seed, world_size, batch_size,
    iterations_per_epoch, epochs, num_template_frames, num_search_frames, max_gap, the jitter
    fields, output_sigma_factor, proposal_params, brightness_jitter, gray_prob, flip_prob,
    loss_weight, hinge_threshold, lr, lr_groups, backbone_layers, lr_step, lr_gamma, grad_clip,
    num_workers, print_interval.
    """
    cfg = model_config(settings.model_size)
    sampler = FrameLevelSampler(datasets, p_datasets,
                                samples_per_epoch=settings.batch_size * settings.iterations_per_epoch * settings.world_size,
                                max_gap=settings.max_gap, num_template_frames=settings.num_template_frames,
                                num_search_frames=settings.num_search_frames,
                                processing=build_processing(settings, cfg), frame_sample_mode="causal",
                                seed=settings.seed)
    net = wrap_ddp(build_net(settings), settings)
    actor = TrDiMPActor(net, loss_weight=settings.loss_weight, hinge_threshold=settings.hinge_threshold,
                        device=settings.device)
    optimizer, scheduler = build_optimizer(net, settings)
    return assemble_flt_trainer(actor, optimizer, scheduler, sampler, settings, "trdimp", stack_dimp_batch,
                                quiet=quiet)


def require_checkpoint(settings: Settings, flt_command: str) -> None:
    """SLT fine-tunes a frame-level model: stop with the fix when no start weights are given."""
    common.require_checkpoint(settings, "TrDiMP",
                              f"an official trdimp.pth or the latest.pth written by '{flt_command}'")


def build_slt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False):
    """Sequence-level TrDiMP trainer: explore/replay through the adapter registered as ``'trdimp'``.

    The adapter (:mod:`pytracking.tracker.trdimp.slt_adapter`) runs the test-time tracker's
    code in the reference SLT explore variant (``official_explore``: no online classifier
    update, plain argmax localisation, softmax scores), samples from softmax over the raw
    score map mean-max scaled to ``mean_max_range`` (officially (-7, 7)), and
    returns ``scst_weight * SCST + box_weight * KL(IoU-Net)`` in replay.

    Fields used: model_size, checkpoint (FLT start), device, seed, world_size, episodes_per_batch
    (k), num_frames (T), samples_per_episode, max_gap, max_interval, interval_prob, reward,
    scst_weight, box_weight, proposal_params, official_explore, replay_chunk, lr, lr_groups,
    backbone_layers, lr_step, lr_gamma, grad_clip, epochs, iterations_per_epoch, num_workers,
    print_interval.
    """
    from pytracking.tracker.trdimp.slt_adapter import TrDiMPSLTAdapter

    net = build_net(settings)
    adapter = TrDiMPSLTAdapter.from_settings(net, build_policy(settings, "trdimp", extra=("mean_max_range",)),
                                             settings)
    return assemble_slt_trainer(adapter, net, settings, datasets, p_datasets,
                                lambda n: build_optimizer(n, settings), "trdimp", quiet=quiet)


def flt_paper_datasets(settings: Settings) -> List:
    """LaSOT train, GOT-10k vot-train, TrackingNet chunks 6-11, COCO 2017 train (paths from the environment)."""
    from ltr.dataset import Got10k, Lasot, MSCOCOSeq, TrackingNet
    return [Lasot(split="train"), Got10k(split="vottrain"), TrackingNet(set_ids=list(range(6, 12))),
            MSCOCOSeq(version="2017")]


def slt_paper_datasets(settings: Settings) -> List:
    """LaSOT train, GOT-10k vot-train, TrackingNet chunks 6-11 (paths from the environment)."""
    from ltr.dataset import Got10k, Lasot, TrackingNet
    return [Lasot(split="train"), Got10k(split="vottrain"), TrackingNet(set_ids=list(range(6, 12)))]
