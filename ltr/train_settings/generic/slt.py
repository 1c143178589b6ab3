"""Sequence-level fine-tuning of any registered tracker, with no setting file of its own.

    python ltr/run_training.py generic slt --checkpoint flt.pth --set network=mytracker --set model_size=tiny \\
        --set plugin_modules=docs.examples.mytracker
    python ltr/run_training.py generic slt --set network=mytracker --print-config

The network (``network``), its SLT adapter (``adapter``, default: the network's name) and the
candidate distribution (``policy``) are registered names; ``plugin_modules`` imports the modules
that register them when they are not installed as entry points. The adapter is built by its
classmethod ``from_settings(net, policy, settings)``. ``--checkpoint`` is the tracker's
frame-level (FLT) checkpoint: a project checkpoint recording ``tracker=<network>`` (written by
the tracker's own FLT trainer with :func:`ltr.admin.checkpoint.save_checkpoint`) or any file
:func:`ltr.models.registry.load_network` reads. Training data: ``datasets`` (the synthetic stream
by default; ``synthetic_train_overrides`` changes its videos).

The numbers below are a start for a tracker without an SLT recipe of its own: the sampler,
policy and optimiser of the official TransT SLT recipe (k = 8 episodes of T = 24 frames,
frame-interval augmentation up to 10 with probability 0.3, logit-softmax with temperature 4 and
eps 0.01, Adam with lr 1e-5, clipping at 100). Change any of them with ``--set``.
Checkpoints go to ``<workspace>/checkpoints/generic/slt/<network>/``. See docs/own_tracker.md.
"""
from ltr.admin.settings import Settings
from ltr.train_settings.common import configure_setting, require_checkpoint, run_trainer
from ltr.train_settings.fields import BOX_SCALE_FIELD, slt_schema
from ltr.train_settings.generic.common import GENERIC_FIELDS, build_datasets, build_slt_trainer, resolve_pieces
from ltr.train_settings.transt.common import OFFICIAL_SLT as TRANST_SLT

# box_weight: the box-term multiplier the built-in adapters read too
FIELDS = slt_schema(BOX_SCALE_FIELD, GENERIC_FIELDS)
#: The fields taken from the official TransT SLT recipe (its one home is the TransT settings).
BORROWED = ("episodes_per_batch", "num_frames", "max_gap", "max_interval", "interval_prob", "temperature", "eps",
            "lr", "weight_decay", "grad_clip", "replay_chunk", "epochs", "iterations_per_epoch")
#: The setting's own numbers (see the module docstring); the command line and code win.
CHANGES = dict({name: TRANST_SLT[name] for name in BORROWED}, policy="logit_softmax")


def configure(settings: Settings) -> None:
    configure_setting(settings, FIELDS, {}, CHANGES)


def build_trainer(settings: Settings, quiet: bool = False):
    configure(settings)
    network, _ = resolve_pieces(settings)  # a misspelt name fails before anything is loaded
    require_checkpoint(settings, f"'{network}' network",
                       f"a project checkpoint with tracker='{network}' and size='{settings.model_size}', e.g. written "
                       f"by your frame-level trainer with ltr.admin.checkpoint.save_checkpoint; see docs/own_tracker.md")
    datasets, p_datasets = build_datasets(settings)
    return build_slt_trainer(settings, datasets, p_datasets, quiet=quiet)


def run(settings: Settings) -> None:
    run_trainer(build_trainer(settings), settings)
