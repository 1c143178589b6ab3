"""SLT-TrDiMP: sequence-level fine-tuning of a frame-level TrDiMP with the reference settings.

Reference: SLTtrack ``ltr/train_settings/slt_trdimp/slt_trdimp.py``:

* start: the frame-level TrDiMP weights (``--checkpoint``: the official ``trdimp.pth`` or a
  checkpoint of ``ltr/run_training.py trdimp trdimp``), loaded strictly;
* episodes: LaSOT train, GOT-10k vot-train, TrackingNet chunks 6-11 (equal probabilities, no
  COCO); k = 8 episodes per iteration of T = 24 search frames, the template at most 300 frames
  before the first search frame; frame-interval augmentation with probability 0.3, intervals
  up to 10;
* rollouts: per episode one argmax and one sampling tracker from the ground truth of the
  first search frame, with the reference explore variant of the tracker (no online classifier
  update, plain argmax localisation, 5 filter-optimiser iterations); policy softmax over the
  raw score map mean-max scaled to (-7, 7); reward AO;
* loss: 4 * SCST + 0.01 * KL(IoU-Net) on the sampled crops (128 proposals per frame, as in
  FLT), i.e. the paper's SCST + 0.0025 * IoU-Net loss scaled by 4; replay 4 episodes per backward;
* optimisation: Adam with per-module learning rates (filter initialiser 2e-6, filter optimiser
  2e-5, classification head 2e-6, transformer 4e-5, IoU-Net 4e-5, backbone layer3 8e-7),
  gradient norm clipped at 40, 40 epochs of 5000 episodes, lr x 0.5 every 8 epochs.

Run: ``python ltr/run_training.py trdimp slt --checkpoint trdimp.pth``.
"""
from ltr.admin.settings import Settings
from ltr.train_settings.trdimp.common import (OFFICIAL_SLT, SLT_FIELDS, build_slt_trainer, configure_setting,
                                              require_checkpoint, run_trainer, slt_paper_datasets)

FIELDS = SLT_FIELDS


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_SLT)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "python ltr/run_training.py trdimp trdimp")
    return build_slt_trainer(settings, slt_paper_datasets(settings), [1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
