"""Tiny SiamRPN++, frame-level training on the synthetic stream (minutes on a CPU)."""
from ltr.admin.settings import Settings
from ltr.train_settings.common import synthetic_train_datasets
from ltr.train_settings.siamrpnpp.common import build_flt_trainer, run_trainer, set_defaults


def configure(settings: Settings) -> None:
    set_defaults(settings, model_size="tiny", batch_size=16, iterations_per_epoch=100, epochs=20,
                 optimizer="adam", lr=2e-3, final_lr_factor=0.05, weight_decay=1e-5, grad_clip=10.0,
                 num_workers=1, print_interval=50, max_gap=30,
                 template_shift=4 / 64, template_scale=0.05, search_shift=32 / 128, search_scale=0.18,
                 blur_prob=0.1, gray_prob=0.0)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    datasets = synthetic_train_datasets(settings)
    return build_flt_trainer(settings, datasets, quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
