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

TrDiMP's objective (:data:`TRDIMP_LOSS_WEIGHTS`) weights the KL loss ``bb_ce`` and three hinge
terms over the iterates of the filter optimiser (:func:`filter_iterate_terms`): the initial
filter (``test_init_clf``), the intermediate iterates (``test_iter_clf``, their mean) and the
final filter (``test_clf``).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LBHinge", "KLRegression", "lb_hinge", "kl_regression", "filter_iterate_terms",
           "TRDIMP_LOSS_WEIGHTS", "TRDIMP_CLASSIFIER_TERMS", "TRDIMP_HINGE_THRESHOLD"]

#: Loss weights of TrDiMP's frame-level training (SLTtrack ``ltr/train_settings/trdimp/trdimp.py``).
TRDIMP_LOSS_WEIGHTS: Dict[str, float] = {"bb_ce": 0.01, "test_clf": 100.0, "test_init_clf": 100.0,
                                         "test_iter_clf": 400.0}

#: The target classifier's terms of :data:`TRDIMP_LOSS_WEIGHTS` (see :func:`filter_iterate_terms`).
TRDIMP_CLASSIFIER_TERMS = ("test_clf", "test_init_clf", "test_iter_clf")

#: Label value below which TrDiMP's hinge loss treats a cell as background.
TRDIMP_HINGE_THRESHOLD = 0.05


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


def filter_iterate_terms(iterate_losses: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The classifier terms of DiMP training from the losses of each filter iterate.

    Args:
        iterate_losses: one scalar loss per filter iterate, the initial filter first and the
            final filter last (at least one).

    Returns:
        ``test_init_clf`` (initial filter), ``test_clf`` (final filter) and, with at least one
        intermediate iterate, ``test_iter_clf``: the mean over the intermediate iterates, so
        its weight does not grow with the number of optimiser steps.
    """
    if not iterate_losses:
        raise ValueError("filter_iterate_terms needs the loss of at least one filter iterate.")
    terms = {"test_init_clf": iterate_losses[0], "test_clf": iterate_losses[-1]}
    if len(iterate_losses) > 2:
        terms["test_iter_clf"] = torch.stack(list(iterate_losses[1:-1])).mean()
    return terms
