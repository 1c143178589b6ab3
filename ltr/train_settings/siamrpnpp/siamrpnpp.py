"""Paper-size SiamRPN++, frame-level training as in pysot's siamrpnpp.yaml, on LaSOT/GOT-10k/TrackingNet/COCO.

    python ltr/run_training.py siamrpnpp siamrpnpp
    torchrun --nproc_per_node=8 ltr/run_training.py siamrpnpp siamrpnpp

pysot trains on VID/YouTube-BB/DET/COCO; those datasets are not part of this framework, so the
video datasets SLT uses replace them (a documented difference). Numbers follow the yaml
(:data:`~ltr.train_settings.siamrpnpp.common.OFFICIAL_FLT`): 20 epochs, batch 28 per GPU, SGD
with momentum 0.9 and weight decay 1e-4, learning rate 0.005 -> 0.0005, template/search 127/255
crops with shift 4/64 px and scale 0.05/0.18, blur 0.2 on the search crop. ImageNet backbone
weights are read from ``<pretrained_networks_dir>/resnet50.pth`` when present.
"""

from ltr.admin.settings import Settings
from ltr.dataset import Got10k, Lasot, MSCOCOSeq, TrackingNet
from ltr.train_settings.siamrpnpp.common import FLT_FIELDS, OFFICIAL_FLT, build_flt_trainer, configure_setting, run_trainer
from ltr.train_settings.common import pretrained_weights

FIELDS = FLT_FIELDS


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_FLT,
                      {"backbone_weights": pretrained_weights(settings, "resnet50.pth")})


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    datasets = [Lasot(split="train"), Got10k(split="train"), TrackingNet(set_ids=list(range(4))), MSCOCOSeq()]
    return build_flt_trainer(settings, datasets, p_datasets=[1, 1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
