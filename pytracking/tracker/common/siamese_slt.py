"""SLT adapter for Siamese trackers built on :class:`SiameseCore` (SiamRPN++, TransT, ...).

Explore runs the very core the test-time tracker runs; argmax trackers take the core's own
test-time choice (``pscore.argmax``), sampling trackers draw from the policy over ``pscore``.
Replay re-runs the network with gradients on the recorded template and search crops and
rebuilds ``pscore`` from the fresh scores and the recorded state-dependent constants.

The replay network pass (template features, then tracking on the recorded search crops) is the
``forward`` of :attr:`SiameseSLTAdapter.replay_module`, a small ``nn.Module`` over the core's
network. In a single process it is called as it is; under DistributedDataParallel the SLT trainer
wraps it in DDP once, so the gradients of replay are averaged over ranks (DDP only synchronises
what runs through a wrapped module's forward).

A subclass provides its loss table and three tracker-specific pieces:
    * :attr:`SiameseSLTAdapter.loss_table`: the tracker's :class:`~slt_plugins.losses.SLTLossTable`;
    * :meth:`record_constants`: per-tracker constants of a step that ``pscore`` depends on;
    * :meth:`replay_pscore`: ``pscore`` (R*T, N) with gradients from fresh network outputs;
    * :meth:`frame_terms`: the unweighted terms of the tracker's frame-level loss that an arm
      asks for, on the recorded crops of the visible frames.

Replay computes the terms the table names for ``(scst_weight, so_mode)`` and adds them up with
its weights (:func:`slt_plugins.losses.arm_loss`).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from ltr.data.crop import boxes_to_crop_frame
from pytracking.tracker.common.siamese_core import SearchResult, SiameseCore
from slt_plugins.adapter import LossOutput, ReplayRecords, StepOutput
from slt_plugins.losses import SCST_TERM, SLTLossTable, arm_loss, check_so_mode
from slt_plugins.policy import replay_log_probs, select_candidates
from slt_plugins.scst import scst_loss


class SiameseReplayNet(torch.nn.Module):
    """The replay network pass of a :class:`SiameseCore` as a module (so that DDP can wrap it).

    ``forward(template_input (R, 3, Z, Z), search_input (R*T, 3, X, X), steps=T)`` computes the
    template features of the R rollouts, repeats each T times and runs the network on the
    search crops; it returns the core's raw network outputs. Its parameters are the core's
    network's parameters (registered as the submodule ``net``).
    """

    def __init__(self, core: SiameseCore):
        super().__init__()
        self.net = core.net
        self._core = core  # plain Python object: not part of the module tree or the state dict

    def forward(self, template_input: torch.Tensor, search_input: torch.Tensor, steps: int) -> Any:
        template_feat = self._core.compute_template_features(template_input)
        return self._core.run_network(repeat_rows(template_feat, steps), search_input)


def repeat_rows(tree: Any, repeats: int) -> Any:
    """``repeat_interleave`` every tensor of a nested list/tuple/dict along dim 0."""
    if isinstance(tree, torch.Tensor):
        return tree.repeat_interleave(repeats, dim=0)
    if isinstance(tree, (list, tuple)):
        return type(tree)(repeat_rows(t, repeats) for t in tree)
    if isinstance(tree, dict):
        return {k: repeat_rows(v, repeats) for k, v in tree.items()}
    return tree


class SiameseSLTAdapter:
    """Generic batched SLT adapter around a :class:`SiameseCore`.

    Args:
        core: the batched tracker core (shares its network with the trainer).
        policy: candidate distribution over ``pscore`` (see :mod:`slt_plugins.policy`).
        scst_weight: weight of the self-critical term; 0 gives the '+SS' arm (the full
            frame-level loss); None: the official weight of :attr:`loss_table`.
        box_weight: factor on the box terms of every arm (1: the table's weights; 0 drops them).
            Classification terms ('+SS', ``so_mode='add'``) keep their frame-level weights.
        scst_reduction: see :func:`slt_plugins.scst.scst_loss`.
        so_mode: 'replace' (the paper: SCST replaces the classification loss) or 'add' (SCST
            beside the classification loss at its frame-level weight); see :mod:`slt_plugins.losses`.

    ``scst_weight``, ``box_weight`` and ``so_mode`` are read at every replay, so they may be changed
    between replays.
    """

    #: The tracker's loss terms and weights, frame-level and SLT (set by each subclass).
    loss_table: SLTLossTable
    #: Candidate sets this adapter wires (:mod:`slt_plugins.policy`): the core's score map grid
    #: (``core.candidate_grid()``) is passed to the policy at every step and replay reuses the
    #: recorded candidate set.
    candidate_sets = ("all", "local_maxima")

    def __init__(self, core: SiameseCore, policy: Any, scst_weight: Optional[float] = None,
                 box_weight: float = 1.0, scst_reduction: str = "mean", so_mode: str = "replace"):
        self.core = core
        self.policy = policy
        self.scst_weight = float(self.loss_table.scst_weight if scst_weight is None else scst_weight)
        self.box_weight = float(box_weight)
        self.scst_reduction = scst_reduction
        self.so_mode = check_so_mode(so_mode)
        #: Runs the replay network pass; the SLT trainer replaces it by a DDP wrapper when distributed.
        self.replay_module: torch.nn.Module = SiameseReplayNet(core)

    @classmethod
    def build_core(cls, net: torch.nn.Module, size: str, device: str) -> SiameseCore:
        """The batched core of ``net`` at model ``size`` ('paper' or 'tiny') on ``device`` (per subclass)."""
        raise NotImplementedError

    @classmethod
    def from_settings(cls, net: torch.nn.Module, policy: Any, settings: Any) -> "SiameseSLTAdapter":
        """The adapter a training setting trains: the core of ``net`` (``model_size``, ``device``) with
        ``policy`` and the loss fields ``scst_weight``, ``box_weight`` and ``so_mode`` of ``settings``.
        Every adapter is built this way (the built-in settings and ``generic slt`` alike)."""
        core = cls.build_core(net, settings.model_size, settings.device)
        return cls(core, policy, scst_weight=settings.scst_weight, box_weight=settings.box_weight,
                   so_mode=settings.so_mode)

    @property
    def net(self) -> torch.nn.Module:
        return self.core.net

    # ------------------------------------------------------------------ hooks
    def record_constants(self, result: SearchResult) -> Dict[str, torch.Tensor]:
        return {}

    def replay_pscore(self, outputs: Any, steps: Dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def frame_terms(self, outputs: Any, gt_crop_xywh: torch.Tensor, visible: torch.Tensor,
                    names: Sequence[str]) -> Tuple[Dict[str, torch.Tensor], Dict[str, float]]:
        """The frame-level terms ``names`` (names of :attr:`loss_table`) on the recorded crops.

        Args:
            outputs: the network's raw outputs on the M = R*T recorded search crops.
            gt_crop_xywh: (M, 4) ground truth in crop pixels.
            visible: (M,) bool; hidden frames and empty boxes contribute nothing.
            names: the terms to compute (never empty).

        Returns:
            ({name: unweighted scalar with gradients}, {stat name: float} diagnostics).
        """
        raise NotImplementedError

    def loss_weights(self) -> Dict[str, float]:
        """``{term: weight}`` of the arm the current ``scst_weight`` / ``so_mode`` select."""
        return self.loss_table.weights(self.scst_weight, self.so_mode, box_scale=self.box_weight)

    # ------------------------------------------------------------------ protocol
    def initialize(self, frames, boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        template_input = self.core.initialize(frames, boxes_xywh, start_boxes_xywh)
        return {"template": template_input}

    def step(self, frames, sample_mask: torch.Tensor, generator, gt_xywh: torch.Tensor) -> StepOutput:
        result = self.core.search(frames)
        pscore = result.candidates.pscore
        greedy = self.core.argmax(result)
        actions, log_prob, candidate_record = select_candidates(self.policy, pscore, sample_mask, generator,
                                                                self.core.candidate_grid())
        # Argmax trackers take exactly the test-time choice (no tie-breaking through the policy).
        mask = sample_mask.to(actions.device)
        actions = torch.where(mask, actions, greedy)
        boxes = self.core.commit(result, actions)
        gt_crop = boxes_to_crop_frame(gt_xywh.to(result.crop_center_xy), result.crop_center_xy,
                                      result.crop_side, self.core.search_size)
        record = {"search": result.search_input, "action": actions, "gt_crop": gt_crop.float()}
        record.update(candidate_record)
        record.update(self.record_constants(result))
        return StepOutput(boxes_xywh=boxes.float(), actions=actions, record=record, log_prob=log_prob,
                          greedy_actions=greedy)

    def replay_loss(self, records: ReplayRecords, advantage: torch.Tensor) -> LossOutput:
        R, T = records.num_rollouts, records.num_steps
        steps = {k: v.flatten(0, 1) for k, v in records.steps.items()}  # (R*T, ...)
        outputs = self.replay_module(records.init["template"], steps["search"], T)
        pscore = self.replay_pscore(outputs, steps)
        log_p = replay_log_probs(self.policy, pscore, steps).gather(1, steps["action"].long().view(-1, 1)).view(R, T)
        scst = scst_loss(log_p, advantage.to(log_p), reduction=self.scst_reduction)
        weights = self.loss_weights()
        names = [k for k in weights if k != SCST_TERM]
        terms: Dict[str, torch.Tensor] = {}
        diagnostics: Dict[str, float] = {}
        if names:
            visible = records.visible.reshape(-1).to(log_p.device)
            terms, diagnostics = self.frame_terms(outputs, steps["gt_crop"], visible, names)
        out = arm_loss(weights, scst, terms)
        out.stats.update(diagnostics)
        out.stats["logp/mean"] = float(log_p.detach().mean())
        return out
