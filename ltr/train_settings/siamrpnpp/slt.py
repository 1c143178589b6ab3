"""Paper-size SLT-SiamRPN++: sequence-level fine-tuning as in SLTtrack's slt_siamrpnpp.yaml.

    python ltr/run_training.py siamrpnpp slt --checkpoint siamrpnpp.pth   # official pysot file or ours

The recipe (:data:`~ltr.train_settings.siamrpnpp.common.OFFICIAL_SLT`): k = 8 episodes of T = 24
frames per iteration and GPU, 10,000 episodes per epoch, 20 epochs, Adam with learning rate 1e-5,
gradient clipping 10, logit-softmax policy with temperature 8 and eps 0.01, AO reward, the
self-critical term in place of the anchor classification loss (weight 1) plus the anchor L1
(weight 1) on the sampled crops, frame-interval augmentation with probability 0.5 and intervals
up to 7, on GOT-10k, TrackingNet and LaSOT.
"""
from ltr.admin.settings import Settings
from ltr.dataset import Got10k, Lasot, TrackingNet
from ltr.train_settings.common import require_checkpoint
from ltr.train_settings.siamrpnpp.common import OFFICIAL_SLT, SLT_FIELDS, build_slt_trainer, configure_setting, run_trainer

FIELDS = SLT_FIELDS


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, OFFICIAL_SLT)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "SiamRPN++", "an official pysot siamrpnpp.pth or a checkpoint of "
                                              "'python ltr/run_training.py siamrpnpp siamrpnpp'")
    datasets = [Got10k(split="train"), TrackingNet(set_ids=list(range(12))), Lasot(split="train")]
    return build_slt_trainer(settings, datasets, p_datasets=[1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
