"""TrDiMP frame-level training (FLT) with the reference settings.

Reference: SLTtrack ``ltr/train_settings/trdimp/trdimp.py`` (the TrDiMP baseline SLT starts from):

* data: LaSOT train, GOT-10k vot-train, TrackingNet chunks 6-11, COCO 2017 train, equal
  probabilities, 50,000 samples per epoch; each sample 3 train + 3 test frames of one video,
  test frames after the train frames, within 500 frames;
* crops: 352 px (22 x 16), search area 6, 'inside_major' borders with at most 1.5x shrink;
  centre/scale jitter 3/0.25 (train) and 5.5/0.5 (test); grey 0.05, brightness 0.2, flips;
* labels: Gaussian sigma 1/4 / 6 of the 22-cell feature map for the 4x4 filter; IoU-Net
  proposals: 128 per frame, GMM (0.05, 0.05) + (0.5, 0.5), label density (0.05, 0.05);
* loss: 0.01 KL(IoU-Net) + 100 hinge(final) + 100 hinge(initial) + 400 hinge(intermediate
  iterates, averaged), hinge threshold 0.05; 5 filter-optimiser iterations;
* optimisation: Adam, lr per module (filter initialiser 5e-5, filter optimiser 5e-4,
  classification head 5e-5, transformer 1e-3, IoU-Net 1e-3, backbone layer3 2e-5; conv1-layer2
  frozen), batch 40, 50 epochs, lr x 0.2 every 15 epochs, no gradient clipping.

The reference's batch of 40 is split over its GPUs (DataParallel); here ``batch_size`` is per
process, so the default is 40 divided by the number of processes. The ResNet-50 starts from
ImageNet weights when ``<pretrained_networks_dir>/resnet50.pth`` (or ``backbone_weights``)
exists; nothing is downloaded. The reference's GOT-10k vot-val validation pass is not run.

Run: ``python ltr/run_training.py trdimp trdimp`` (``torchrun --nproc_per_node=N`` for N GPUs).
"""
from ltr.admin.settings import Settings
from ltr.train_settings.trdimp.common import (FLT_FIELDS, OFFICIAL_FLT, build_flt_trainer, configure_setting,
                                              default_backbone_weights, flt_paper_datasets, run_trainer)

FIELDS = FLT_FIELDS
#: Reference batch (all GPUs together).
GLOBAL_BATCH = 40


def configure(settings: Settings) -> None:
    batch = max(1, GLOBAL_BATCH // max(1, settings.world_size))
    configure_setting(settings, FIELDS, OFFICIAL_FLT,
                      {"batch_size": batch, "backbone_weights": default_backbone_weights(settings)})


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    return build_flt_trainer(settings, flt_paper_datasets(settings), [1, 1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
