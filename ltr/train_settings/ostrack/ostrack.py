"""OSTrack frame-level training (FLT) with the official settings (see
:mod:`ltr.train_settings.ostrack.common` for the recipe).

Run: ``python ltr/run_training.py ostrack ostrack`` (``torchrun`` for several GPUs; the batch size
is per process).
"""
from ltr.admin.settings import Settings
from ltr.train_settings.ostrack.common import (FLT_FIELDS, OFFICIAL_FLT, build_flt_trainer, configure_setting,
                                               default_backbone_weights, flt_paper_datasets, run_trainer)

FIELDS = FLT_FIELDS


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_FLT, {"backbone_weights": default_backbone_weights(settings)})


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    return build_flt_trainer(settings, flt_paper_datasets(settings), [1, 1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
