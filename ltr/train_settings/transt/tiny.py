"""Tiny TransT, frame-level training on the synthetic stream (minutes on a CPU).

Same recipe as the paper setting (TransT's crops and jitter, its loss, AdamW, a step drop) with
the tiny model (64/128 px crops). Differences, all for a short CPU budget from scratch: a higher
lr, the same lr for the backbone (it has no ImageNet start to protect), gradient clipping for
stability at that lr, and no grey augmentation (synthetic targets differ mostly by colour).
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import run_trainer, set_defaults, synthetic_train_datasets
from ltr.train_settings.transt.transt import build_flt_trainer


def configure(settings: Settings) -> None:
    set_defaults(settings, model_size="tiny", batch_size=16, iterations_per_epoch=100, epochs=20,
                 lr=1e-3, backbone_lr=1e-3, weight_decay=1e-4, lr_drop_epochs=15, grad_clip=10.0,
                 num_workers=0, print_interval=50, max_gap=30,
                 template_center_jitter=0.0, search_center_jitter=3.0, template_scale_jitter=0.0,
                 search_scale_jitter=0.25, brightness_jitter=0.2, gray_prob=0.0)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    datasets = synthetic_train_datasets(settings)
    return build_flt_trainer(settings, datasets, quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
