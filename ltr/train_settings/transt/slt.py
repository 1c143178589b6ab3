"""SLT-TransT: sequence-level fine-tuning of a frame-level TransT with the official recipe (see
:mod:`ltr.train_settings.transt.common`).

Run: ``python ltr/run_training.py transt slt --checkpoint transt.pth`` (a project checkpoint of
``ltr/run_training.py transt transt`` or the official ``transt.pth``).
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import require_checkpoint
from ltr.train_settings.transt.common import (OFFICIAL_SLT, SLT_FIELDS, build_slt_trainer, configure_setting,
                                              run_trainer, slt_paper_datasets)

FIELDS = SLT_FIELDS


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_SLT)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "TransT", "an official transt.pth or the latest.pth written by "
                                           "'python ltr/run_training.py transt transt'")
    return build_slt_trainer(settings, slt_paper_datasets(settings), [1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
