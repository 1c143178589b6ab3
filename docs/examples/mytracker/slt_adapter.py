"""The SLT adapter of the example tracker, registered as ``mytracker``.

It implements :class:`slt_plugins.adapter.SLTAdapter` on top of the same
:class:`~docs.examples.mytracker.model.MyTrackerCore` the test-time tracker runs, and the
classmethod ``from_settings(net, policy, settings)`` through which the generic SLT setting
(``ltr/run_training.py generic slt``) builds every adapter.

Loss of one replay: ``scst_weight * SCST + box_weight * offset L1`` on the crops the sampling
rollouts saw; with ``so_mode='add'`` the frame-level cross-entropy stays beside SCST.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch

from slt_plugins.adapter import Frames, Generators, LossOutput, ReplayRecords, StepOutput
from slt_plugins.registry import register
from slt_plugins.scst import scst_loss

from .model import WINDOW_INFLUENCE, MyTrackerCore, MyTrackerNet, classification_loss, offset_loss

__all__ = ["MyTrackerSLTAdapter"]


@register("adapter", "mytracker")
class MyTrackerSLTAdapter:
    """B lockstep trackers for SLT; explore and replay share the test-time post-processing.

    Args:
        net: the network being trained (exposed as ``net``; the SLT actor sets its mode).
        policy: the candidate distribution (the actor may replace ``self.policy``).
        scst_weight: weight of the self-critical term.
        box_weight: weight of the offset L1 on the sampled crops.
        so_mode: 'replace' (SCST replaces the cross-entropy, the paper) or 'add' (keep it).
        device: where crops and state live.
    """

    #: Keys of the generic setting's ``adapter_options`` this adapter reads (it needs none: the shared
    #: fields scst_weight, box_weight and so_mode cover its loss).
    OPTIONS: Tuple[str, ...] = ()

    def __init__(self, net: MyTrackerNet, policy: object, scst_weight: float = 1.0, box_weight: float = 1.0,
                 so_mode: str = "replace", device: Union[str, torch.device] = "cpu"):
        if so_mode not in ("replace", "add"):
            raise ValueError(f"so_mode must be 'replace' or 'add', got {so_mode!r}.")
        self.net = net
        self.policy = policy
        self.scst_weight = float(scst_weight)
        self.box_weight = float(box_weight)
        self.so_mode = so_mode
        self.core = MyTrackerCore(net, WINDOW_INFLUENCE, device=device)

    @classmethod
    def from_settings(cls, net: MyTrackerNet, policy: object, settings: Any) -> "MyTrackerSLTAdapter":
        """The adapter the generic SLT setting trains, from the fields ``scst_weight``, ``box_weight``,
        ``so_mode`` and ``device``; ``adapter_options`` must hold only keys of :attr:`OPTIONS`."""
        options: Mapping[str, Any] = settings.adapter_options or {}
        unknown = sorted(set(options) - set(cls.OPTIONS))
        if unknown:
            raise ValueError(f"adapter_options {dict(options)}: mytracker's adapter has no option {unknown}; "
                             f"its options are {list(cls.OPTIONS)}.")
        return cls(net, policy, scst_weight=settings.scst_weight, box_weight=settings.box_weight,
                   so_mode=settings.so_mode, device=settings.device)

    def initialize(self, frames: Frames, boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        return self.core.initialize(frames, boxes_xywh, start_boxes_xywh)

    def step(self, frames: Frames, sample_mask: torch.Tensor, generator: Generators,
             gt_xywh: torch.Tensor) -> StepOutput:
        result = self.core.search(frames)
        actions, log_prob = self.policy.select(result.scores, sample_mask, generator)
        greedy = self.policy.log_probs(result.scores).argmax(dim=-1)
        # the ground truth in the frame of the crop the tracker saw, before its state moves
        record = {"search_crop": result.crops, "action": actions, "gt_crop_xywh": result.to_crop(gt_xywh)}
        boxes = self.core.commit(result, actions)
        return StepOutput(boxes_xywh=boxes, actions=actions, record=record, log_prob=log_prob,
                          greedy_actions=greedy)

    def replay_loss(self, records: ReplayRecords, advantage: torch.Tensor) -> LossOutput:
        device = self.core.device
        template = records.init["template_crop"].to(device)
        search = records.steps["search_crop"].to(device)
        r, t = search.shape[:2]
        template = template.unsqueeze(1).expand(r, t, *template.shape[1:]).flatten(0, 1)
        logits, offsets = self.net(template, search.flatten(0, 1))
        log_p = self.policy.log_probs(self.core.postprocess(logits))
        actions = records.steps["action"].to(device).reshape(r * t, 1)
        scst = scst_loss(log_p.gather(1, actions).view(r, t), advantage.to(device))

        gt = records.steps["gt_crop_xywh"].to(device).flatten(0, 1)
        visible = records.visible.to(device).flatten()
        box = self.box_weight * offset_loss(offsets, gt, visible)
        if self.so_mode == "add":
            box = box + classification_loss(logits, gt, visible)
        total = self.scst_weight * scst + box
        return LossOutput(total=total, scst=scst.detach(), box=box.detach())
