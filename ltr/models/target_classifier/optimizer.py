"""DiMP's unrolled steepest-descent (Gauss-Newton) filter optimiser with learned loss parts.

The filter ``w`` of every sequence minimises the DiMP objective

    L(w) = 1/S * ( sum_{n,s} || v_{n,s} * (r(x_{n,s} * w_s, m_{n,s}) - y_{n,s}) ||^2
                   + lambda * sum_s ||w_s||^2 )

where ``x * w`` is the correlation score map, ``y`` the learned label map, ``m`` the learned
target mask, ``v`` the learned spatial weight (times the per-sample weight) and ``r`` the
mask-dependent leaky ReLU ``r(t, m) = (1-m)/2 |t| + (1+m)/2 t``. ``y``, ``m`` and ``v`` are
functions of the distance of each cell to the target centre, represented as a learnable
linear combination of triangular distance bins. Each iteration takes the steepest-descent
step with the step length that is optimal for the Gauss-Newton approximation of ``L``.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .filter_ops import apply_feat_transpose, apply_filter

__all__ = ["DistanceMap", "LeakyReluPar", "LeakyReluParDeriv", "BentIdentPar", "BentIdentParDeriv",
           "DiMPSteepestDescentGN", "dimp_objective"]


class DistanceMap(nn.Module):
    """Encode the distance of every map cell to a centre as soft (triangular) bin memberships.

    Args:
        num_bins: number of distance bins; the last bin collects all larger distances.
        bin_displacement: distance (in cells) between consecutive bin centres.
    """

    def __init__(self, num_bins: int, bin_displacement: float = 1.0) -> None:
        super().__init__()
        self.num_bins = num_bins
        self.bin_displacement = bin_displacement

    def forward(self, center: torch.Tensor, output_sz: Sequence[int]) -> torch.Tensor:
        """center (N, 2) as (y, x) in cells, output_sz (H, W) -> (N, num_bins, H, W)."""
        center = center.reshape(-1, 2)
        dtype, device = center.dtype, center.device
        bins = torch.arange(self.num_bins, dtype=dtype, device=device).reshape(1, -1, 1, 1)
        ky = torch.arange(output_sz[0], dtype=dtype, device=device).reshape(1, 1, -1, 1)
        kx = torch.arange(output_sz[1], dtype=dtype, device=device).reshape(1, 1, 1, -1)
        dy = ky - center[:, 0].reshape(-1, 1, 1, 1)
        dx = kx - center[:, 1].reshape(-1, 1, 1, 1)
        dist = torch.sqrt(dy * dy + dx * dx)
        diff = dist / self.bin_displacement - bins
        return torch.cat((F.relu(1.0 - diff[:, :-1].abs()), (1.0 + diff[:, -1:]).clamp(0.0, 1.0)), dim=1)


class LeakyReluPar(nn.Module):
    """``(1 - a)/2 * |x| + (1 + a)/2 * x``: identity where ``a = 1``, ReLU where ``a = 0``."""

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (1.0 - a) / 2.0 * x.abs() + (1.0 + a) / 2.0 * x


class LeakyReluParDeriv(nn.Module):
    """Derivative of :class:`LeakyReluPar` with respect to ``x`` (sign taken without gradient)."""

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (1.0 - a) / 2.0 * torch.sign(x.detach()) + (1.0 + a) / 2.0


class BentIdentPar(nn.Module):
    """Smooth variant of :class:`LeakyReluPar` with bend parameter ``b``."""

    def __init__(self, b: float = 1.0) -> None:
        super().__init__()
        self.b = b

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (1.0 - a) / 2.0 * (torch.sqrt(x * x + 4.0 * self.b * self.b) - 2.0 * self.b) + (1.0 + a) / 2.0 * x


class BentIdentParDeriv(nn.Module):
    """Derivative of :class:`BentIdentPar` with respect to ``x``."""

    def __init__(self, b: float = 1.0) -> None:
        super().__init__()
        self.b = b

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (1.0 - a) / 2.0 * (x / torch.sqrt(x * x + 4.0 * self.b * self.b)) + (1.0 + a) / 2.0


def dimp_objective(weights: torch.Tensor, feat: torch.Tensor, label_map: torch.Tensor, target_mask: torch.Tensor,
                   sample_weight: Union[torch.Tensor, float], reg_weight: torch.Tensor,
                   score_activation: Optional[nn.Module] = None) -> torch.Tensor:
    """Value of the DiMP objective (data term + filter regularisation), averaged over sequences.

    Args:
        weights: (S, C, f, f) filters.
        feat: (N, S, C, H, W) train features.
        label_map, target_mask: (N, S, yH, yW).
        sample_weight: (N, S, yH, yW) residual weights (already square-rooted) or a scalar.
        reg_weight: filter regularisation ``lambda``.
        score_activation: activation ``r(t, m)``; :class:`LeakyReluPar` by default.
    """
    act = score_activation if score_activation is not None else LeakyReluPar()
    num_sequences = weights.shape[0]
    scores = act(apply_filter(feat, weights), target_mask)
    data_term = ((sample_weight * (scores - label_map)) ** 2).sum()
    return (data_term + reg_weight * (weights * weights).sum()) / num_sequences


class DiMPSteepestDescentGN(nn.Module):
    """Unrolled DiMP filter optimiser.

    Args:
        num_iter: default number of iterations.
        feat_stride: image pixels per feature cell (to map boxes to cells).
        init_step_length: initial value of the learned step-length factor.
        init_filter_reg: initial value of the learned regularisation (squared in use).
        init_gauss_sigma: std (cells) of the Gaussian used to initialise the label function.
        num_dist_bins: number of distance bins.
        bin_displacement: cells between distance bins.
        mask_init_factor: amplitude of the initial target-mask function.
        score_act: 'relu' (paper) or 'bentpar'.
        act_param: bend parameter for 'bentpar'.
        min_filter_reg: lower bound of the regularisation weight's square root.
        mask_act: 'sigmoid' or 'linear' output activation of the target mask.
        detach_length: detach the filter every this many iterations (inf = never).
        alpha_eps: added to the step-length denominator for stability.
    """

    def __init__(self, num_iter: int = 1, feat_stride: int = 16, init_step_length: float = 1.0,
                 init_filter_reg: float = 1e-2, init_gauss_sigma: float = 1.0, num_dist_bins: int = 5,
                 bin_displacement: float = 1.0, mask_init_factor: float = 4.0, score_act: str = "relu",
                 act_param: Optional[float] = None, min_filter_reg: float = 1e-3, mask_act: str = "sigmoid",
                 detach_length: float = float("inf"), alpha_eps: float = 0.0) -> None:
        super().__init__()
        self.num_iter = num_iter
        self.feat_stride = feat_stride
        self.log_step_length = nn.Parameter(math.log(init_step_length) * torch.ones(1))
        self.filter_reg = nn.Parameter(init_filter_reg * torch.ones(1))
        self.distance_map = DistanceMap(num_dist_bins, bin_displacement)
        self.min_filter_reg = min_filter_reg
        self.detach_length = detach_length
        self.alpha_eps = alpha_eps

        d = torch.arange(num_dist_bins, dtype=torch.float32).reshape(1, -1, 1, 1) * bin_displacement
        if init_gauss_sigma == 0:
            init_gauss = torch.zeros_like(d)
            init_gauss[0, 0, 0, 0] = 1.0
        else:
            init_gauss = torch.exp(-0.5 * (d / init_gauss_sigma) ** 2)

        # y: label as a function of the distance to the target centre.
        self.label_map_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        # m: target mask (1 near the target: plain L2 residual; 0 far away: hinge-like).
        mask_layers: List[nn.Module] = [nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)]
        if mask_act == "sigmoid":
            mask_layers.append(nn.Sigmoid())
            init_bias = 0.0
        elif mask_act == "linear":
            init_bias = 0.5
        else:
            raise ValueError(f"mask_act must be 'sigmoid' or 'linear', got {mask_act!r}")
        self.target_mask_predictor = nn.Sequential(*mask_layers)
        # v: spatial weight of the residuals.
        self.spatial_weight_predictor = nn.Conv2d(num_dist_bins, 1, kernel_size=1, bias=False)
        with torch.no_grad():
            self.label_map_predictor.weight.copy_(init_gauss - init_gauss.min())
            self.target_mask_predictor[0].weight.copy_(mask_init_factor * torch.tanh(2.0 - d) + init_bias)
            self.spatial_weight_predictor.weight.fill_(1.0)

        if score_act == "bentpar":
            self.score_activation: nn.Module = BentIdentPar(act_param)
            self.score_activation_deriv: nn.Module = BentIdentParDeriv(act_param)
        elif score_act == "relu":
            self.score_activation = LeakyReluPar()
            self.score_activation_deriv = LeakyReluParDeriv()
        else:
            raise ValueError(f"score_act must be 'relu' or 'bentpar', got {score_act!r}")

    def reg_weight(self) -> torch.Tensor:
        """Regularisation weight ``lambda = max(filter_reg^2, min_filter_reg^2)``."""
        return (self.filter_reg * self.filter_reg).clamp(min=self.min_filter_reg ** 2)

    def loss_maps(self, bb: torch.Tensor, num_images: int, num_sequences: int, output_sz: Tuple[int, int],
                  filter_sz: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Learned label map, target mask and spatial weight for target boxes ``bb``.

        Args:
            bb: (images, [sequences], 4) boxes (x, y, w, h) in image pixels.
            num_images, num_sequences: leading dimensions of the result.
            output_sz: (yH, yW) of the score map.
            filter_sz: (fH, fW); odd filters put cell centres half a cell off.

        Returns:
            (label_map, target_mask, spatial_weight), each (images, sequences, yH, yW).
        """
        offset = bb.new_tensor([filter_sz[0] % 2, filter_sz[1] % 2]) / 2.0
        center = ((bb[..., :2] + bb[..., 2:] / 2) / self.feat_stride).reshape(-1, 2).flip((1,)) - offset
        dist_map = self.distance_map(center, output_sz)
        shape = (num_images, num_sequences, *dist_map.shape[-2:])
        return (self.label_map_predictor(dist_map).reshape(shape),
                self.target_mask_predictor(dist_map).reshape(shape),
                self.spatial_weight_predictor(dist_map).reshape(shape))

    def forward(self, weights: torch.Tensor, feat: torch.Tensor, bb: torch.Tensor,
                sample_weight: Optional[Union[torch.Tensor, float]] = None, num_iter: Optional[int] = None,
                compute_losses: bool = True) -> Tuple[torch.Tensor, List[torch.Tensor], List[torch.Tensor]]:
        """Run the optimiser.

        Args:
            weights: (S, C, f, f) initial filters.
            feat: (images, [S], C, H, W) train features.
            bb: (images, [S], 4) target boxes (x, y, w, h) in image pixels.
            sample_weight: optional per-image weights (images, [S]) (tracking memory weights);
                default ``1 / images`` for every image.
            num_iter: iterations (default ``self.num_iter``).
            compute_losses: also return the objective before each step and after the last.

        Returns:
            (final filter, [initial filter, filter after each step], losses).
        """
        num_iter = self.num_iter if num_iter is None else num_iter
        num_images = feat.shape[0]
        num_sequences = feat.shape[1] if feat.dim() == 5 else 1
        filter_sz = (weights.shape[-2], weights.shape[-1])
        output_sz = (feat.shape[-2] + (filter_sz[0] + 1) % 2, feat.shape[-1] + (filter_sz[1] + 1) % 2)

        step_length_factor = torch.exp(self.log_step_length)
        reg_weight = self.reg_weight()
        label_map, target_mask, spatial_weight = self.loss_maps(bb, num_images, num_sequences, output_sz, filter_sz)

        if sample_weight is None:
            sample_weight = math.sqrt(1.0 / num_images) * spatial_weight
        elif isinstance(sample_weight, torch.Tensor):
            sample_weight = sample_weight.sqrt().reshape(num_images, num_sequences, 1, 1) * spatial_weight

        backprop_through_learning = self.detach_length > 0
        weight_iterates = [weights]
        losses: List[torch.Tensor] = []

        for i in range(num_iter):
            if not backprop_through_learning or (i > 0 and i % self.detach_length == 0):
                weights = weights.detach()

            scores = apply_filter(feat, weights)
            scores_act = self.score_activation(scores, target_mask)
            score_mask = self.score_activation_deriv(scores, target_mask)
            residuals = sample_weight * (scores_act - label_map)
            if compute_losses:
                losses.append(((residuals ** 2).sum() + reg_weight * (weights ** 2).sum()) / num_sequences)

            # Gradient of the objective (up to a factor 2) and its image under the Jacobian.
            residuals_mapped = score_mask * (sample_weight * residuals)
            weights_grad = apply_feat_transpose(feat, residuals_mapped, filter_sz) + reg_weight * weights
            scores_grad = sample_weight * (score_mask * apply_filter(feat, weights_grad))

            # Step length minimising the Gauss-Newton model along the gradient.
            alpha_num = (weights_grad * weights_grad).sum(dim=(1, 2, 3))
            alpha_den = ((scores_grad * scores_grad).reshape(num_images, num_sequences, -1).sum(dim=(0, 2))
                         + (reg_weight + self.alpha_eps) * alpha_num).clamp(1e-8)
            alpha = alpha_num / alpha_den

            weights = weights - (step_length_factor * alpha.reshape(-1, 1, 1, 1)) * weights_grad
            weight_iterates.append(weights)

        if compute_losses:
            losses.append(dimp_objective(weights, feat, label_map, target_mask, sample_weight, reg_weight,
                                         self.score_activation))
        return weights, weight_iterates, losses
