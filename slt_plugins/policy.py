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

Candidate sets (``candidate_set``, an option beyond the official recipe): with ``'all'`` (official)
the policy spreads over every candidate of the score map, so a sampling rollout mostly draws a
neighbour of the peak and rarely a different decision (target vs distractor). ``'local_maxima'``
(:class:`LocalMaximaPolicy`) keeps only the top-K local maxima of the post-processed score map and
renormalises the same logits over them: p(n) = softmax over the K of temperature * logit(x_n), 0
elsewhere. The map is given as its grid ``(A, H, W)`` (A candidates per cell, e.g. SiamRPN++'s
anchors; index n = a H W + y W + x); each cell is represented by its best candidate over A, a cell
is a local maximum when no cell of its 3 x 3 neighbourhood scores higher (and it is not inside a
flat region), and the K best such cells are kept (fewer where the map has fewer maxima). The global argmax is always the first
candidate, so the argmax choice is unchanged. Adapters call :func:`select_candidates` in explore
(which also returns the candidate indices to record) and :func:`replay_log_probs` in replay, so
log p(a) with gradients is taken over the very candidate set explore sampled from.

Random numbers: sampling uses inverse-CDF sampling with one uniform number per sampled
row, drawn on the CPU from that row's generator. Given per-row generators the result of
a row is the same whether it is computed in a batch or alone (``torch.multinomial`` on a
batch gives no such guarantee, and its generator must live on the scores' device).
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from slt_plugins.adapter import Generators
from slt_plugins.registry import build, register

__all__ = ["CandidatePolicy", "LogitSoftmaxPolicy", "SoftmaxPolicy", "LocalMaximaPolicy", "OFFICIAL_SETTINGS",
           "CANDIDATE_SETS", "official_policy", "sample_from_log_probs", "local_maxima", "candidate_mask",
           "with_candidate_set", "select_candidates", "replay_log_probs", "candidate_set_of",
           "require_candidate_support"]

#: The candidate sets a policy can spread over: every candidate (official) or the top-K local maxima.
CANDIDATE_SETS = ("all", "local_maxima")

#: The record key under which explore stores the candidate indices of a restricted candidate set.
CANDIDATES_KEY = "candidates"

#: A score map's layout: (A, S) for A candidates per cell of an S x S map, or (A, H, W).
Grid = Sequence[int]


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
        return _select_rows(self.log_probs(scores), sample_mask, generator)

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


def _grid_shape(grid: Grid, num: int) -> Tuple[int, int, int]:
    """``(A, H, W)`` of ``grid`` ((A, S) or (A, H, W)), checked against ``num`` candidates."""
    dims = tuple(int(d) for d in grid)
    if len(dims) == 2:
        dims = (dims[0], dims[1], dims[1])
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"grid must be (A, S) or (A, H, W) with positive sizes, got {tuple(grid)}.")
    if dims[0] * dims[1] * dims[2] != num:
        raise ValueError(f"grid {dims} holds {dims[0] * dims[1] * dims[2]} candidates, the scores have {num}.")
    return dims


def local_maxima(scores: torch.Tensor, grid: Grid, top_k: int) -> torch.Tensor:
    """Indices of the top-``top_k`` local maxima of each row's score map.

    Args:
        scores: (B, N) post-processed scores, N = A H W laid out as ``a H W + y W + x``.
        grid: ``(A, S)`` or ``(A, H, W)``.
        top_k: K, the most candidates kept per row.

    Returns:
        (B, K) long indices into N, best first; ``-1`` pads rows with fewer than K local maxima.
        Each cell is represented by its best candidate over A; a cell is a local maximum when no
        cell of its 3 x 3 neighbourhood scores higher and some cell there scores lower (a flat
        region holds no peak; tied peak cells are all kept). Column 0 is the row's global argmax
        (first one on ties, as ``argmax``), also on a flat map.
    """
    if scores.dim() != 2:
        raise ValueError(f"local_maxima expects scores of shape (B, N), got {tuple(scores.shape)}.")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}.")
    a, h, w = _grid_shape(grid, scores.shape[1])
    x = scores.detach().reshape(-1, a, h * w)
    cell, best_a = x.max(dim=1)  # (B, H W) best candidate of each cell
    grid_map = cell.view(-1, 1, h, w)
    highest = F.max_pool2d(grid_map, kernel_size=3, stride=1, padding=1).view(-1, h * w)
    lowest = -F.max_pool2d(-grid_map, kernel_size=3, stride=1, padding=1).view(-1, h * w)
    # a maximum of its neighbourhood that rises above something in it (flat regions are no peaks)
    is_peak = (cell >= highest) & (cell > lowest)
    is_peak.view(-1, h * w).scatter_(1, cell.argmax(dim=1, keepdim=True), True)  # a flat map keeps its argmax
    peaks = torch.where(is_peak, cell, torch.full_like(cell, float("-inf")))
    k = min(int(top_k), h * w)
    values, cells = peaks.topk(k, dim=1)
    index = best_a.gather(1, cells) * (h * w) + cells
    # the global argmax first, exactly as argmax picks it (topk's order among ties is unspecified)
    index[:, 0] = scores.detach().argmax(dim=1)
    index = torch.where(torch.isfinite(values), index, torch.full_like(index, -1))
    if k < top_k:
        index = torch.cat([index, index.new_full((index.shape[0], top_k - k), -1)], dim=1)
    return index


def candidate_mask(candidates: torch.Tensor, num: int) -> torch.Tensor:
    """(B, N) bool, True at the indices of ``candidates`` (B, K) (``-1`` pads ignored)."""
    mask = torch.zeros(candidates.shape[0], num + 1, dtype=torch.bool, device=candidates.device)
    slot = torch.where(candidates >= 0, candidates, torch.full_like(candidates, num)).long()
    mask.scatter_(1, slot, True)
    return mask[:, :num]


class LocalMaximaPolicy(CandidatePolicy):
    """``base``'s distribution restricted to the top-K local maxima of the score map, renormalised.

    p(n) = softmax over the candidate set of ``base.logits``; 0 outside it. The set depends on the
    score map's grid, which only the tracker knows: call :meth:`candidates` (or
    :func:`select_candidates`, which adapters use) with it, and :meth:`log_probs_over` with the
    indices. ``select`` / ``log_probs`` without a set raise.

    Args:
        base: the distribution over all candidates (e.g. the official logit-softmax).
        top_k: K, the most local maxima kept (>= 1; 1 makes every sample the argmax).
    """

    def __init__(self, base: CandidatePolicy, top_k: int = 5):
        if isinstance(base, LocalMaximaPolicy):
            raise ValueError("LocalMaximaPolicy wraps a policy over all candidates, not another LocalMaximaPolicy.")
        if int(top_k) < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}.")
        self.base = base
        self.top_k = int(top_k)

    def logits(self, scores: torch.Tensor) -> torch.Tensor:
        return self.base.logits(scores)

    def candidates(self, scores: torch.Tensor, grid: Grid) -> torch.Tensor:
        """(B, K) indices of the candidate set of ``scores`` (B, N); see :func:`local_maxima`."""
        return local_maxima(scores, grid, self.top_k)

    def log_probs_over(self, scores: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """(B, N) log p(n), renormalised over ``candidates`` (B, K) and -inf elsewhere; differentiable."""
        mask = candidate_mask(candidates.to(scores.device), scores.shape[-1])
        if not bool(mask.any(dim=-1).all()):
            raise ValueError("Every row needs at least one candidate.")
        logits = self.base.logits(scores)
        return F.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)

    def log_probs(self, scores: torch.Tensor) -> torch.Tensor:
        raise ValueError("LocalMaximaPolicy needs the score map's grid: use log_probs_over(scores, candidates) "
                         "with candidates from candidates(scores, grid) (adapters: select_candidates / "
                         "replay_log_probs).")

    def select_over(self, scores: torch.Tensor, sample_mask: torch.Tensor, generator: Generators,
                    candidates: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`CandidatePolicy.select` over the candidate set ``candidates`` (B, K)."""
        log_p = self.log_probs_over(scores, candidates)
        return _select_rows(log_p, sample_mask, generator)

    def select(self, scores: torch.Tensor, sample_mask: torch.Tensor,
               generator: Generators) -> Tuple[torch.Tensor, torch.Tensor]:
        raise ValueError("LocalMaximaPolicy needs the score map's grid: the adapter must call "
                         "slt_plugins.policy.select_candidates(policy, scores, mask, generator, grid).")

    def extra_repr(self) -> str:
        return f"base={self.base!r}, top_k={self.top_k}"


def _select_rows(log_p: torch.Tensor, sample_mask: torch.Tensor,
                 generator: Generators) -> Tuple[torch.Tensor, torch.Tensor]:
    """Argmax of ``log_p`` (B, N) on rows where ``sample_mask`` is False, a sample elsewhere."""
    sample_mask = sample_mask.to(device=log_p.device, dtype=torch.bool)
    actions = log_p.argmax(dim=-1)
    rows = torch.nonzero(sample_mask, as_tuple=False).squeeze(1)
    if rows.numel() > 0:
        if isinstance(generator, torch.Generator) or generator is None:
            row_gens: Generators = generator
        else:
            gens = list(generator)
            if len(gens) != log_p.shape[0]:
                raise ValueError(f"Got {len(gens)} generators for {log_p.shape[0]} rows.")
            row_gens = [gens[i] for i in rows.tolist()]
        actions[rows] = sample_from_log_probs(log_p[rows], row_gens)
    return actions, log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def with_candidate_set(policy: CandidatePolicy, candidate_set: str = "all", top_k: int = 5) -> CandidatePolicy:
    """``policy`` itself for ``candidate_set='all'``; for ``'local_maxima'`` a :class:`LocalMaximaPolicy`
    over it keeping ``top_k`` candidates (the settings fields ``candidate_set`` / ``candidate_top_k``)."""
    if candidate_set == "all":
        return policy
    if candidate_set == "local_maxima":
        return LocalMaximaPolicy(policy, top_k=top_k)
    raise ValueError(f"candidate_set must be one of {CANDIDATE_SETS}, got {candidate_set!r}.")


def candidate_set_of(policy: object) -> str:
    """The candidate set ``policy`` spreads over: 'local_maxima' or 'all'."""
    return "local_maxima" if isinstance(policy, LocalMaximaPolicy) else "all"


def require_candidate_support(adapter: object, policy: object) -> None:
    """Raise ValueError unless ``adapter`` supports ``policy``'s candidate set.

    An adapter declares the sets it wires in the class attribute ``candidate_sets`` (default
    ``('all',)``): a restricted set needs the adapter to pass its score map's grid at every step
    (:func:`select_candidates`) and to replay through :func:`replay_log_probs`.
    """
    wanted = candidate_set_of(policy)
    supported = tuple(getattr(adapter, "candidate_sets", ("all",)))
    if wanted not in supported:
        raise ValueError(f"candidate_set={wanted!r} is not wired for {type(adapter).__name__} (it supports "
                         f"{list(supported)}); use candidate_set='all'.")


def select_candidates(policy: CandidatePolicy, scores: torch.Tensor, sample_mask: torch.Tensor,
                      generator: Generators, grid: Grid) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor]]:
    """One explore choice per row through ``policy``, with what replay needs to recompute log p.

    Args:
        policy: any candidate policy; a :class:`LocalMaximaPolicy` restricts the choice to the top-K
            local maxima of ``scores`` on ``grid``.
        scores: (B, N) post-processed scores.
        sample_mask / generator: as :meth:`CandidatePolicy.select`.
        grid: the score map's layout, ``(A, S)`` or ``(A, H, W)`` (ignored by unrestricted policies).

    Returns:
        ``(actions (B,), log_prob (B,), record)``: ``record`` is empty for unrestricted policies and
        ``{'candidates': (B, K) long}`` otherwise; put it into the step record, so that
        :func:`replay_log_probs` uses the same candidate set.
    """
    if isinstance(policy, LocalMaximaPolicy):
        candidates = policy.candidates(scores, grid)
        actions, log_prob = policy.select_over(scores, sample_mask, generator, candidates)
        return actions, log_prob, {CANDIDATES_KEY: candidates}
    actions, log_prob = policy.select(scores, sample_mask, generator)
    return actions, log_prob, {}


def replay_log_probs(policy: CandidatePolicy, scores: torch.Tensor,
                     record: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """(M, N) log p(n) with gradients for replay: over the candidate set recorded by
    :func:`select_candidates` (``record['candidates']`` (M, K)) where the policy restricts it, else
    over all candidates."""
    if isinstance(policy, LocalMaximaPolicy):
        if CANDIDATES_KEY not in record:
            raise ValueError("The replay records hold no 'candidates': explore did not run with this "
                             "LocalMaximaPolicy (record select_candidates' record at every step).")
        return policy.log_probs_over(scores, record[CANDIDATES_KEY].reshape(scores.shape[0], -1))
    return policy.log_probs(scores)
