"""Tiny SLT-SiamAttn, sequence-level fine-tuning on the synthetic stream, from a tiny FLT checkpoint.

    python ltr/run_training.py siamattn slt_tiny --checkpoint <workspace>/checkpoints/siamattn/tiny/latest.pth

The official SLT recipe with CPU-sized numbers, as for tiny SiamRPN++: T = 16, a 10x higher lr
decaying to a tenth, a softer policy (temperature 4), no replay chunking, the whole tiny backbone
training at the head lr.
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import require_checkpoint, synthetic_train_datasets
from ltr.train_settings.siamattn.common import OFFICIAL_SLT, SLT_FIELDS, build_slt_trainer, configure_setting, run_trainer

FIELDS = SLT_FIELDS
#: What this setting changes in the official recipe.
CHANGES = dict(model_size="tiny", num_frames=16, max_gap=30, temperature=4.0,
               replay_chunk=None, lr=1e-4, backbone_lr_factor=1.0,
               backbone_train_layers=("layer1", "layer2", "layer3", "layer4"), epochs=10,
               iterations_per_epoch=20, num_workers=1)


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_SLT, CHANGES)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "SiamAttn", "e.g. the latest.pth written by 'python ltr/run_training.py siamattn tiny'")
    return build_slt_trainer(settings, synthetic_train_datasets(settings, fine_tune=True), quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
