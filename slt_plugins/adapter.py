"""The seam between sequence-level training and a particular tracker.

SLT itself knows nothing about networks. A tracker joins SLT through an adapter that
implements :class:`SLTAdapter`: it runs B independent trackers in lockstep (B = number of
episodes x (1 + samples per episode)), each either in argmax mode (test-time behaviour)
or in sampling mode (its box choice drawn from the candidate distribution), and later
replays what the sampling trackers saw with gradients.

Conventions used throughout:

* Boxes are ``xywh`` in image pixels: (x, y) of the top-left corner, width, height.
  Ground truth recorded for replay is ``xywh`` in the pixel frame of the recorded crop.
* A *record* is a ``dict`` of tensors whose first dimension indexes the trackers, so the
  actor can keep, slice and stack records without knowing what is inside. Constants
  shared by all trackers (a cosine window, anchor grids) belong to the adapter itself;
  per-tracker constants that depend on the tracker's state at that step (SiamRPN++'s
  scale/aspect penalty) must be recorded, so replay reproduces the explore-time
  distribution exactly. The actor keeps views of the recorded tensors until the episode
  ends, so an adapter must not write into a recorded tensor after returning it.
* The network must be in the same mode during explore and replay (eval-mode
  normalisation, or GroupNorm), so log p(a) in the loss is the probability of the
  action that was actually taken. The actor owns that mode: it puts the adapter's
  ``net`` (the ``nn.Module`` being trained) in ``SLTActor.mode`` before explore and before
  replay, so an adapter exposes its network as ``net`` and never changes its mode.
* Random numbers of explore come from the generators the actor passes to ``step``. An
  adapter that keeps a generator of its own across iterations (e.g. for replay-time box
  proposals) exposes it through the optional hook ``persistent_generators()``
  (:class:`PersistentGenerators`), so that checkpoints save its state and a resumed run
  continues its stream; without the hook a resumed run would restart it from its seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Protocol, Sequence, Union, runtime_checkable

import numpy as np
import torch

__all__ = ["Frames", "Generators", "StepOutput", "LossOutput", "ReplayRecords", "SLTAdapter",
           "PersistentGenerators", "adapter_generators", "stack_records", "index_records"]

#: B RGB uint8 images (H x W x 3 each, sizes may differ) or one (B, H, W, 3) uint8 tensor.
Frames = Union[Sequence[np.ndarray], torch.Tensor]

#: One generator for the whole batch, or one per tracker (None for argmax trackers).
Generators = Union[torch.Generator, Sequence[Optional[torch.Generator]], None]


@dataclass
class StepOutput:
    """What one lockstep ``step`` of B trackers returns.

    Attributes:
        boxes_xywh: (B, 4) float, each tracker's new estimate in image pixels.
        actions: (B,) long, index of the chosen candidate.
        record: per-tracker tensors with first dimension B that replay needs, e.g. the
            search crops, the actions, state-dependent penalty terms and the ground truth
            in crop pixels (``xywh``).
        log_prob: (B,) float, log p(action) under the candidate distribution (diagnostics).
        greedy_actions: (B,) long, the argmax candidate of each tracker's own distribution;
            equal to ``actions`` for argmax trackers. Used for the "sampled != argmax" statistic.
    """

    boxes_xywh: torch.Tensor
    actions: torch.Tensor
    record: Dict[str, torch.Tensor]
    log_prob: Optional[torch.Tensor] = None
    greedy_actions: Optional[torch.Tensor] = None


@dataclass
class ReplayRecords:
    """Everything recorded for R rollouts of T steps, stacked for one replay call.

    Attributes:
        init: tensors with first dimension R recorded by ``initialize`` (e.g. template crops).
        steps: tensors of shape (R, T, ...) recorded by ``step`` (e.g. search crops, actions,
            ground truth ``xywh`` in crop pixels).
        visible: (R, T) bool, whether the target is visible in each frame (box losses should
            skip invisible frames).
    """

    init: Dict[str, torch.Tensor]
    steps: Dict[str, torch.Tensor]
    visible: torch.Tensor

    @property
    def num_rollouts(self) -> int:
        return int(self.visible.shape[0])

    @property
    def num_steps(self) -> int:
        return int(self.visible.shape[1])

    def select(self, index: Union[slice, torch.Tensor]) -> "ReplayRecords":
        """The records of a subset of rollouts (a slice or an index tensor over R)."""
        return ReplayRecords(init=index_records(self.init, index),
                             steps=index_records(self.steps, index),
                             visible=self.visible[index])


@dataclass
class LossOutput:
    """Losses of one replay.

    Attributes:
        total: scalar; ``scst_weight * scst + box`` as the adapter weights them. It carries
            gradients unless ``backward_done`` is True, in which case the gradients are
            already in the parameters' ``.grad`` and ``total`` is detached.
        scst: scalar, the self-critical term (unweighted).
        box: scalar, the weighted frame-level terms of the tracker's loss on the recorded
            crops (box terms, and classification terms where the arm keeps them; see
            :mod:`slt_plugins.losses`).
        stats: floats for logging (e.g. ``'Loss/scst'``, ``'reward/sample'``).
        backward_done: True where the producer already called ``backward``.
    """

    total: torch.Tensor
    scst: torch.Tensor
    box: torch.Tensor
    stats: Dict[str, float] = field(default_factory=dict)
    backward_done: bool = False


@runtime_checkable
class SLTAdapter(Protocol):
    """What a tracker implements to be trained with SLT.

    Attributes:
        policy: the candidate distribution (see :mod:`slt_plugins.policy`). The actor may
            replace it with its own policy, so read it at every step rather than caching it.
    """

    policy: object

    def initialize(self, frames: Frames, boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Start B independent trackers.

        Args:
            frames: the B template frames, RGB uint8.
            boxes_xywh: (B, 4) float, the target in each template frame, image pixels.
            start_boxes_xywh: (B, 4) float, the target state each tracker starts from in
                image pixels (the first search frame's ground truth in the official SLT
                recipe); ``None`` means start at ``boxes_xywh``.

        Returns:
            The init record: tensors with first dimension B needed by replay (e.g. the
            template crops). May be empty.
        """
        ...

    def step(self, frames: Frames, sample_mask: torch.Tensor, generator: Generators,
             gt_xywh: torch.Tensor) -> StepOutput:
        """Advance all B trackers by one frame in one batched pass.

        Crops the search regions of all trackers in one vectorised op, runs the network
        once, post-processes the scores exactly as the test-time tracker does, picks the
        argmax (``sample_mask`` False) or a sample (True) through ``self.policy.select``
        with ``generator``, and updates each tracker's state. Called under ``torch.no_grad``.

        Args:
            frames: the B current frames, RGB uint8.
            sample_mask: (B,) bool, True for sampling trackers.
            generator: random source for the sampling trackers (see :mod:`slt_plugins.policy`).
            gt_xywh: (B, 4) float, ground truth of this frame in image pixels; used only to
                record the ground truth in crop pixels for the box losses, never to track.

        Returns:
            The new boxes and the per-tracker record of this step.
        """
        ...

    def replay_loss(self, records: ReplayRecords, advantage: torch.Tensor) -> LossOutput:
        """Re-run the network with gradients on recorded crops of R sampling rollouts.

        Args:
            records: the rollouts' stacked records.
            advantage: (R,) float, the self-critical advantage of each rollout, or (R, T) per
                frame (the actor's ``advantage='reward_to_go'``); a constant. Pass it on to
                :func:`slt_plugins.scst.scst_loss`, which takes either shape.

        Returns:
            Losses averaged over the R rollouts (and their T steps), so the actor can split
            rollouts into chunks and weight each chunk by its share of rollouts; the
            ``scst`` term is :func:`slt_plugins.scst.scst_loss` of the recorded actions.
            Chunked replay equals one big replay exactly only where every term is divided
            by R T (or R); a term normalised by a data-dependent count (e.g. the visible
            frames of the chunk) makes chunks weigh slightly differently.
        """
        ...


@runtime_checkable
class PersistentGenerators(Protocol):
    """Optional adapter hook: the random generators the adapter keeps across iterations.

    ``persistent_generators()`` returns them by a stable name (the same names and generator
    objects on every call); the SLT actor saves their states in checkpoints and restores them
    when a run resumes. Generators re-seeded at every ``initialize`` need not be listed.
    """

    def persistent_generators(self) -> Mapping[str, torch.Generator]:
        ...


def adapter_generators(adapter: object) -> Dict[str, torch.Generator]:
    """The adapter's persistent generators by name (empty when it has no such hook).

    Raises:
        TypeError: the hook returned something other than ``torch.Generator`` values.
    """
    if not isinstance(adapter, PersistentGenerators):
        return {}
    generators = dict(adapter.persistent_generators())
    bad = sorted(name for name, gen in generators.items() if not isinstance(gen, torch.Generator))
    if bad:
        raise TypeError(f"{type(adapter).__name__}.persistent_generators() returned non-generators for {bad}.")
    return generators


def index_records(record: Dict[str, torch.Tensor], index: Union[slice, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rows ``index`` (over the first dimension) of every tensor of a record."""
    return {key: value[index] for key, value in record.items()}


def stack_records(records: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Stack T per-step records of R trackers into one record of (R, T, ...) tensors."""
    if not records:
        return {}
    keys = records[0].keys()
    for t, rec in enumerate(records):
        if rec.keys() != keys:
            raise ValueError(f"Step {t} records keys {sorted(rec)} but step 0 recorded {sorted(keys)}; "
                             f"an adapter must record the same keys at every step.")
    return {key: torch.stack([rec[key] for rec in records], dim=1) for key in keys}
