"""Paper-size SiamAttn, frame-level training as in SLTtrack's siamattn.yaml.

    python ltr/run_training.py siamattn siamattn
    torchrun --nproc_per_node=4 ltr/run_training.py siamattn siamattn

The recipe (:data:`~ltr.train_settings.siamattn.common.OFFICIAL_FLT`): 20 epochs, batch 56 per GPU,
SGD with momentum 0.9, weight decay 1e-4 and gradient clipping 10, lr 0.01 with pysot's 5-epoch
warm-up from 0.002 and a log decay to 0.001, the backbone frozen until epoch 10 and then layer2-4 at
0.05 x lr; losses 1.0 cls + 0.5 L1 + 0.5 refine + 0.2 mask; crops as in SiamRPN++ (shift 4 / 64 px,
scale 0.05 / 0.18, blur 0.2). Data: TrackingNet and LaSOT as in the yaml (no masks: mask weight 0),
plus COCO, whose masks feed the mask term (the yaml's commented-out COCO / YouTube-VOS lines).
ImageNet backbone weights are read from ``<pretrained_networks_dir>/resnet50.pth`` when present.
"""

from ltr.admin.settings import Settings
from ltr.dataset import Lasot, MSCOCOSeq, TrackingNet
from ltr.train_settings.siamattn.common import FLT_FIELDS, OFFICIAL_FLT, build_flt_trainer, configure_setting, run_trainer
from ltr.train_settings.common import pretrained_weights

FIELDS = FLT_FIELDS


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_FLT,
                      {"backbone_weights": pretrained_weights(settings, "resnet50.pth")})


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    datasets = [TrackingNet(set_ids=list(range(6, 12))), Lasot(split="train"), MSCOCOSeq()]
    return build_flt_trainer(settings, datasets, p_datasets=[1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
