"""Tiny SLT-TrDiMP on the synthetic stream, from a tiny frame-level checkpoint.

    python ltr/run_training.py trdimp slt_tiny --checkpoint <workspace>/checkpoints/trdimp/tiny/latest.pth

The reference SLT-TrDiMP recipe (explore variant, softmax policy, 4 * SCST + 0.01 * KL loss,
replay 4 episodes per backward, Adam with per-module learning rates, clipping at 40,
frame-interval augmentation up to 10 with probability 0.3) with CPU-sized numbers: k = 4
episodes of T = 8 search frames, learning rates 10x the reference (a short budget; the whole
backbone trains, as in the tiny frame-level setting), 10 epochs of 10 iterations with a decay
after 8. An iteration from a trained tiny FLT start takes about 1.7 s on one CPU thread
(87 iterations in 150 s in ltr/run_experiment.py slt_vs_flt).
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import synthetic_train_datasets
from ltr.train_settings.trdimp.common import (OFFICIAL_SLT, OFFICIAL_SLT_LR, SLT_FIELDS, build_slt_trainer,
                                              configure_setting, require_checkpoint, run_trainer)

FIELDS = SLT_FIELDS
#: The reference per-module rates, 10x, for the short CPU budget.
TINY_SLT_LR = {name: 10 * lr for name, lr in OFFICIAL_SLT_LR.items()}
#: What this setting changes in the reference recipe.
CHANGES = dict(model_size="tiny", episodes_per_batch=4, num_frames=8, max_gap=30, lr=8e-5, lr_groups=dict(TINY_SLT_LR),
               backbone_layers=("conv1", "bn1", "layer1", "layer2", "layer3"), epochs=10, iterations_per_epoch=10,
               num_workers=0)


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_SLT, CHANGES)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "python ltr/run_training.py trdimp tiny")
    return build_slt_trainer(settings, synthetic_train_datasets(settings, fine_tune=True), quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
