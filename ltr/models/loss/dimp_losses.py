"""Losses of the DiMP family (TrDiMP, SuperDiMP): the classifier's hinge loss and the IoU-Net's KL loss.

* :class:`LBHinge` trains the target classifier's score maps against Gaussian labels. Cells
  whose label is below ``threshold`` are background: a negative prediction there costs nothing
  (only positive scores are pushed down), so the filter is not forced to reproduce the
  exact Gaussian tail. Cells at or above the threshold are regressed to the label (MSE).
* :class:`KLRegression` trains the IoU-Net as a conditional density over boxes (PrDiMP,
  Danelljan et al. CVPR 2020): with proposals ``y_i`` drawn from a known density ``q`` and a
  label density ``p`` (a Gaussian around the ground truth), the KL divergence between ``p`` and
  the predicted density ``exp(s(y)) / Z`` is estimated by Monte Carlo as
  ``log(mean_i exp(s_i) / q_i) - mean_i s_i p_i / q_i`` (the constant entropy of ``p`` dropped).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LBHinge", "KLRegression", "lb_hinge", "kl_regression"]


def lb_hinge(prediction: torch.Tensor, label: torch.Tensor, threshold: float = -100.0,
             clip: Optional[float] = None) -> torch.Tensor:
    """Mean squared error with a hinge on the background cells (see the module docstring).

    Args:
        prediction: score maps of any shape.
        label: label maps of the same shape (Gaussian, peak 1).
        threshold: cells with ``label < threshold`` are background. The default -100 disables
            the hinge (plain MSE), as the reference does when no threshold is given.
        clip: optional upper bound of the returned loss.

    Returns:
        Scalar loss.
    """
    negative = (label < threshold).to(prediction.dtype)
    positive = 1.0 - negative
    # Background cells only see their positive part, so negative scores there are free.
    hinged = negative * F.relu(prediction) + positive * prediction
    loss = F.mse_loss(hinged, positive * label)
    if clip is not None:
        loss = torch.clamp(loss, max=float(clip))
    return loss


class LBHinge(nn.Module):
    """Module form of :func:`lb_hinge` (TrDiMP trains with ``threshold=0.05``).

    ``forward(prediction, label, target_bb=None)``; the box argument is accepted for interface
    compatibility with the reference losses and ignored.
    """

    def __init__(self, threshold: Optional[float] = None, clip: Optional[float] = None) -> None:
        super().__init__()
        self.threshold = -100.0 if threshold is None else float(threshold)
        self.clip = clip

    def forward(self, prediction: torch.Tensor, label: torch.Tensor,
                target_bb: Optional[torch.Tensor] = None) -> torch.Tensor:
        return lb_hinge(prediction, label, self.threshold, self.clip)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, clip={self.clip}"


def kl_regression(scores: torch.Tensor, sample_density: torch.Tensor, gt_density: torch.Tensor,
                  mc_dim: int = -1, eps: float = 0.0) -> torch.Tensor:
    """Monte-Carlo KL divergence between the label density and the predicted density.

    Args:
        scores: predicted (unnormalised log-density) values of the samples, e.g. (N, P).
        sample_density: density of the proposal distribution at each sample, same shape.
        gt_density: density of the label distribution at each sample, same shape.
        mc_dim: dimension holding the Monte-Carlo samples.
        eps: added to ``sample_density`` (0 in the reference).

    Returns:
        The estimate averaged over all other dimensions (scalar).
    """
    density = sample_density + eps
    log_partition = torch.logsumexp(scores - torch.log(density), dim=mc_dim) - math.log(scores.shape[mc_dim])
    cross = torch.mean(scores * (gt_density / density), dim=mc_dim)
    return (log_partition - cross).mean()


class KLRegression(nn.Module):
    """Module form of :func:`kl_regression` (the IoU-Net loss ``bb_ce`` of TrDiMP / PrDiMP)."""

    def __init__(self, eps: float = 0.0) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, scores: torch.Tensor, sample_density: torch.Tensor, gt_density: torch.Tensor,
                mc_dim: int = -1) -> torch.Tensor:
        return kl_regression(scores, sample_density, gt_density, mc_dim=mc_dim, eps=self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"
