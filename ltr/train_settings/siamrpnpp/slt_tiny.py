"""Tiny SiamRPN++, sequence-level fine-tuning on the synthetic stream, from a tiny FLT checkpoint.

    python ltr/run_training.py siamrpnpp slt_tiny --checkpoint <workspace>/checkpoints/siamrpnpp/tiny/latest.pth
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import synthetic_train_datasets
from ltr.train_settings.siamrpnpp.common import build_slt_trainer, run_trainer, set_defaults


def configure(settings: Settings) -> None:
    set_defaults(settings, model_size="tiny", episodes_per_batch=8, num_frames=16, samples_per_episode=1,
                 max_gap=30, max_interval=7, interval_prob=0.5, temperature=4.0, eps=0.01, reward="ao",
                 scst_weight=1.0, box_weight=1.0, replay_chunk=None, lr=1e-4, final_lr_factor=0.1,
                 weight_decay=0.0, grad_clip=10.0, epochs=10, iterations_per_epoch=20, num_workers=1,
                 print_interval=10)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    if not settings.checkpoint:
        raise SystemExit("slt_tiny fine-tunes a frame-level model: pass --checkpoint FILE "
                         "(e.g. the latest.pth written by 'python ltr/run_training.py siamrpnpp tiny').")
    datasets = synthetic_train_datasets(settings, fine_tune=True)
    return build_slt_trainer(settings, datasets, quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
