"""Paper-size SLT-SiamAttn: sequence-level fine-tuning as in SLTtrack's slt_siamattn.yaml.

    python ltr/run_training.py siamattn slt --checkpoint siamattn.pth   # official file or ours

The recipe (:data:`~ltr.train_settings.siamattn.common.OFFICIAL_SLT`): k = 12 episodes of T = 24
frames per iteration, 10,000 episodes per epoch, 20 epochs, Adam with lr 1e-5 (backbone layer2-4 at
0.05 x) and weight decay 1e-4 decaying log-wise to a tenth, gradient clipping 10, every
normalisation layer in eval mode, logit-softmax policy over all 3125 anchors with temperature 8 and
eps 0.01, AO reward, loss 1.0 SCST + 0.5 anchor L1 + 0.5 refine + 0.2 mask (no cross-entropy),
frame-interval augmentation with probability 0.5 and intervals up to 7, on TrackingNet and LaSOT.
"""
from ltr.admin.settings import Settings
from ltr.dataset import Lasot, TrackingNet
from ltr.train_settings.common import require_checkpoint
from ltr.train_settings.siamattn.common import OFFICIAL_SLT, SLT_FIELDS, build_slt_trainer, configure_setting, run_trainer

FIELDS = SLT_FIELDS


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_SLT)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "SiamAttn", "an official siamattn.pth or a checkpoint of "
                                             "'python ltr/run_training.py siamattn siamattn'")
    datasets = [TrackingNet(set_ids=list(range(12))), Lasot(split="train")]
    return build_slt_trainer(settings, datasets, p_datasets=[1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
