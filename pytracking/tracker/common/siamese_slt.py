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

A subclass provides three tracker-specific pieces:
    * :meth:`record_constants`: per-tracker constants of a step that ``pscore`` depends on;
    * :meth:`replay_pscore`: ``pscore`` (R*T, N) with gradients from fresh network outputs;
    * :meth:`box_loss`: the tracker's own box losses on the recorded crops (visible frames).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from ltr.data.crop import boxes_to_crop_frame
from pytracking.tracker.common.siamese_core import SearchResult, SiameseCore
from slt_plugins.adapter import LossOutput, ReplayRecords, StepOutput
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
        scst_weight: weight of the self-critical term (0 gives the '+SS' ablation).
        box_weight: weight of the tracker's own box losses on the sampled crops.
        scst_reduction: see :func:`slt_plugins.scst.scst_loss`.
    """

    def __init__(self, core: SiameseCore, policy: Any, scst_weight: float = 1.0, box_weight: float = 1.0,
                 scst_reduction: str = "mean"):
        self.core = core
        self.policy = policy
        self.scst_weight = float(scst_weight)
        self.box_weight = float(box_weight)
        self.scst_reduction = scst_reduction
        #: Runs the replay network pass; the SLT trainer replaces it by a DDP wrapper when distributed.
        self.replay_module: torch.nn.Module = SiameseReplayNet(core)

    @property
    def net(self) -> torch.nn.Module:
        return self.core.net

    # ------------------------------------------------------------------ hooks
    def record_constants(self, result: SearchResult) -> Dict[str, torch.Tensor]:
        return {}

    def replay_pscore(self, outputs: Any, steps: Dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def box_loss(self, outputs: Any, gt_crop_xywh: torch.Tensor, visible: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Returns {'total': weighted sum, <term>: value, ...} over the visible frames."""
        raise NotImplementedError

    # ------------------------------------------------------------------ protocol
    def initialize(self, frames, boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        template_input = self.core.initialize(frames, boxes_xywh, start_boxes_xywh)
        return {"template": template_input}

    def step(self, frames, sample_mask: torch.Tensor, generator, gt_xywh: torch.Tensor) -> StepOutput:
        result = self.core.search(frames)
        pscore = result.candidates.pscore
        greedy = self.core.argmax(result)
        actions, log_prob = self.policy.select(pscore, sample_mask, generator)
        # Argmax trackers take exactly the test-time choice (no tie-breaking through the policy).
        mask = sample_mask.to(actions.device)
        actions = torch.where(mask, actions, greedy)
        boxes = self.core.commit(result, actions)
        gt_crop = boxes_to_crop_frame(gt_xywh.to(result.crop_center_xy), result.crop_center_xy,
                                      result.crop_side, self.core.search_size)
        record = {"search": result.search_input, "action": actions, "gt_crop": gt_crop.float()}
        record.update(self.record_constants(result))
        return StepOutput(boxes_xywh=boxes.float(), actions=actions, record=record, log_prob=log_prob,
                          greedy_actions=greedy)

    def replay_loss(self, records: ReplayRecords, advantage: torch.Tensor) -> LossOutput:
        R, T = records.num_rollouts, records.num_steps
        steps = {k: v.flatten(0, 1) for k, v in records.steps.items()}  # (R*T, ...)
        outputs = self.replay_module(records.init["template"], steps["search"], T)
        pscore = self.replay_pscore(outputs, steps)
        log_p = self.policy.log_probs(pscore).gather(1, steps["action"].long().view(-1, 1)).view(R, T)
        scst = scst_loss(log_p, advantage.to(log_p), reduction=self.scst_reduction)
        visible = records.visible.reshape(-1).to(log_p.device)
        box_terms = self.box_loss(outputs, steps["gt_crop"], visible)
        total = self.scst_weight * scst + self.box_weight * box_terms["total"]
        stats = {f"Loss/box_{k}": float(v) for k, v in box_terms.items() if k != "total"}
        stats["logp/mean"] = float(log_p.detach().mean())
        return LossOutput(total=total, scst=scst.detach(), box=box_terms["total"].detach(), stats=stats)
