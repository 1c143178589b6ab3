"""Tiny OSTrack, frame-level training on the synthetic stream (minutes on a CPU).

The official recipe (OSTrack's crops, jitter and flips, its loss, AdamW with clipping at 0.1, a
step drop, the candidate-elimination schedule) with the tiny model (64/128 px crops). Changes,
all for a short CPU budget from scratch: a higher lr, the same lr for the backbone (no MAE start
to protect), the CE schedule compressed to the 20 epochs (elimination from epoch 3, keep 0.7
from epoch 9), no grey augmentation (synthetic targets differ mostly by colour).
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import synthetic_train_datasets
from ltr.train_settings.ostrack.common import (FLT_FIELDS, OFFICIAL_FLT, build_flt_trainer, configure_setting,
                                               run_trainer)

FIELDS = FLT_FIELDS
#: What this setting changes in the official recipe.
CHANGES = dict(model_size="tiny", batch_size=16, iterations_per_epoch=100, epochs=20, lr=1e-3, backbone_lr=1e-3,
               lr_drop_epochs=15, num_workers=0, print_interval=50, max_gap=30, gray_prob=0.0, ce_start_epoch=3,
               ce_warm_epochs=6)


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_FLT, CHANGES)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    return build_flt_trainer(settings, synthetic_train_datasets(settings), quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
