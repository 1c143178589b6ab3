"""Paper-size SiamAttn, frame-level training on GOT-10k only (mask-less).

    python ltr/run_training.py siamattn got10k

The official FLT recipe on GOT-10k's training split, for the GOT-10k protocol (train on GOT-10k
only). GOT-10k has no masks, so the mask term has weight 0 on every sample and the mask head does
not train; the refine head and the RPN train as in the paper setting.
"""

from ltr.admin.settings import Settings
from ltr.dataset import Got10k
from ltr.train_settings.siamattn.common import FLT_FIELDS, OFFICIAL_FLT, build_flt_trainer, configure_setting, run_trainer
from ltr.train_settings.common import pretrained_weights

FIELDS = FLT_FIELDS
#: What this setting changes in the official recipe.
CHANGES = dict(use_masks=False)


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_FLT,
                      dict(CHANGES, backbone_weights=pretrained_weights(settings, "resnet50.pth")))


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    return build_flt_trainer(settings, [Got10k(split="train")], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
