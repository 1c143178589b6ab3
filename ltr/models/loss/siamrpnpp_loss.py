"""SiamRPN++ training loss: balanced cross-entropy on sampled anchors + weighted L1 on box deltas.

total = cls_weight * cls_loss + loc_weight * loc_loss, with the official weights 1.0 / 1.2.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["log_softmax_cls", "select_cross_entropy_loss", "weight_l1_loss", "SiamRPNLossTerms", "siamrpn_loss"]


def log_softmax_cls(cls: torch.Tensor) -> torch.Tensor:
    """Head logits (B, 2A, S, S) in layout [background a0.., foreground a0..] -> (B, A, S, S, 2) log-probs.

    The last dimension is (background, foreground).
    """
    b, a2, h, w = cls.shape
    return F.log_softmax(cls.view(b, 2, a2 // 2, h, w).permute(0, 2, 3, 4, 1), dim=-1)


def _mean_nll(log_probs: torch.Tensor, mask: torch.Tensor, label: int) -> torch.Tensor:
    """Mean of -log p(label) over anchors selected by ``mask``; a differentiable 0 if none are selected."""
    n = mask.sum()
    picked = log_probs[..., label][mask]
    return -picked.sum() / n.clamp_min(1).to(picked.dtype)


def select_cross_entropy_loss(log_probs: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """0.5 * mean NLL over positive anchors + 0.5 * mean NLL over negative anchors.

    log_probs: (B, A, S, S, 2) from ``log_softmax_cls``; label: (B, A, S, S) with 1 / 0 / -1.
    Means are over the whole batch (as in the official loss). Unlike the official code,
    an empty set contributes exactly 0 instead of NaN.
    """
    return 0.5 * _mean_nll(log_probs, label == 1, 1) + 0.5 * _mean_nll(log_probs, label == 0, 0)


def weight_l1_loss(loc: torch.Tensor, label_loc: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """sum(|loc - label_loc| summed over the 4 deltas * weight) / B.

    loc: (B, 4A, S, S) head deltas; label_loc: (B, 4, A, S, S); weight: (B, A, S, S).
    """
    b, _, h, w = loc.shape
    diff = (loc.view(b, 4, -1, h, w) - label_loc).abs().sum(1)
    return (diff * weight).sum() / b


@dataclass
class SiamRPNLossTerms:
    """Weighted total and the unweighted classification / localisation terms (scalars)."""

    total: torch.Tensor
    cls: torch.Tensor
    loc: torch.Tensor


def siamrpn_loss(cls: torch.Tensor, loc: torch.Tensor, label_cls: torch.Tensor, label_loc: torch.Tensor,
                 label_loc_weight: torch.Tensor, cls_weight: float = 1.0, loc_weight: float = 1.2) -> SiamRPNLossTerms:
    """SiamRPN++ loss of head outputs against ``AnchorTarget`` targets.

    Args:
        cls: (B, 2A, S, S) logits; loc: (B, 4A, S, S) deltas (raw head outputs).
        label_cls: (B, A, S, S) 1 / 0 / -1; label_loc: (B, 4, A, S, S); label_loc_weight: (B, A, S, S).
        cls_weight, loc_weight: official TRAIN.CLS_WEIGHT 1.0 and TRAIN.LOC_WEIGHT 1.2.
    """
    c = select_cross_entropy_loss(log_softmax_cls(cls), label_cls)
    l = weight_l1_loss(loc, label_loc, label_loc_weight)
    return SiamRPNLossTerms(total=cls_weight * c + loc_weight * l, cls=c, loc=l)
