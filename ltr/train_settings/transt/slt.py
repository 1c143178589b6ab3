"""SLT-TransT: sequence-level fine-tuning of a frame-level TransT, plus the SLT building blocks.

Official recipe (SLTtrack, ``ltr/train_settings/slt_transt/slt_transt.py``):

* start: the frame-level TransT weights (``--checkpoint``: a project checkpoint from
  ``ltr/run_training.py transt transt`` or the official ``transt.pth``), loaded strictly;
* episodes: LaSOT train, GOT-10k vot-train, TrackingNet chunks 0-3 (equal probabilities, no COCO);
  k = 8 episodes per iteration of T = 24 search frames; the template at most 300 frames before
  the first search frame; frame-interval augmentation with probability 0.3, intervals up to 10;
* rollouts: per episode one argmax and one sampling tracker, starting from the ground truth of
  the first search frame; policy softmax(4 * logit(0.01 + 0.98 * pscore)); reward AO;
* loss: 15 * SCST + 5 L1 + 2 GIoU on the sampled crops; replay 2 episodes at a time;
* optimisation: AdamW, lr 1e-5 (backbone 1e-6), weight decay 1e-4, gradient norm clipped at 100,
  120 epochs of 1000 episodes (125 iterations), lr x 0.1 after epoch 100.

Run: ``python ltr/run_training.py transt slt --checkpoint transt.pth``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from ltr.admin.settings import Settings
from ltr.train_settings import common
from ltr.train_settings.common import assemble_slt_trainer, run_trainer, set_defaults
from ltr.train_settings.transt.transt import build_net, build_optimizer, model_config

__all__ = ["build_slt_trainer", "configure", "build_trainer", "run", "require_checkpoint"]


def build_slt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False):
    """Sequence-level TransT trainer (explore/replay through the TransT SLT adapter).

    Fields of ``settings`` used: model_size, checkpoint (FLT start), device, seed, episodes_per_batch
    (k), num_frames (T), samples_per_episode, max_gap, max_interval, interval_prob, temperature, eps,
    reward, scst_weight, box_weight, replay_chunk, lr, backbone_lr, weight_decay, lr_drop_epochs,
    grad_clip, epochs, iterations_per_epoch, num_workers, print_interval; optionally the validation
    fields (``validate_every``, ``validation_dataset``). The network stays unwrapped: under
    torchrun the SLT trainer puts the adapter's replay pass under DDP.
    """
    from pytracking.tracker.transt.core import TransTCore
    from pytracking.tracker.transt.slt_adapter import TransTSLTAdapter
    from slt_plugins.policy import LogitSoftmaxPolicy

    net = build_net(settings)
    core = TransTCore(net, model_config(settings.model_size), device=settings.device)
    adapter = TransTSLTAdapter(core, LogitSoftmaxPolicy(settings.temperature, settings.eps),
                               scst_weight=settings.scst_weight, box_weight=settings.box_weight)
    return assemble_slt_trainer(adapter, net, settings, datasets, p_datasets,
                                lambda n: build_optimizer(n, settings), "transt", quiet=quiet)


def require_checkpoint(settings: Settings, flt_command: str) -> None:
    """SLT fine-tunes a frame-level model: stop with the fix when no start weights are given."""
    common.require_checkpoint(settings, "TransT", f"e.g. the latest.pth written by '{flt_command}'")


def configure(settings: Settings) -> None:
    """The official SLT-TransT numbers (command-line overrides win)."""
    set_defaults(settings, model_size="paper", episodes_per_batch=8, num_frames=24, samples_per_episode=1,
                 max_gap=300, max_interval=10, interval_prob=0.3, temperature=4.0, eps=0.01, reward="ao",
                 scst_weight=15.0, box_weight=1.0, replay_chunk=2, lr=1e-5, backbone_lr=1e-6, weight_decay=1e-4,
                 lr_drop_epochs=100, grad_clip=100.0, epochs=120, iterations_per_epoch=125, num_workers=4,
                 print_interval=10)


def paper_datasets(settings: Settings) -> List:
    """LaSOT train, GOT-10k vot-train, TrackingNet 0-3 (paths from the environment)."""
    from ltr.dataset import Got10k, Lasot, TrackingNet
    env = settings.env
    return [Lasot(env.lasot_dir, split="train"), Got10k(env.got10k_dir, split="vottrain"),
            TrackingNet(env.trackingnet_dir, set_ids=list(range(4)))]


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    require_checkpoint(settings, "python ltr/run_training.py transt transt")
    return build_slt_trainer(settings, paper_datasets(settings), [1, 1, 1], quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
