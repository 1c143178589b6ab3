"""Tiny TrDiMP, frame-level training on the synthetic stream (minutes on a CPU).

    python ltr/run_training.py trdimp tiny

The reference recipe (3 + 3 frames per sample, TrDiMP's jitter, labels, proposals and loss
weights, Adam with per-module learning rates and a step decay) with the tiny network (128 px
samples, 8x8 features, 9x9 scores). Differences, all for a short CPU budget from scratch:
the whole backbone trains (it has no ImageNet start) and the learning rates are higher, a
smaller batch, frames within 30 frames of each other (the synthetic videos are short), and no
grey augmentation (synthetic targets differ mostly by colour).
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import synthetic_train_datasets
from ltr.train_settings.trdimp.common import FLT_FIELDS, OFFICIAL_FLT, build_flt_trainer, configure_setting, run_trainer

FIELDS = FLT_FIELDS
#: Per-module learning rates for training the tiny model from scratch.
TINY_FLT_LR = {"filter_initializer": 5e-4, "filter_optimizer": 5e-3, "clf_head": 5e-4, "transformer": 2e-3,
               "bb_regressor": 2e-3, "backbone": 1e-3}
#: What this setting changes in the reference recipe.
CHANGES = dict(model_size="tiny", batch_size=8, iterations_per_epoch=50, epochs=12, max_gap=30, lr=1e-3,
               lr_groups=dict(TINY_FLT_LR), backbone_layers=("conv1", "bn1", "layer1", "layer2", "layer3"),
               lr_step=10, lr_gamma=0.2, num_workers=0, print_interval=50, gray_prob=0.0)


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_FLT, CHANGES)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    return build_flt_trainer(settings, synthetic_train_datasets(settings), quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
