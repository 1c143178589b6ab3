"""Paper-size SLT-SiamRPN++: sequence-level fine-tuning as in SLTtrack's slt_siamrpnpp.yaml.

    python ltr/run_training.py siamrpnpp slt --checkpoint siamrpnpp.pth   # official pysot file or ours

k = 8 episodes of T = 24 frames per iteration and GPU, 10,000 episodes per epoch, 20 epochs,
Adam with learning rate 1e-5, gradient clipping 10, logit-softmax policy with temperature 8 and
eps 0.01, AO reward, SCST weight 1 plus the anchor losses (cls 1, loc 1) on the sampled crops,
frame-interval augmentation with probability 0.5 and intervals up to 7, on GOT-10k, TrackingNet
and LaSOT.
"""
from ltr.admin.settings import Settings
from ltr.dataset import Got10k, Lasot, TrackingNet
from ltr.train_settings.siamrpnpp.common import build_slt_trainer, run_trainer, set_defaults


def configure(settings: Settings) -> None:
    set_defaults(settings, model_size="paper", episodes_per_batch=8, num_frames=24, samples_per_episode=1,
                 max_gap=None, max_interval=7, interval_prob=0.5, temperature=8.0, eps=0.01, reward="ao",
                 scst_weight=1.0, box_weight=1.0, replay_chunk=2, lr=1e-5, final_lr_factor=1.0,
                 weight_decay=0.0, grad_clip=10.0, epochs=20, iterations_per_epoch=10000 // 8,
                 num_workers=4, print_interval=10)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    if not settings.checkpoint:
        raise SystemExit("slt fine-tunes a frame-level SiamRPN++: pass --checkpoint FILE "
                         "(an official pysot siamrpnpp.pth or a checkpoint of 'siamrpnpp siamrpnpp').")
    datasets = [Got10k(split="train"), TrackingNet(set_ids=list(range(12))), Lasot(split="train")]
    return build_slt_trainer(settings, datasets, p_datasets=[1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
