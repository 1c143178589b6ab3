"""The SLT actor: explore episodes with argmax and sampling trackers, then replay with gradients.

One SLT iteration on k episodes with S sampled rollouts each (S = ``num_samples``):

1. ``explore``: B = k (1 + S) trackers run in lockstep through the episodes' frames without
   gradients: one ``adapter.initialize`` call for all B templates and one ``adapter.step``
   call per frame for all B trackers. Tracker row ``s * k + i`` runs episode ``i``; ``s = 0``
   is the argmax tracker, ``s = 1..S`` are sampling trackers.
2. Rewards per rollout (AO by default), advantage = r_sample - r_argmax per episode.
3. ``replay``: the adapter re-runs the network with gradients on the sampling trackers'
   recorded crops, in chunks of ``chunk_size`` rollouts; each chunk's loss is weighted by
   its share of rollouts and back-propagated at once, so the accumulated gradient equals
   that of one big batch while memory stays bounded. Under DDP, pass ``no_sync_ctx``
   (e.g. ``ddp_model.no_sync``) so all chunks but the last skip the gradient all-reduce.

Random numbers: one draw from the caller's generator gives each sampling rollout its own
seed, and every random number of that rollout comes from a generator seeded with it. A
rollout therefore does not depend on which other rollouts share its batch, and
``explore`` (all rollouts batched) equals ``explore_sequential`` (one rollout at a time)
up to floating-point differences between batched and single network evaluations.

Network mode: the actor is the one owner of the network's module mode during SLT. Before
explore and before replay it puts ``adapter.net`` in :attr:`SLTActor.mode` (eval by default:
frozen normalisation statistics, no dropout), so log p(a) in replay is the probability of the
action explore took under the same network; trainers and adapters leave the mode alone.

Persistent random state: an adapter whose random sources carry over between iterations (e.g.
TrDiMP's replay-time proposal generator) exposes them through the optional
``persistent_generators()`` hook (:class:`slt_plugins.adapter.PersistentGenerators`);
:meth:`SLTActor.rng_state` collects their states for checkpoints and
:meth:`SLTActor.load_rng_state` restores them on resume.

Episode start: with ``start='first_frame'`` (the official SLT recipe) each tracker takes
its template from the template frame, starts from the ground truth of the first search
frame and tracks the remaining T - 1 frames; with ``start='template'`` it starts from the
template box and tracks all T frames.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Dict, List, Optional, Sequence, Union

import torch

from slt_plugins.adapter import (LossOutput, ReplayRecords, SLTAdapter, adapter_generators, index_records,
                                 stack_records)
from slt_plugins.policy import require_candidate_support
from slt_plugins.registry import get
from slt_plugins.sampler import Episode
from slt_plugins.scst import iou_xywh, require_frame_split, reward_to_go, self_critical_advantage, visible_mean

__all__ = ["Rollouts", "SLTActor"]

RewardFn = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


@dataclass
class Rollouts:
    """The result of exploring k episodes with 1 argmax and S sampling trackers each.

    Tracker rows are ordered ``s * k + i`` (episode ``i``, ``s = 0`` argmax, ``s >= 1`` sample);
    replay records hold only the R = k S sampling rows, ordered ``(s - 1) * k + i``.

    Attributes:
        num_episodes: k.
        num_samples: S.
        pred_boxes_xywh: (B, T', 4) float, each tracker's boxes in image pixels, B = k (1 + S),
            T' the number of tracked frames.
        actions: (B, T') long, chosen candidates.
        greedy_actions: (B, T') long argmax candidates of each tracker's own distribution, or None.
        gt_boxes_xywh: (k, T', 4) float, ground truth in image pixels.
        visible: (k, T') bool.
        iou: (B, T') float, IoU of each tracked frame.
        rewards: (B,) float, reward of each rollout.
        advantage: (k, S) float, self-critical advantage of each sampling rollout, or (k, S, T')
            per frame with ``advantage='reward_to_go'`` (frame 0 holds the episode advantage).
        records: what the sampling trackers recorded, R = k S rows.
        stats: explore statistics.
    """

    num_episodes: int
    num_samples: int
    pred_boxes_xywh: torch.Tensor
    actions: torch.Tensor
    greedy_actions: Optional[torch.Tensor]
    gt_boxes_xywh: torch.Tensor
    visible: torch.Tensor
    iou: torch.Tensor
    rewards: torch.Tensor
    advantage: torch.Tensor
    records: ReplayRecords
    stats: Dict[str, float] = field(default_factory=dict)

    @property
    def record_advantage(self) -> torch.Tensor:
        """(R,) advantage of each record row (or (R, T') per frame), in record order ``(s - 1) * k + i``."""
        return self.advantage.transpose(0, 1).reshape(-1, *self.advantage.shape[2:])


class SLTActor:
    """Sequence-level training actor, independent of the tracker behind ``adapter``.

    Args:
        adapter: the tracker's :class:`~slt_plugins.adapter.SLTAdapter`.
        policy: candidate distribution; if given it replaces ``adapter.policy`` (the adapter
            must read ``self.policy`` when it selects and replays), otherwise the adapter's own is used.
        reward: registered reward name ('ao', 'auc', 'sr50', 'sr75') or a callable
            ``(pred (..., T, 4), gt (..., T, 4), visible (..., T)) -> (...)``.
        num_samples: S, sampling rollouts per episode.
        chunk_size: sampling rollouts per replay chunk (None: all at once). Official SLT:
            2 (TransT), 4 (TrDiMP) episodes per backward.
        baseline: 'argmax' (self-critical) or 'mean' (mean reward of the S samples, S >= 2).
        advantage: 'episode' (official: every frame of a rollout weighted by the episode's
            advantage) or 'reward_to_go' (frame t weighted by the difference of the rewards
            earned from t on; needs a registered reward, see :func:`slt_plugins.scst.reward_to_go`).
        start: 'first_frame' (official) or 'template'; see the module docstring.
        backward_in_replay: True to back-propagate chunk by chunk inside ``replay`` (the
            returned ``total`` is then detached and ``backward_done`` is True); False to
            return one differentiable ``total`` for the caller to back-propagate.
        mode: the module mode ``adapter.net`` is put in before explore and before replay:
            'eval' (default; frozen normalisation statistics, no dropout) or 'train'. With
            'train', BatchNorm normalises with the statistics of each batch and dropout draws
            fresh masks, which differ between explore's B trackers and replay's chunks, so
            replay's log p(a) is then not exactly explore's.
    """

    #: The module modes :attr:`mode` accepts.
    MODES = ("eval", "train")

    def __init__(self, adapter: SLTAdapter, policy: Optional[object] = None,
                 reward: Union[str, RewardFn] = "ao", num_samples: int = 1, chunk_size: Optional[int] = None,
                 baseline: str = "argmax", start: str = "first_frame", backward_in_replay: bool = True,
                 advantage: str = "episode", mode: str = "eval"):
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}.")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be positive or None, got {chunk_size}.")
        if baseline not in ("argmax", "mean"):
            raise ValueError(f"baseline must be 'argmax' or 'mean', got {baseline!r}.")
        if baseline == "mean" and num_samples < 2:
            raise ValueError("baseline='mean' needs num_samples >= 2.")
        if advantage not in ("episode", "reward_to_go"):
            raise ValueError(f"advantage must be 'episode' or 'reward_to_go', got {advantage!r}.")
        if advantage == "reward_to_go":
            require_frame_split(reward)
        if start not in ("first_frame", "template"):
            raise ValueError(f"start must be 'first_frame' or 'template', got {start!r}.")
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}.")
        self.adapter = adapter
        if policy is not None:
            adapter.policy = policy
        if getattr(adapter, "policy", None) is None:
            raise ValueError("No candidate policy: pass policy= or give the adapter a .policy.")
        # a restricted candidate set (local maxima) needs an adapter that passes its score map's grid
        require_candidate_support(adapter, adapter.policy)
        self.reward_name = reward if isinstance(reward, str) else getattr(reward, "__name__", "custom")
        self.reward_fn: RewardFn = get("reward", reward) if isinstance(reward, str) else reward
        self.num_samples = int(num_samples)
        self.chunk_size = chunk_size
        self.baseline = baseline
        self.advantage = advantage
        self.start = start
        self.backward_in_replay = backward_in_replay
        self.mode = mode

    @property
    def policy(self) -> object:
        return self.adapter.policy

    # ------------------------------------------------------------------ state
    def set_network_mode(self) -> None:
        """Put ``adapter.net`` in :attr:`mode`; explore and replay call it before they run the network.

        An adapter without a ``net`` module is left alone (it then keeps its network's mode itself).
        """
        if self.mode not in self.MODES:
            raise ValueError(f"SLTActor.mode must be one of {self.MODES}, got {self.mode!r}.")
        net = getattr(self.adapter, "net", None)
        if isinstance(net, torch.nn.Module):
            net.train(self.mode == "train")

    def rng_state(self) -> Dict[str, torch.Tensor]:
        """States of the adapter's persistent generators, by name (empty: the adapter has none).

        Plain tensors, so they go into a ``weights_only`` checkpoint as they are.
        """
        return {name: gen.get_state() for name, gen in adapter_generators(self.adapter).items()}

    def load_rng_state(self, state: Dict[str, torch.Tensor]) -> None:
        """Restore states saved by :meth:`rng_state`.

        Raises:
            ValueError: the state names a generator the adapter does not have (a checkpoint of
                another tracker or adapter version); generators the state lacks keep their state.
        """
        generators = adapter_generators(self.adapter)
        unknown = sorted(set(state) - set(generators))
        if unknown:
            raise ValueError(f"The saved random state holds generators {unknown} that "
                             f"{type(self.adapter).__name__} does not have (it has {sorted(generators)}).")
        for name, value in state.items():
            generators[name].set_state(torch.as_tensor(value, dtype=torch.uint8))

    # ------------------------------------------------------------------ explore
    def explore(self, episodes: Sequence[Episode], generator: Optional[torch.Generator] = None) -> Rollouts:
        """Run all k (1 + S) rollouts in lockstep: one adapter call per frame for all trackers.

        Args:
            episodes: k episodes with the same number of frames T.
            generator: CPU generator all randomness is derived from (None: torch's global one).
        """
        return self._explore(episodes, generator, sequential=False)

    def explore_sequential(self, episodes: Sequence[Episode],
                           generator: Optional[torch.Generator] = None) -> Rollouts:
        """Like :meth:`explore` but one rollout at a time (reference and benchmark baseline).

        With the same generator state it takes the same actions as :meth:`explore`.
        """
        return self._explore(episodes, generator, sequential=True)

    def _explore(self, episodes: Sequence[Episode], generator: Optional[torch.Generator],
                 sequential: bool) -> Rollouts:
        episodes = list(episodes)
        if not episodes:
            raise ValueError("explore needs at least one episode.")
        num_frames = {ep.num_frames for ep in episodes}
        if len(num_frames) != 1:
            raise ValueError(f"All episodes of one batch need the same number of frames, got {sorted(num_frames)}.")
        T = num_frames.pop()
        first = 1 if self.start == "first_frame" else 0
        if T - first < 1:
            raise ValueError(f"Episodes of {T} frames leave nothing to track with start={self.start!r}.")
        k, S = len(episodes), self.num_samples
        B = k * (1 + S)
        tic = time.perf_counter()
        self.set_network_mode()

        # Per-rollout seeds, drawn once in a fixed order so a rollout never depends on the batch.
        seeds = torch.randint(0, 2 ** 62, (k, S), generator=generator, dtype=torch.int64)
        generators: List[Optional[torch.Generator]] = [None] * B
        for s in range(1, S + 1):
            for i in range(k):
                generators[s * k + i] = torch.Generator().manual_seed(int(seeds[i, s - 1]))
        sample_mask = torch.arange(B) >= k
        ep_of_row = [row % k for row in range(B)]

        template_boxes = torch.stack([episodes[i].template_box_xywh.float().reshape(4) for i in ep_of_row])
        gt = torch.stack([ep.boxes_xywh.float() for ep in episodes])  # (k, T, 4)
        visible = torch.stack([ep.visible.bool() for ep in episodes])  # (k, T)
        start_boxes = gt[ep_of_row, 0] if first == 1 else template_boxes

        groups = [[row] for row in range(B)] if sequential else [list(range(B))]
        results = [self._run_group(rows, episodes, ep_of_row, template_boxes, start_boxes, gt,
                                   sample_mask, generators, first) for rows in groups]

        # Assemble rows in order; all groups together cover rows 0..B-1 in increasing order.
        boxes = torch.cat([r["boxes"] for r in results])
        actions = torch.cat([r["actions"] for r in results])
        greedy = None
        if all(r["greedy"] is not None for r in results):
            greedy = torch.cat([r["greedy"] for r in results])
        sampled = [r for r in results if r["init"] is not None]
        init = _cat_records([r["init"] for r in sampled])
        steps = _cat_records([r["steps"] for r in sampled])
        rec_visible = visible[:, first:].repeat(S, 1)
        records = ReplayRecords(init=init, steps=steps, visible=rec_visible)

        gt_tracked = gt[:, first:]
        vis_tracked = visible[:, first:]
        pred = boxes.view(1 + S, k, T - first, 4)
        rewards = self.reward_fn(pred, gt_tracked.unsqueeze(0), vis_tracked.unsqueeze(0)).float()  # (1+S, k)
        advantage = self_critical_advantage(rewards[1:].t(), rewards[0], self.baseline)
        episode_advantage = advantage
        if self.advantage == "reward_to_go":
            to_go = reward_to_go(self.reward_name, pred, gt_tracked.unsqueeze(0), vis_tracked.unsqueeze(0))
            advantage = self_critical_advantage(to_go[1:].transpose(0, 1).float(), to_go[0].float(), self.baseline)
        iou = iou_xywh(pred, gt_tracked.unsqueeze(0))  # (1+S, k, T')
        miou = visible_mean(iou, vis_tracked.unsqueeze(0))  # (1+S, k)

        stats = {
            "reward/argmax": rewards[0].mean().item(),
            "reward/sample": rewards[1:].mean().item(),
            "mIoU/argmax": miou[0].mean().item(),
            "mIoU/sample": miou[1:].mean().item(),
            "advantage/mean": episode_advantage.mean().item(),
            "advantage/abs_mean": episode_advantage.abs().mean().item(),
            "time/explore": time.perf_counter() - tic,
        }
        if greedy is not None:
            differs = (actions[k:] != greedy[k:]).float()
            stats["actions/sample_differs"] = differs.mean().item()
        return Rollouts(num_episodes=k, num_samples=S, pred_boxes_xywh=boxes, actions=actions,
                        greedy_actions=greedy, gt_boxes_xywh=gt_tracked, visible=vis_tracked,
                        iou=iou.reshape(B, T - first), rewards=rewards.reshape(B), advantage=advantage,
                        records=records, stats=stats)

    def _run_group(self, rows: List[int], episodes: List[Episode], ep_of_row: List[int],
                   template_boxes: torch.Tensor, start_boxes: torch.Tensor, gt: torch.Tensor,
                   sample_mask: torch.Tensor, generators: List[Optional[torch.Generator]],
                   first: int) -> Dict[str, object]:
        """Initialise and step the trackers ``rows`` together; keep records of their sampling rows."""
        idx = torch.tensor(rows, dtype=torch.long)
        mask = sample_mask[idx]
        keep = torch.nonzero(mask, as_tuple=False).squeeze(1)
        # Sampling rows are one contiguous run in both explore layouts: slicing keeps the step
        # records as views, so they are copied once (by the final stack), not gathered first.
        keep_rows: Union[slice, torch.Tensor] = keep
        if keep.numel() > 0 and int(keep[-1]) - int(keep[0]) + 1 == keep.numel():
            keep_rows = slice(int(keep[0]), int(keep[-1]) + 1)
        gens = [generators[r] for r in rows]
        T = gt.shape[1]
        eps_rows = [ep_of_row[r] for r in rows]
        boxes, actions, greedy, step_records = [], [], [], []
        have_greedy = True
        with torch.no_grad():
            init = self.adapter.initialize([episodes[i].template_frame for i in eps_rows],
                                           template_boxes[idx], start_boxes[idx])
            init = init or {}
            for t in range(first, T):
                out = self.adapter.step([episodes[i].frames[t] for i in eps_rows], mask, gens,
                                        gt[eps_rows, t])
                boxes.append(out.boxes_xywh.detach().float().cpu())
                actions.append(out.actions.detach().long().cpu())
                if out.greedy_actions is None:
                    have_greedy = False
                else:
                    greedy.append(out.greedy_actions.detach().long().cpu())
                # keep only the sampling rows: argmax rollouts are never replayed
                step_records.append(index_records(out.record, _on_device(keep_rows, out.record)))
        return {
            "boxes": torch.stack(boxes, dim=1),
            "actions": torch.stack(actions, dim=1),
            "greedy": torch.stack(greedy, dim=1) if have_greedy else None,
            "init": index_records(init, _on_device(keep_rows, init)) if keep.numel() > 0 else None,
            "steps": stack_records(step_records) if keep.numel() > 0 else None,
        }

    # ------------------------------------------------------------------ replay
    def replay(self, rollouts: Rollouts, no_sync_ctx: Optional[Callable[[], ContextManager]] = None,
               backward: Optional[bool] = None) -> LossOutput:
        """Losses with gradients on the sampling rollouts' records, chunk by chunk.

        Args:
            rollouts: output of :meth:`explore`.
            no_sync_ctx: callable returning a context manager (e.g. ``ddp_model.no_sync``)
                entered around the forward and backward of every chunk but the last.
            backward: override ``backward_in_replay`` for this call.

        Returns:
            Losses averaged over all R sampling rollouts (chunk losses weighted by their
            share of rollouts); see ``backward_in_replay`` for whether ``total`` has a graph.
        """
        backward = self.backward_in_replay if backward is None else backward
        tic = time.perf_counter()
        self.set_network_mode()
        adv = rollouts.record_advantage
        R = adv.shape[0]
        chunk = self.chunk_size or R
        bounds = [(a, min(a + chunk, R)) for a in range(0, R, chunk)]
        total_graph: Optional[torch.Tensor] = None
        total = scst = box = 0.0
        stats: Dict[str, float] = {}
        for n, (a, b) in enumerate(bounds):
            w = (b - a) / R
            last = n == len(bounds) - 1
            ctx = no_sync_ctx() if (backward and no_sync_ctx is not None and not last) else contextlib.nullcontext()
            with ctx:
                out = self.adapter.replay_loss(rollouts.records.select(slice(a, b)), adv[a:b])
                if backward:
                    (out.total * w).backward()
            if not backward:
                total_graph = out.total * w if total_graph is None else total_graph + out.total * w
            total += w * float(out.total.detach())
            scst += w * float(out.scst.detach())
            box += w * float(out.box.detach())
            for key, value in out.stats.items():
                stats[key] = stats.get(key, 0.0) + w * float(value)
        stats.update({"Loss/total": total, "Loss/scst": scst, "Loss/box": box,
                      "time/replay": time.perf_counter() - tic})
        result_total = torch.tensor(total) if backward else total_graph
        return LossOutput(total=result_total, scst=torch.tensor(scst), box=torch.tensor(box),
                          stats=stats, backward_done=backward)

    def __call__(self, episodes: Sequence[Episode], generator: Optional[torch.Generator] = None,
                 no_sync_ctx: Optional[Callable[[], ContextManager]] = None) -> LossOutput:
        """Explore then replay; the returned stats hold both explore and loss statistics."""
        rollouts = self.explore(episodes, generator)
        loss = self.replay(rollouts, no_sync_ctx=no_sync_ctx)
        loss.stats = {**rollouts.stats, **loss.stats}
        return loss


def _cat_records(records: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Concatenate records of consecutive rows; a single record (batched explore) is used as is."""
    if len(records) == 1:
        return dict(records[0])
    return {key: torch.cat([rec[key] for rec in records]) for key in records[0]}


def _on_device(rows: Union[slice, torch.Tensor], record: Dict[str, torch.Tensor]) -> Union[slice, torch.Tensor]:
    return rows if isinstance(rows, slice) else rows.to(_device_of(record))


def _device_of(record: Dict[str, torch.Tensor]) -> torch.device:
    for value in record.values():
        return value.device
    return torch.device("cpu")
