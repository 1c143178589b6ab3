"""Candidate distributions: how a tracker's score map becomes a categorical policy.

A tracker scores N candidate boxes per frame. The argmax tracker takes the best one (the
test-time behaviour); the sampling tracker draws one from p(n). Two families are used:

``LogitSoftmaxPolicy`` (SiamRPN++, SiamAttn, TransT)
    The post-processed scores x_n lie in (0, 1) (classification probability after the
    scale/aspect penalty and the cosine-window mix). They are mapped back to logits,
    sharpened by a temperature and normalised:
    p(n) = softmax_n(temperature * logit(squash(x_n))). ``squash`` keeps x away from 0
    and 1 so the logit stays finite. The official SLT code uses an affine squash
    x -> eps + (1 - 2 eps) x (``stable_inverse_sigmoid``), which keeps a gradient
    everywhere; ``squash='clamp'`` clamps to [eps, 1 - eps] instead.

``SoftmaxPolicy`` (TrDiMP)
    p(n) = softmax_n(temperature * y_n) over the raw centre score map y. Optionally the
    scores are first mean-max normalised to a fixed range, as TrDiMP's test-time tracker
    does (``score_preprocess='softmax'`` with ``score_norm_meanmax=(-7, 7)``).

Official settings (byminji/SLTtrack):

    ==========  ============================  ===========  =====  =====================================
    tracker     policy                        temperature  eps    where
    ==========  ============================  ===========  =====  =====================================
    SiamRPN++   logit-softmax (affine)        8.0          0.01   experiments/slt_siamrpnpp/*.yaml
                                                                  (TRAIN.TEMP, TRAIN.SIG_EPS)
    SiamAttn    logit-softmax (affine)        8.0          0.01   experiments/slt_siamattn/*.yaml
    TransT      logit-softmax (affine)        4.0          0.01   ltr/train_settings/slt_transt
                                                                  (params.temp, params.sig_eps)
    TrDiMP      softmax, mean-max (-7, 7)     1.0          --     ltr/train_settings/slt_trdimp
                                                                  (params.score_norm_meanmax)
    OSTrack     logit-softmax (affine)        4.0          0.01   no official SLT: TransT's values
                                                                  over hann * score
    ==========  ============================  ===========  =====  =====================================

``OFFICIAL_SETTINGS`` holds the same table as keyword arguments for :func:`official_policy`.

Random numbers: sampling uses inverse-CDF sampling with one uniform number per sampled
row, drawn on the CPU from that row's generator. Given per-row generators the result of
a row is the same whether it is computed in a batch or alone (``torch.multinomial`` on a
batch gives no such guarantee, and its generator must live on the scores' device).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from slt_plugins.adapter import Generators
from slt_plugins.registry import build, register

__all__ = ["CandidatePolicy", "LogitSoftmaxPolicy", "SoftmaxPolicy", "OFFICIAL_SETTINGS",
           "official_policy", "sample_from_log_probs"]


def sample_from_log_probs(log_probs: torch.Tensor, generator: Generators) -> torch.Tensor:
    """Draw one index per row of ``log_probs`` (R, N) by inverse-CDF sampling.

    Args:
        log_probs: (R, N) normalised log-probabilities.
        generator: a single CPU ``torch.Generator`` (one uniform per row, drawn in row
            order) or a sequence of R CPU generators (one uniform from each).

    Returns:
        (R,) long indices on ``log_probs.device``. A zero-probability candidate is never drawn.
    """
    num_rows = log_probs.shape[0]
    if num_rows == 0:
        return torch.zeros(0, dtype=torch.long, device=log_probs.device)
    if generator is None:
        raise ValueError("Sampling needs an explicit torch.Generator (or one per sampled row) "
                         "so rollouts are reproducible.")
    if isinstance(generator, torch.Generator):
        u = torch.rand(num_rows, generator=generator, dtype=torch.float64)
    else:
        gens = list(generator)
        if len(gens) != num_rows:
            raise ValueError(f"Got {len(gens)} generators for {num_rows} sampled rows.")
        if any(g is None for g in gens):
            raise ValueError("A sampling row has no generator.")
        u = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in gens])
    # float64 cumulative sums so rounding cannot shift the choice between nearby candidates
    cdf = log_probs.detach().double().exp().cumsum(dim=-1)
    threshold = (u.to(cdf.device) * cdf[:, -1]).unsqueeze(1)
    idx = torch.searchsorted(cdf, threshold, right=True).squeeze(1)
    return idx.clamp_(max=log_probs.shape[-1] - 1)


class CandidatePolicy:
    """Base class of candidate distributions over the last dimension of a score tensor."""

    def logits(self, scores: torch.Tensor) -> torch.Tensor:
        """Unnormalised logits of p(n), same shape as ``scores`` (..., N); differentiable."""
        raise NotImplementedError

    def log_probs(self, scores: torch.Tensor) -> torch.Tensor:
        """log p(n) over the last dimension: (..., N) -> (..., N); differentiable."""
        return F.log_softmax(self.logits(scores), dim=-1)

    def select(self, scores: torch.Tensor, sample_mask: torch.Tensor,
               generator: Generators) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pick one candidate per row.

        Args:
            scores: (B, N) post-processed candidate scores.
            sample_mask: (B,) bool; False -> argmax of p, True -> a sample from p.
            generator: one CPU generator for all sampled rows (drawn in row order), or a
                sequence of B generators indexed by row (entries of argmax rows may be None).

        Returns:
            (actions (B,) long, log_prob (B,) float): the chosen indices and log p(action).
        """
        if scores.dim() != 2:
            raise ValueError(f"select expects scores of shape (B, N), got {tuple(scores.shape)}.")
        sample_mask = sample_mask.to(device=scores.device, dtype=torch.bool)
        log_p = self.log_probs(scores)
        actions = log_p.argmax(dim=-1)
        rows = torch.nonzero(sample_mask, as_tuple=False).squeeze(1)
        if rows.numel() > 0:
            if isinstance(generator, torch.Generator) or generator is None:
                row_gens: Generators = generator
            else:
                gens = list(generator)
                if len(gens) != scores.shape[0]:
                    raise ValueError(f"Got {len(gens)} generators for {scores.shape[0]} rows.")
                row_gens = [gens[i] for i in rows.tolist()]
            actions[rows] = sample_from_log_probs(log_p[rows], row_gens)
        return actions, log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


@register("policy", "logit_softmax")
class LogitSoftmaxPolicy(CandidatePolicy):
    """p(n) = softmax(temperature * logit(squash(x_n))) over scores x_n in [0, 1].

    Args:
        temperature: sharpening factor (> 0); larger is closer to argmax.
        eps: how far squash keeps x from 0 and 1 (0 < eps < 0.5).
        squash: 'affine' (official: x -> eps + (1 - 2 eps) x) or 'clamp' (x -> clamp(x, eps, 1 - eps)).
    """

    def __init__(self, temperature: float = 4.0, eps: float = 0.01, squash: str = "affine"):
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if not 0.0 < eps < 0.5:
            raise ValueError(f"eps must lie in (0, 0.5), got {eps}.")
        if squash not in ("affine", "clamp"):
            raise ValueError(f"squash must be 'affine' or 'clamp', got {squash!r}.")
        self.temperature = float(temperature)
        self.eps = float(eps)
        self.squash = squash

    def logits(self, scores: torch.Tensor) -> torch.Tensor:
        if self.squash == "affine":
            x = scores * (1.0 - 2.0 * self.eps) + self.eps
        else:
            x = scores.clamp(self.eps, 1.0 - self.eps)
        return self.temperature * torch.log(x / (1.0 - x))

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, eps={self.eps}, squash={self.squash!r}"


@register("policy", "softmax")
class SoftmaxPolicy(CandidatePolicy):
    """p(n) = softmax(temperature * y_n) over raw scores y_n.

    Args:
        temperature: multiplies the (optionally normalised) scores.
        mean_max_range: ``(lo, hi)`` to map each row's mean to ``lo`` and its max to ``hi``
            first, as TrDiMP does with (-7, 7); None uses the raw scores.
    """

    def __init__(self, temperature: float = 1.0, mean_max_range: Optional[Sequence[float]] = None):
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        self.temperature = float(temperature)
        self.mean_max_range = None if mean_max_range is None else (float(mean_max_range[0]),
                                                                   float(mean_max_range[1]))

    def logits(self, scores: torch.Tensor) -> torch.Tensor:
        y = scores
        if self.mean_max_range is not None:
            lo, hi = self.mean_max_range
            mean = y.mean(dim=-1, keepdim=True)
            peak = y.amax(dim=-1, keepdim=True)
            # a flat map has max == mean; keep it finite (uniform distribution) instead of 0/0
            span = (peak - mean).clamp_min(torch.finfo(y.dtype).tiny)
            y = (y - mean) / span * (hi - lo) + lo
        return self.temperature * y

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, mean_max_range={self.mean_max_range}"


#: Official SLT candidate distributions per tracker (see the table in the module docstring).
OFFICIAL_SETTINGS: Dict[str, Tuple[str, Dict[str, Union[float, str, Tuple[float, float]]]]] = {
    "siamrpnpp": ("logit_softmax", {"temperature": 8.0, "eps": 0.01, "squash": "affine"}),
    "siamattn": ("logit_softmax", {"temperature": 8.0, "eps": 0.01, "squash": "affine"}),
    "transt": ("logit_softmax", {"temperature": 4.0, "eps": 0.01, "squash": "affine"}),
    "trdimp": ("softmax", {"temperature": 1.0, "mean_max_range": (-7.0, 7.0)}),
    # OSTrack has no official SLT; its windowed score map in (0, 1) starts from TransT's numbers.
    "ostrack": ("logit_softmax", {"temperature": 4.0, "eps": 0.01, "squash": "affine"}),
}


def official_policy(tracker: str) -> CandidatePolicy:
    """The candidate distribution the official SLT recipe uses for ``tracker``."""
    try:
        name, kwargs = OFFICIAL_SETTINGS[tracker]
    except KeyError:
        raise KeyError(f"No official SLT policy for {tracker!r}; known: {', '.join(OFFICIAL_SETTINGS)}.") from None
    return build("policy", name, **kwargs)
