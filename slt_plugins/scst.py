"""Rewards of whole rollouts and the self-critical sequence training (SCST) loss.

Rewards compare a rollout's predicted boxes with the ground truth over an episode, both
``xywh`` in image pixels with shape (..., T, 4), and a visibility mask (..., T) bool.

Invisible frames do not count: every reward is computed over the frames where the
target is visible, and an episode without visible frames earns 0. The official SLT
code averages the IoU over all tracked frames, but its sampler only ever hands it
frames where the target is visible, so on such episodes both definitions agree; ours
also stays meaningful on episodes that include occlusions.

Self-critical advantage (Rennie et al. 2017, as used by SLT): the argmax rollout of the
same episode is the baseline, A = r_sample - r_argmax. With S > 1 sampled rollouts per
episode, ``baseline='mean'`` uses the mean reward of the S samples instead.

Every reward here is a visible-frame mean of a per-frame score (IoU for AO, success
indicators for SR and AUC), so it splits into per-frame parts. :func:`reward_to_go` gives
G_t, the part earned from frame t on (G_0 is the reward). Weighting log p(a_t) by
G_t(sample) - G_t(argmax) instead of the episode advantage (the actor's
``advantage='reward_to_go'``, not the official recipe) drops the frames before t, which
a_t cannot have influenced, from its weight: the same expected gradient, less variance.

Loss averaging (checked against byminji/SLTtrack, ``train_slt.py`` and the TransT/TrDiMP
SLT actors): the official loss is ``(-A_r * log p(a_rt)).mean()`` over every (rollout,
frame) term, i.e. L = -1/(R T) * sum_r A_r sum_t log p(a_rt), a mean over frames rather
than the sum over t written in the paper. ``scst_loss(..., reduction='mean')`` (the
default) reproduces it; ``reduction='sum'`` sums over frames and averages over rollouts
(the paper's formula; T times larger, so it needs a T times smaller loss weight).
The official loss weights on top of this mean are 15 (TransT), 4 (TrDiMP) and 1
(SiamRPN++ and SiamAttn, ``TRAIN.CLS_WEIGHT``).
"""
from __future__ import annotations

from typing import Optional

import torch

from slt_plugins.registry import register

__all__ = ["iou_xywh", "average_overlap", "success_auc", "success_rate", "sr50", "sr75",
           "SUCCESS_THRESHOLDS", "FRAME_SCORES", "require_frame_split", "reward_to_go",
           "self_critical_advantage", "scst_loss", "visible_mean"]

#: Overlap thresholds 0, 0.05, ..., 1 of the success plot (OTB/LaSOT convention).
SUCCESS_THRESHOLDS = torch.linspace(0.0, 1.0, 21, dtype=torch.float64)


def iou_xywh(pred_xywh: torch.Tensor, gt_xywh: torch.Tensor) -> torch.Tensor:
    """Element-wise IoU of boxes (..., 4) ``xywh`` in pixels -> (...); 0 where the union is empty."""
    px1, py1 = pred_xywh[..., 0], pred_xywh[..., 1]
    px2, py2 = px1 + pred_xywh[..., 2].clamp_min(0), py1 + pred_xywh[..., 3].clamp_min(0)
    gx1, gy1 = gt_xywh[..., 0], gt_xywh[..., 1]
    gx2, gy2 = gx1 + gt_xywh[..., 2].clamp_min(0), gy1 + gt_xywh[..., 3].clamp_min(0)
    iw = (torch.minimum(px2, gx2) - torch.maximum(px1, gx1)).clamp_min(0)
    ih = (torch.minimum(py2, gy2) - torch.maximum(py1, gy1)).clamp_min(0)
    inter = iw * ih
    union = (px2 - px1) * (py2 - py1) + (gx2 - gx1) * (gy2 - gy1) - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def _visible_shares(values: torch.Tensor, visible: Optional[torch.Tensor]) -> torch.Tensor:
    """(..., T) each frame's part of the mean of ``values`` over the frames where ``visible``
    (..., T) is True: value / (visible frames), 0 on invisible frames and where none is visible."""
    if visible is None:
        return values / values.shape[-1]
    vis = visible.to(device=values.device).bool().expand_as(values)
    count = vis.sum(dim=-1, keepdim=True).clamp_min(1).to(values.dtype)
    # where, not a product: a score on a hidden frame may be NaN (no box there) and must not leak
    return torch.where(vis, values, torch.zeros_like(values)) / count


def visible_mean(values: torch.Tensor, visible: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean of ``values`` (..., T) over the frames where ``visible`` (..., T) is True; 0 if none."""
    return _visible_shares(values, visible).sum(dim=-1)


def _success_frames(iou: torch.Tensor, threshold: float) -> torch.Tensor:
    """(..., T) 1 where ``IoU > threshold``, else 0."""
    return (iou > threshold).to(iou.dtype)


def _success_auc_frames(iou: torch.Tensor) -> torch.Tensor:
    """(..., T) per frame, the fraction of thresholds 0:0.05:1 that the IoU exceeds."""
    thr = SUCCESS_THRESHOLDS.to(device=iou.device, dtype=iou.dtype)
    return (iou.unsqueeze(-1) > thr).to(iou.dtype).mean(dim=-1)


#: Per-frame score behind each registered reward: reward = mean of the score over visible frames.
#: Each maps the (..., T) IoU of a rollout to (..., T) scores.
FRAME_SCORES = {
    "ao": lambda iou: iou,
    "auc": _success_auc_frames,
    "sr50": lambda iou: _success_frames(iou, 0.5),
    "sr75": lambda iou: _success_frames(iou, 0.75),
}


@register("reward", "ao")
def average_overlap(pred_xywh: torch.Tensor, gt_xywh: torch.Tensor,
                    visible: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Average overlap (AO): mean IoU over the visible frames of each rollout.

    Args:
        pred_xywh: (..., T, 4) predicted boxes, image pixels.
        gt_xywh: (..., T, 4) ground truth, image pixels (broadcast against ``pred_xywh``).
        visible: (..., T) bool; None counts every frame.

    Returns:
        (...) float rewards in [0, 1].
    """
    return visible_mean(iou_xywh(pred_xywh, gt_xywh), visible)


@register("reward", "auc")
def success_auc(pred_xywh: torch.Tensor, gt_xywh: torch.Tensor,
                visible: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Area under the success curve: mean over thresholds 0:0.05:1 of the fraction of visible
    frames whose IoU exceeds the threshold (``IoU > thr``). Shapes as :func:`average_overlap`."""
    return visible_mean(_success_auc_frames(iou_xywh(pred_xywh, gt_xywh)), visible)


def success_rate(pred_xywh: torch.Tensor, gt_xywh: torch.Tensor,
                 visible: Optional[torch.Tensor] = None, threshold: float = 0.5) -> torch.Tensor:
    """Fraction of visible frames with ``IoU > threshold``. Shapes as :func:`average_overlap`."""
    return visible_mean(_success_frames(iou_xywh(pred_xywh, gt_xywh), threshold), visible)


@register("reward", "sr50")
def sr50(pred_xywh: torch.Tensor, gt_xywh: torch.Tensor, visible: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Success rate at IoU threshold 0.5."""
    return success_rate(pred_xywh, gt_xywh, visible, threshold=0.5)


@register("reward", "sr75")
def sr75(pred_xywh: torch.Tensor, gt_xywh: torch.Tensor, visible: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Success rate at IoU threshold 0.75."""
    return success_rate(pred_xywh, gt_xywh, visible, threshold=0.75)


def require_frame_split(reward: object) -> None:
    """Raise ValueError unless ``reward`` names a reward of :data:`FRAME_SCORES` (a custom reward
    callable has no known per-frame split, so it has no reward-to-go)."""
    if not isinstance(reward, str) or reward not in FRAME_SCORES:
        raise ValueError(f"reward-to-go needs a reward with a per-frame split, one of {sorted(FRAME_SCORES)}; "
                         f"got {reward!r}.")


def reward_to_go(reward: str, pred_xywh: torch.Tensor, gt_xywh: torch.Tensor,
                 visible: Optional[torch.Tensor] = None) -> torch.Tensor:
    """G_t: the part of the reward ``reward`` earned from frame t to the end, (..., T).

    G_t = sum over visible frames u >= t of score_u / (visible frames of the episode), so G_0
    equals the reward itself. Shapes as :func:`average_overlap`.

    Raises:
        ValueError: see :func:`require_frame_split`.
    """
    require_frame_split(reward)
    parts = _visible_shares(FRAME_SCORES[reward](iou_xywh(pred_xywh, gt_xywh)), visible)
    return parts.flip(-1).cumsum(dim=-1).flip(-1)


def self_critical_advantage(r_sample: torch.Tensor, r_argmax: torch.Tensor,
                            baseline: str = "argmax") -> torch.Tensor:
    """Advantage of each sampled rollout over its episode's baseline.

    Args:
        r_sample: (k, S) rewards of S sampled rollouts of each of k episodes, or (k, S, T)
            per-frame rewards-to-go (:func:`reward_to_go`).
        r_argmax: (k,) rewards of the argmax rollout of each episode, or (k, T).
        baseline: 'argmax' (SLT: A = r_sample - r_argmax) or 'mean' (A = r_sample minus the
            mean of the episode's S sample rewards; needs S >= 2 and ignores ``r_argmax``;
            the gradient is (S-1)/S times an unbiased one).

    Returns:
        Advantages shaped like ``r_sample`` (no gradient).
    """
    r_sample = r_sample.detach()
    if r_sample.dim() not in (2, 3):
        raise ValueError(f"r_sample must be (k, S) or (k, S, T), got {tuple(r_sample.shape)}.")
    if baseline == "argmax":
        r_argmax = r_argmax.detach().to(r_sample)
        if r_argmax.shape != (r_sample.shape[0],) + tuple(r_sample.shape[2:]):
            raise ValueError(f"r_argmax {tuple(r_argmax.shape)} does not match r_sample {tuple(r_sample.shape)}.")
        return r_sample - r_argmax.unsqueeze(1)
    if baseline == "mean":
        if r_sample.shape[1] < 2:
            raise ValueError("baseline='mean' needs at least 2 sampled rollouts per episode.")
        return r_sample - r_sample.mean(dim=1, keepdim=True)
    raise ValueError(f"baseline must be 'argmax' or 'mean', got {baseline!r}.")


def scst_loss(log_probs: torch.Tensor, advantage: torch.Tensor, reduction: str = "mean",
              mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Self-critical REINFORCE loss -A * sum_t log p(a_t), averaged over rollouts.

    Args:
        log_probs: (..., T) log p of the actions each rollout took, with gradients
            (e.g. (k, S, T) or (R, T)).
        advantage: (...) advantage per rollout, or (..., T) per frame (reward-to-go
            advantages: frame t's term is then -A_rt log p(a_rt)); treated as a constant.
        reduction: 'mean' (official SLT: mean over every rollout-frame term,
            -1/(R T) sum_r A_r sum_t log p), 'sum' (sum over frames, mean over rollouts:
            -1/R sum_r A_r sum_t log p) or 'none' ((...) per-rollout -A_r sum_t log p).
        mask: optional (..., T) bool; frames where it is False contribute nothing and,
            for 'mean', are not counted.

    Returns:
        A scalar (or (...) for 'none').
    """
    adv = advantage.detach().to(log_probs)
    if adv.shape != log_probs.shape:
        adv = adv.unsqueeze(-1)
    terms = -adv * log_probs
    if mask is not None:
        terms = terms * mask.to(terms)
    if reduction == "none":
        return terms.sum(dim=-1)
    if reduction == "sum":
        return terms.sum(dim=-1).mean()
    if reduction == "mean":
        if mask is None:
            return terms.mean()
        return terms.sum() / mask.to(terms).sum().clamp_min(1.0)
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
