"""The loss of each arm of SLT's ablation (the paper's Table 5), as one table per tracker.

A tracker's frame-level objective (FLT) is a weighted sum of named terms. Some of them are
*classification* terms: they train the scores the tracker picks its candidate by, which is
what the self-critical (SCST) term trains in SLT. The others are *box* terms (box regression,
refinement, IoU prediction). The arms, chosen by ``(scst_weight, so_mode)``:

* ``+SS`` (``scst_weight == 0``): the full frame-level objective, classification and box
  terms at the FLT weights, on the crops the sampling rollouts visited;
* ``+SS+SO`` (``scst_weight > 0``), ``so_mode='replace'`` (the paper and the official code):
  ``scst_weight * SCST`` takes the place of the classification terms; the box terms carry the
  official SLT weights;
* ``so_mode='add'`` (beyond the paper): as ``'replace'`` plus the classification terms at
  their FLT weights.

``+SS+SO+SA`` is ``+SS+SO`` with frame-interval augmentation, a sampler setting that does not
change the loss. :class:`SLTLossTable` holds one tracker's numbers and answers, per arm, which
terms are computed with which weight; :func:`arm_loss` adds the computed terms up.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Dict, Mapping, Optional, Tuple

import torch

from slt_plugins.adapter import LossOutput

__all__ = ["SCST_TERM", "RESERVED_TERMS", "SO_MODES", "check_so_mode", "SLTLossTable", "arm_loss"]

#: Name of the self-critical term in a weight table.
SCST_TERM = "scst"

#: Names no frame-level term may take.
RESERVED_TERMS: Tuple[str, ...] = (SCST_TERM, "box", "total")

#: Valid values of ``so_mode``: what the SCST term does to the classification terms.
SO_MODES: Tuple[str, ...] = ("replace", "add")


def check_so_mode(so_mode: str) -> str:
    """``so_mode`` itself if it is one of :data:`SO_MODES`; ValueError naming them otherwise."""
    if so_mode not in SO_MODES:
        raise ValueError(f"so_mode must be one of {', '.join(repr(m) for m in SO_MODES)}; got {so_mode!r}.")
    return so_mode


@dataclass(frozen=True)
class SLTLossTable:
    """One tracker's loss terms and weights, frame-level and sequence-level.

    Attributes:
        tracker: the tracker's name (for messages).
        flt_weights: every term of the frame-level objective and its weight (the order is the
            order terms are reported in).
        classification_terms: the terms of ``flt_weights`` the SCST term replaces.
        slt_weights: the box terms of the official SLT recipe and their weights there; a box
            term missing here is not part of the ``+SS+SO`` loss.
        scst_weight: the official weight of the SCST term.
    """

    tracker: str
    flt_weights: Mapping[str, float]
    classification_terms: Tuple[str, ...]
    slt_weights: Mapping[str, float]
    scst_weight: float

    def __post_init__(self) -> None:
        # Read-only copies: a table is a module-level constant that every adapter of the tracker shares.
        object.__setattr__(self, "flt_weights", MappingProxyType({k: float(v) for k, v in self.flt_weights.items()}))
        object.__setattr__(self, "slt_weights", MappingProxyType({k: float(v) for k, v in self.slt_weights.items()}))
        object.__setattr__(self, "classification_terms", tuple(self.classification_terms))
        reserved = set(self.flt_weights) & set(RESERVED_TERMS)
        if reserved:
            raise ValueError(f"{self.tracker}: term names {sorted(reserved)} are reserved (the actor reports "
                             f"'Loss/scst', 'Loss/box' and 'Loss/total' itself).")
        unknown = set(self.classification_terms) - set(self.flt_weights)
        if unknown:
            raise ValueError(f"{self.tracker}: classification terms {sorted(unknown)} are not frame-level terms "
                             f"{list(self.flt_weights)}.")
        not_box = set(self.slt_weights) - set(self.box_terms)
        if not_box:
            raise ValueError(f"{self.tracker}: SLT weights may only name box terms {list(self.box_terms)}; "
                             f"got {sorted(not_box)}.")
        if not self.scst_weight > 0:
            raise ValueError(f"{self.tracker}: the official SCST weight must be positive, got {self.scst_weight}.")

    @property
    def box_terms(self) -> Tuple[str, ...]:
        """The frame-level terms that are not classification terms, in table order."""
        return tuple(k for k in self.flt_weights if k not in self.classification_terms)

    def weights(self, scst_weight: Optional[float] = None, so_mode: str = "replace",
                box_scale: float = 1.0) -> Dict[str, float]:
        """The terms one arm computes and their weights.

        Args:
            scst_weight: weight of the SCST term; 0 selects ``+SS``; None: the official weight.
            so_mode: see :data:`SO_MODES` and the module docstring (ignored by ``+SS``).
            box_scale: factor on every box term of every arm (an adapter's ``box_weight`` knob).

        Returns:
            ``{term: weight}``, :data:`SCST_TERM` first when it is on, then the frame-level terms
            in table order. Terms whose weight is 0 are left out: they are not computed.
        """
        check_so_mode(so_mode)
        scst = self.scst_weight if scst_weight is None else float(scst_weight)
        if scst < 0 or box_scale < 0:
            raise ValueError(f"{self.tracker}: loss weights must be >= 0, got scst_weight {scst}, "
                             f"box_scale {box_scale}.")
        if scst == 0:
            frame = dict(self.flt_weights)
        else:
            keep_classification = so_mode == "add"
            frame = {k: w for k, w in self.flt_weights.items()
                     if keep_classification and k in self.classification_terms}
            frame.update(self.slt_weights)
        out = {SCST_TERM: scst} if scst > 0 else {}
        for term in self.flt_weights:
            if term in frame:
                weight = frame[term] * (1.0 if term in self.classification_terms else float(box_scale))
                if weight != 0:
                    out[term] = weight
        return out


def arm_loss(weights: Mapping[str, float], scst: torch.Tensor, terms: Mapping[str, torch.Tensor]) -> LossOutput:
    """The loss of one arm from its weights (:meth:`SLTLossTable.weights`) and the computed terms.

    Args:
        weights: ``{term: weight}`` of the arm.
        scst: the SCST term (unweighted, with gradients); it enters the total only when
            ``weights`` names :data:`SCST_TERM`, and is reported either way.
        terms: the unweighted frame-level terms, one for every other key of ``weights``.

    Returns:
        ``total`` (with gradients), ``scst`` and ``box`` (the weighted sum of the frame-level
        terms, classification included), both detached, and ``stats`` with ``'Loss/<term>'``, the
        unweighted value of each computed frame-level term (absent: not computed).
    """
    missing = [k for k in weights if k != SCST_TERM and k not in terms]
    if missing:
        raise KeyError(f"the arm weights terms {missing} that were not computed (computed: {sorted(terms)}).")
    frame: Optional[torch.Tensor] = None
    for term, weight in weights.items():
        if term != SCST_TERM:
            frame = weight * terms[term] if frame is None else frame + weight * terms[term]
    if frame is None:
        frame = scst * 0.0  # an arm without frame-level terms still returns a total with a graph
    total = frame + weights[SCST_TERM] * scst if SCST_TERM in weights else frame
    stats = {f"Loss/{k}": float(terms[k].detach()) for k in weights if k != SCST_TERM}
    return LossOutput(total=total, scst=scst.detach(), box=frame.detach(), stats=stats)
