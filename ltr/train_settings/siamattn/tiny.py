"""Tiny SiamAttn, frame-level training on the synthetic stream (minutes on a CPU).

The siamattn.yaml recipe with the tiny model (64/128 px crops, 16x16 masks) and CPU-sized numbers,
as for tiny SiamRPN++: Adam at a higher lr with a cosine decay for a short run from scratch, the
whole backbone training from the start (no ImageNet weights to keep), a 32 px search shift at
128 px, less blur, frames within 30 of each other. The mask term trains wherever the synthetic
videos provide target masks.
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import synthetic_train_datasets
from ltr.train_settings.siamattn.common import FLT_FIELDS, OFFICIAL_FLT, build_flt_trainer, configure_setting, run_trainer

FIELDS = FLT_FIELDS
#: What this setting changes in the official recipe.
CHANGES = dict(model_size="tiny", batch_size=16, iterations_per_epoch=100, epochs=20, optimizer="adam", lr=2e-3,
               schedule="cosine", final_lr_factor=0.05, weight_decay=1e-5, backbone_lr_factor=1.0,
               backbone_train_layers=("layer1", "layer2", "layer3", "layer4"), backbone_train_epoch=0,
               num_workers=1, max_gap=30, template_shift=4 / 64, search_shift=32 / 128, blur_prob=0.1)


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_FLT, CHANGES)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    return build_flt_trainer(settings, synthetic_train_datasets(settings), quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
