"""The fields every training setting shares, declared once (name, type, default, help).

A tracker's ``common.py`` adds its own (crop jitter, per-module learning rates, ...) and builds
each setting's schema from these groups: :data:`RUN_FIELDS` + :data:`TRAIN_FIELDS` +
:data:`FLT_FIELDS` for frame-level settings, + :data:`SLT_FIELDS` for sequence-level ones.
Defaults here are neutral; the numbers of a recipe live in the tracker's ``common.py``.
"""
from __future__ import annotations

from typing import Dict

from ltr.admin.config import Field, merge_schemas, optional_field

__all__ = ["COMMON_FIELDS", "RUN_FIELDS", "TRAIN_FIELDS", "FLT_FIELDS", "SLT_FIELDS", "BOX_SCALE_FIELD", "flt_schema", "slt_schema"]

def _check_synthetic_overrides(overrides: Dict[str, object]) -> None:
    # Checked when set, so a bad value stops the command line before anything trains.
    from ltr.train_settings.common import synthetic_config
    synthetic_config(overrides)


def _check_positive(value: int) -> None:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")


#: How a run is executed (not the recipe): seeding, start weights, checkpoints, validation, visdom.
RUN_FIELDS: Dict[str, Field] = {
    "seed": Field(int, 0, "seed of python/numpy/torch and of the samplers (rank is added under torchrun)"),
    "checkpoint": optional_field(str, "start weights (SLT: the FLT checkpoint to fine-tune; official files are imported)"),
    "resume": Field(bool, True, "continue from latest.pth in the checkpoint folder when there is one"),
    "device": Field(str, "cpu", "cpu or cuda:N"),
    "deterministic": Field(bool, False, "deterministic kernels (exactly repeatable resumes on a GPU)"),
    "checkpoint_every": Field(int, 0, "also write latest.pth every N iterations (0: at epoch ends only)"),
    "validate_every": Field(int, 0, "track the validation split every N epochs and keep best.pth (0: off)"),
    "validation_dataset": Field(str, "auto", "auto (GOT-10k val when configured, else synthetic val), "
                                             "got10k_val or synthetic"),
    "validation_root": optional_field(str, "folder of the validation dataset (default: from the environment)"),
    "validation_split": optional_field(str, "split of the validation dataset (default: val)"),
    "validation_videos": optional_field(int, "synthetic validation videos to generate (default: the validator's)"),
    "validation_frames": optional_field(int, "frames per synthetic validation video (default: the validator's)"),
    "validation_max_sequences": optional_field(int, "track at most this many validation videos"),
    "validation_param": optional_field(str, "test-time parameter set of the validation tracker"),
    "validation_threads": Field(int, 0, "processes for validation tracking (0: in this process)"),
    "validation_keep_results": Field(bool, False, "keep the validation result files"),
    "visdom": optional_field(dict, "draw training curves in visdom: {'host': ..., 'port': ...}"),
}

#: The optimisation loop and data shared by frame- and sequence-level training.
TRAIN_FIELDS: Dict[str, Field] = {
    "model_size": Field(str, "paper", "network size", choices=("paper", "tiny")),
    "epochs": Field(int, 1, "epochs to train"),
    "iterations_per_epoch": Field(int, 1, "iterations (optimiser steps) per epoch and process"),
    "num_workers": Field(int, 0, "data-loader worker processes"),
    "print_interval": Field(int, 10, "iterations between progress lines"),
    "lr": Field(float, 1e-4, "learning rate (the main parameter group)"),
    "weight_decay": Field(float, 0.0, "weight decay"),
    "grad_clip": optional_field(float, "clip the gradient norm at this value (None: no clipping)"),
    "max_gap": optional_field(int, "most frames between the template and a search frame (None: the whole video)"),
    "backbone_weights": optional_field(str, "ImageNet backbone weights file (a fresh network only; never downloaded)"),
    "synthetic_train_overrides": optional_field(dict, "SyntheticConfig fields changing the synthetic training "
                                                      "videos, e.g. {'num_distractors': (2, 4)}",
                                                check=_check_synthetic_overrides),
}

#: Frame-level training (pairs of template and search crops).
FLT_FIELDS: Dict[str, Field] = {
    "batch_size": Field(int, 1, "samples per iteration and process"),
    "gray_prob": Field(float, 0.0, "probability of a grey-scale sample"),
}

#: Sequence-level training: episodes, rollouts, policy and the self-critical loss.
SLT_FIELDS: Dict[str, Field] = {
    "episodes_per_batch": Field(int, 8, "k: episodes per iteration and process"),
    "num_frames": Field(int, 24, "T: search frames per episode"),
    "samples_per_episode": Field(int, 1, "sampling rollouts per episode (baseline: see scst_baseline)"),
    "scst_baseline": Field(str, "argmax", "SCST baseline: argmax (the episode's argmax rollout, SLT) or mean (the "
                                          "mean reward of its samples; needs samples_per_episode >= 2)",
                           choices=("argmax", "mean")),
    "max_interval": Field(int, 1, "frame-interval augmentation: largest interval between episode frames"),
    "interval_prob": Field(float, 0.0, "frame-interval augmentation: probability of an episode with intervals > 1"),
    "include_invisible": Field(bool, False, "through-occlusion episodes (hidden frames inside episodes)"),
    "reward": Field(str, "ao", "episode reward (a registered reward, e.g. ao)"),
    "advantage": Field(str, "episode", "SCST advantage weighting", choices=("episode", "reward_to_go")),
    "scst_weight": Field(float, 1.0, "weight of the self-critical term (0: the +SS arm, the frame-level "
                                     "objective on the sampled crops)"),
    "so_mode": Field(str, "replace", "replace: SCST replaces the classification loss (the paper); add: keep it "
                                     "beside SCST (a variant)", choices=("replace", "add")),
    "candidate_set": Field(str, "all", "what the sampling policy spreads over: all (every score-map candidate, "
                                       "SLT) or local_maxima (the candidate_top_k best local maxima of the "
                                       "post-processed map, renormalised)", choices=("all", "local_maxima")),
    "candidate_top_k": Field(int, 5, "candidate_set=local_maxima: the most local maxima kept per frame",
                             check=_check_positive),
    "temperature": Field(float, 1.0, "policy temperature (sharpening factor; larger is closer to argmax)"),
    "eps": optional_field(float, "logit-softmax policy: how far scores are kept from 0 and 1 (None: the "
                                 "policy has no eps)"),
    "replay_chunk": optional_field(int, "episodes replayed per backward pass (None: all at once)"),
    "network_mode": Field(str, "eval", "module mode of the network in explore and replay alike (eval: frozen "
                                       "normalisation statistics, no dropout)", choices=("eval", "train")),
}


#: Every shared field: the schema of a bare ``Settings()``.
COMMON_FIELDS: Dict[str, Field] = merge_schemas(RUN_FIELDS, TRAIN_FIELDS, FLT_FIELDS, SLT_FIELDS)


#: The box-term multiplier of trackers whose loss table gives the box weights (SiamRPN++, TransT).
BOX_SCALE_FIELD: Dict[str, Field] = {
    "box_weight": Field(float, 1.0, "multiplier on the box terms of the loss table (1: the official weights)"),
}


def flt_schema(*tracker_fields: Dict[str, Field]) -> Dict[str, Field]:
    """Run + training + frame-level fields, then the tracker's own."""
    return merge_schemas(RUN_FIELDS, TRAIN_FIELDS, FLT_FIELDS, *tracker_fields)


def slt_schema(*tracker_fields: Dict[str, Field]) -> Dict[str, Field]:
    """Run + training + sequence-level fields, then the tracker's own."""
    return merge_schemas(RUN_FIELDS, TRAIN_FIELDS, SLT_FIELDS, *tracker_fields)
