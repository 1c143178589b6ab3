"""SLT-OSTrack: sequence-level fine-tuning of a frame-level OSTrack (see
:mod:`ltr.train_settings.ostrack.common` for the recipe).

Run: ``python ltr/run_training.py ostrack slt --checkpoint OSTrack_ep0300.pth.tar`` (the official
OSTrack-256 file, imported without running code from it, or the latest.pth of
``python ltr/run_training.py ostrack ostrack``).
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import require_checkpoint
from ltr.train_settings.ostrack.common import (OFFICIAL_SLT, SLT_FIELDS, build_slt_trainer, configure_setting,
                                               run_trainer, slt_paper_datasets)

FIELDS = SLT_FIELDS


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_SLT)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "OSTrack", "the official OSTrack_ep0300.pth.tar or the latest.pth written by "
                                            "'python ltr/run_training.py ostrack ostrack'")
    return build_slt_trainer(settings, slt_paper_datasets(settings), [1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
