"""Tiny SLT-OSTrack on the synthetic stream, from a tiny frame-level checkpoint.

    python ltr/run_training.py ostrack slt_tiny --checkpoint <workspace>/checkpoints/ostrack/tiny/latest.pth

The SLT recipe of :mod:`ltr.train_settings.ostrack.common` (policy, loss weights 15 / 5 / 2,
chunked replay, AdamW at 10x below the frame-level lr, clipping, frame-interval augmentation up
to 10 with probability 0.3) with CPU-sized numbers: T = 16 search frames, lr 1e-4 (10x below the
tiny FLT's 1e-3, the same for the backbone), and a drop after 8 of 10 epochs.
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import require_checkpoint, synthetic_train_datasets
from ltr.train_settings.ostrack.common import (OFFICIAL_SLT, SLT_FIELDS, build_slt_trainer, configure_setting,
                                               run_trainer)

FIELDS = SLT_FIELDS
#: What this setting changes in the recipe.
CHANGES = dict(model_size="tiny", num_frames=16, max_gap=30, lr=1e-4, backbone_lr=1e-4, lr_drop_epochs=8, epochs=10,
               iterations_per_epoch=20, num_workers=0)


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_SLT, CHANGES)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "OSTrack", "e.g. the latest.pth written by 'python ltr/run_training.py ostrack tiny'")
    return build_slt_trainer(settings, synthetic_train_datasets(settings, fine_tune=True), quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
