"""Paper-size SiamRPN++, frame-level training as in pysot's siamrpnpp.yaml, on LaSOT/GOT-10k/TrackingNet/COCO.

    python ltr/run_training.py siamrpnpp siamrpnpp
    torchrun --nproc_per_node=8 ltr/run_training.py siamrpnpp siamrpnpp

pysot trains on VID/YouTube-BB/DET/COCO; those datasets are not part of this framework, so the
video datasets SLT uses replace them (a documented difference). Numbers follow the yaml: 20 epochs,
batch 28 per GPU, SGD with momentum 0.9 and weight decay 1e-4, learning rate 0.005 -> 0.0005,
template/search 127/255 crops with shift 4/64 px and scale 0.05/0.18, blur 0.2 on the search crop.
ImageNet backbone weights are read from ``<pretrained_networks_dir>/resnet50.pth`` when present.
"""
import os

from ltr.admin.settings import Settings
from ltr.dataset import Got10k, Lasot, MSCOCOSeq, TrackingNet
from ltr.train_settings.siamrpnpp.common import build_flt_trainer, run_trainer, set_defaults


def configure(settings: Settings) -> None:
    backbone = os.path.join(settings.env.pretrained_networks_dir, "resnet50.pth")
    set_defaults(settings, model_size="paper", batch_size=28, iterations_per_epoch=600000 // (28 * 8), epochs=20,
                 optimizer="sgd", lr=0.005, final_lr_factor=0.1, weight_decay=1e-4, grad_clip=10.0,
                 num_workers=8, print_interval=50, max_gap=100,
                 template_shift=4 / 127, template_scale=0.05, search_shift=64 / 255, search_scale=0.18,
                 blur_prob=0.2, gray_prob=0.0,
                 backbone_weights=backbone if os.path.isfile(backbone) else None)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    datasets = [Lasot(split="train"), Got10k(split="train"), TrackingNet(set_ids=list(range(4))), MSCOCOSeq()]
    return build_flt_trainer(settings, datasets, p_datasets=[1, 1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
