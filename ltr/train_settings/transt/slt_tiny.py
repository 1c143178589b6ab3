"""Tiny SLT-TransT on the synthetic stream, from a tiny frame-level checkpoint.

    python ltr/run_training.py transt slt_tiny --checkpoint <workspace>/checkpoints/transt/tiny/latest.pth

The official SLT-TransT recipe (policy, loss weights 15 / 5 / 2, chunked replay, AdamW, clipping,
frame-interval augmentation up to 10 with probability 0.3) with CPU-sized numbers: T = 16
search frames, a 10x higher lr than the paper setting for the short budget (the same for the
backbone, which the tiny model trains from scratch), and a drop after 8 of 10 epochs.
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import run_trainer, set_defaults, synthetic_train_datasets
from ltr.train_settings.transt.slt import build_slt_trainer, require_checkpoint


def configure(settings: Settings) -> None:
    set_defaults(settings, model_size="tiny", episodes_per_batch=8, num_frames=16, samples_per_episode=1,
                 max_gap=30, max_interval=10, interval_prob=0.3, temperature=4.0, eps=0.01, reward="ao",
                 scst_weight=15.0, box_weight=1.0, replay_chunk=2, lr=1e-4, backbone_lr=1e-4, weight_decay=1e-4,
                 lr_drop_epochs=8, grad_clip=100.0, epochs=10, iterations_per_epoch=20, num_workers=0,
                 print_interval=10)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "python ltr/run_training.py transt tiny")
    datasets = synthetic_train_datasets(settings, fine_tune=True)
    return build_slt_trainer(settings, datasets, quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
