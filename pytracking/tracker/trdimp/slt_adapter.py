"""TrDiMP on the SLT seam: softmax policy over the raw centre score map, IoU-Net refinement.

Explore runs :class:`~pytracking.tracker.trdimp.core.TrDiMPCore`, the code the test-time
tracker runs. Per frame and tracker:

* argmax trackers move to the cell the tracker's own localisation chooses
  (``TrDiMPSearch.choice``: the score peak, or the second peak in the hard-negative case);
* sampling trackers draw a cell from ``p(n) = softmax(meanmax_(-7,7)(y_n))`` over the raw
  score map ``y`` (:func:`slt_plugins.policy.official_policy` ``('trdimp')``) and move there
  instead of the peak;
* then both refine the box with the IoU-Net, take the localisation flags into account and
  update their models exactly as at test time (:meth:`TrDiMPCore.commit`).

Replay (as the reference SLT actor does) re-runs the whole network with gradients: the
backbone on the recorded first-frame train samples and search crops, the transformer
(encoder over the train samples, decoder for train and search features), the DiMP filter
learned again from the train samples (``net_opt_iter`` steps of the unrolled optimiser), the
scores of the search crops, and ``log p(a)`` of the recorded actions. Nothing of the
explore-time target model is taken as a constant. The replayed distribution therefore equals
the explore-time one when explore does not update the target model online, which is what
the reference SLT recipe does (:func:`slt_explore_parameters`); with online updates
(``update_classifier=True``) replay scores the recorded actions under the first-frame model.

Frame-level terms on the recorded search crops of the visible frames (TrDiMP's training loss,
:data:`~ltr.models.loss.trdimp_loss.TRDIMP_LOSS_WEIGHTS`): the IoU-Net's KL-regression loss
``bb_ce``, with 128 proposals per frame drawn around the ground truth in crop pixels from the
two-component Gaussian mixture of the frame-level training, and the target classifier's hinge
losses against a Gaussian label at the ground-truth centre, on the scores of the initial
(``test_init_clf``), intermediate (``test_iter_clf``, their mean) and final (``test_clf``)
filter iterates. Loss of each arm (:data:`LOSS_TABLE`):

* '+SS' (``scst_weight=0``): ``100 test_clf + 100 test_init_clf + 400 test_iter_clf + 0.01 bb_ce``;
* '+SS+SO' (official SLT-TrDiMP): ``4 scst + 0.01 bb_ce``, no hinge losses (the SCST term on the
  final filter's scores replaces them);
* ``so_mode='add'``: ``4 scst`` plus the '+SS' terms.

The official pair 4 / 0.01 is the paper's ``SCST + 0.0025 bb_ce`` times 4 (docs/trackers/trdimp.md).
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from ltr.data.crop import boxes_to_crop_frame
from ltr.data.trdimp_processing import DiMPProcessing, gaussian_label_function
from ltr.models.loss.trdimp_loss import (TRDIMP_CLASSIFIER_TERMS, TRDIMP_HINGE_THRESHOLD, TRDIMP_LOSS_WEIGHTS,
                                         filter_iterate_terms, kl_regression, lb_hinge)
from pytracking.tracker.trdimp.core import TrDiMPCore, rect_to_rel, rel_to_rect
from pytracking.utils.params import TrackerParams
from slt_plugins.adapter import Frames, Generators, LossOutput, ReplayRecords, StepOutput
from slt_plugins.losses import SLTLossTable, arm_loss, check_so_mode
from slt_plugins.policy import CandidatePolicy, official_policy
from slt_plugins.registry import register
from slt_plugins.scst import scst_loss

__all__ = ["TrDiMPSLTAdapter", "slt_explore_parameters", "sample_box_gmm", "DEFAULT_PROPOSAL_PARAMS",
           "SLT_TRDIMP_SCST_WEIGHT", "LOSS_TABLE"]

#: Official weight of the self-critical term in SLT-TrDiMP (``loss_weight['sl_clf']``).
SLT_TRDIMP_SCST_WEIGHT = 4.0

#: TrDiMP's loss of each SLT arm; the official SLT recipe keeps the frame-level ``bb_ce`` weight.
LOSS_TABLE = SLTLossTable(
    tracker="trdimp",
    flt_weights=TRDIMP_LOSS_WEIGHTS,
    classification_terms=TRDIMP_CLASSIFIER_TERMS,
    slt_weights={"bb_ce": TRDIMP_LOSS_WEIGHTS["bb_ce"]},
    scst_weight=SLT_TRDIMP_SCST_WEIGHT,
)

#: Proposal distribution of the IoU-Net loss (reference frame-level and SLT settings).
DEFAULT_PROPOSAL_PARAMS: Dict[str, Any] = {"boxes_per_frame": 128, "gt_sigma": (0.05, 0.05),
                                           "proposal_sigma": ((0.05, 0.05), (0.5, 0.5))}


def slt_explore_parameters(params: TrackerParams, net_opt_iter: int = 5) -> TrackerParams:
    """The reference SLT explore variant of a test-time parameter set (a copy).

    The reference SLT-TrDiMP explores with a simplified tracker: no online update of the
    classifier or the transformer memory, plain argmax localisation (no not-found / hard-
    negative handling), softmax score preprocessing, no feature-dropout train samples, and
    ``net_opt_iter`` = the network's training optimiser iterations (5). Replay then learns
    exactly the filter explore used.
    """
    explore = params.copy()
    augmentation = dict(explore.get("augmentation", {}))
    augmentation.pop("dropout", None)
    explore.update(update_classifier=False, advanced_localization=False, score_preprocess="softmax",
                   score_norm_meanmax=(-7, 7), net_opt_iter=int(net_opt_iter), augmentation=augmentation)
    return explore


def sample_box_gmm(mean_xywh: torch.Tensor, proposal_sigma: Sequence[Tuple[float, float]],
                   gt_sigma: Tuple[float, float], num_samples: int,
                   generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Proposals around boxes from a Gaussian mixture in the relative box space.

    Each proposal picks a mixture component uniformly, then offsets the relative centre
    (units of the box size) and log-size with that component's standard deviations
    ``(centre_std, size_std)``.

    Args:
        mean_xywh: (K, 4) boxes ``xywh``.
        proposal_sigma: per component (centre std, size std).
        gt_sigma: (centre std, size std) of the label density.
        num_samples: proposals per box.
        generator: random source (CPU).

    Returns:
        (proposals (K, P, 4) ``xywh``, proposal density (K, P), ground-truth density (K, P)).
    """
    num_boxes = mean_xywh.shape[0]
    dtype, device = mean_xywh.dtype, mean_xywh.device
    center_std = torch.tensor([s[0] for s in proposal_sigma], dtype=dtype)
    size_std = torch.tensor([s[1] for s in proposal_sigma], dtype=dtype)
    std = torch.stack((center_std, center_std, size_std, size_std))          # (4, components)
    component = torch.randint(std.shape[1], (num_boxes, num_samples), generator=generator)
    std_sample = std[:, component].permute(1, 2, 0)                          # (K, P, 4)
    offset = std_sample * torch.randn(num_boxes, num_samples, 4, generator=generator, dtype=dtype)

    def gauss(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * (x / s) ** 2) / (math.sqrt(2 * math.pi) * s)

    proposal_density = gauss(offset.unsqueeze(-1), std).prod(dim=-2).mean(dim=-1)
    gt_std = torch.tensor([gt_sigma[0], gt_sigma[0], gt_sigma[1], gt_sigma[1]], dtype=dtype)
    gt_density = gauss(offset, gt_std).prod(dim=-1)
    offset, proposal_density, gt_density = offset.to(device), proposal_density.to(device), gt_density.to(device)
    sz_norm = mean_xywh[:, None, 2:]
    proposals = rel_to_rect(rect_to_rel(mean_xywh[:, None, :], sz_norm) + offset, sz_norm)
    return proposals, proposal_density, gt_density


@register("adapter", "trdimp")
class TrDiMPSLTAdapter:
    """Batched TrDiMP trackers for SLT (see the module docstring).

    Args:
        core: the batched tracking core (its network is the one being trained; keep it in
            eval mode for explore and replay, as the SLT trainer does).
        policy: candidate distribution over the flattened raw score map; default the official
            TrDiMP policy (softmax after mean-max scaling to (-7, 7)).
        scst_weight: weight of the self-critical term (reference 4; 0 gives '+SS'); None: official.
        box_weight: weight of ``bb_ce`` in '+SS+SO' (reference 0.01, :data:`LOSS_TABLE`); every arm's
            ``bb_ce`` weight is scaled by ``box_weight / 0.01``, so 0 drops the IoU-Net loss.
        scst_reduction: see :func:`slt_plugins.scst.scst_loss` (reference: 'mean').
        proposal_params: IoU-Net proposal distribution (:data:`DEFAULT_PROPOSAL_PARAMS`).
        seed: seed of the replay-time proposal generator.
        so_mode: 'replace' (official) or 'add'; see :mod:`slt_plugins.losses`.
        label_sigma_factor: width of the hinge losses' Gaussian label relative to the feature
            size (the frame-level processing's, 1/4/6).
        hinge_threshold: label value below which the hinge loss treats a cell as background.

    ``scst_weight``, ``box_weight`` and ``so_mode`` are read at every replay.
    """

    loss_table = LOSS_TABLE

    def __init__(self, core: TrDiMPCore, policy: Optional[CandidatePolicy] = None,
                 scst_weight: Optional[float] = None, box_weight: Optional[float] = None, scst_reduction: str = "mean",
                 proposal_params: Optional[Dict[str, Any]] = None, seed: int = 0, so_mode: str = "replace",
                 label_sigma_factor: float = DiMPProcessing.label_sigma_factor,
                 hinge_threshold: float = TRDIMP_HINGE_THRESHOLD) -> None:
        self.core = core
        self.policy = policy if policy is not None else official_policy("trdimp")
        self.scst_weight = float(LOSS_TABLE.scst_weight if scst_weight is None else scst_weight)
        self.box_weight = float(LOSS_TABLE.slt_weights["bb_ce"] if box_weight is None else box_weight)
        self.scst_reduction = scst_reduction
        self.so_mode = check_so_mode(so_mode)
        self.label_sigma_factor = float(label_sigma_factor)
        self.hinge_threshold = float(hinge_threshold)
        self.proposal_params = dict(DEFAULT_PROPOSAL_PARAMS if proposal_params is None else proposal_params)
        self.proposal_generator = torch.Generator().manual_seed(int(seed))

    @classmethod
    def from_settings(cls, net: torch.nn.Module, policy: CandidatePolicy, settings: Any) -> "TrDiMPSLTAdapter":
        """The adapter a training setting trains (the one way every adapter is built): ``net`` on
        ``settings.device`` with ``policy``, the loss fields ``scst_weight``, ``box_weight``,
        ``so_mode``, and TrDiMP's ``official_explore``, ``proposal_params`` and ``seed`` (the reference
        values where a setting, e.g. ``generic slt``, has no such field)."""
        return cls.from_network(net, official_explore=bool(getattr(settings, "official_explore", True)),
                                device=settings.device, policy=policy, scst_weight=settings.scst_weight,
                                box_weight=settings.box_weight, so_mode=settings.so_mode,
                                proposal_params=getattr(settings, "proposal_params", None),
                                seed=int(getattr(settings, "seed", 0)))

    @classmethod
    def from_network(cls, net: torch.nn.Module, params: Optional[TrackerParams] = None,
                     official_explore: bool = True, device: str = "cpu", **kwargs: Any) -> "TrDiMPSLTAdapter":
        """Adapter for ``net`` with a parameter set (default: the official one of the net's size).

        ``official_explore`` turns the set into the reference SLT explore variant
        (:func:`slt_explore_parameters`); False explores with the test-time procedure itself.
        """
        from pytracking.tracker.trdimp.trdimp import build_core

        if params is None:
            size = getattr(getattr(net, "config", None), "name", "paper")
            if size == "tiny":
                from pytracking.parameter.trdimp.tiny import parameters
            else:
                from pytracking.parameter.trdimp.trdimp import parameters
            params = parameters()
        params = params.copy()
        params.device = device
        if official_explore:
            params = slt_explore_parameters(params, int(net.classifier.filter_optimizer.num_iter))
        return cls(build_core(params, net), **kwargs)

    @property
    def net(self) -> torch.nn.Module:
        return self.core.net

    def persistent_generators(self) -> Dict[str, torch.Generator]:
        """The proposal generator advances over the whole run, so checkpoints must keep its state
        (:class:`slt_plugins.adapter.PersistentGenerators`); the core's are re-seeded per episode."""
        return {"proposal": self.proposal_generator}

    # ------------------------------------------------------------------ explore
    def initialize(self, frames: Frames, boxes_xywh: torch.Tensor,
                   start_boxes_xywh: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Start B trackers; records the first-frame train samples (replay learns from them)."""
        samples = self.core.initialize(frames, boxes_xywh, start_boxes_xywh)
        return {"train_input": samples.train_input.transpose(0, 1),        # (B, N, 3, S, S)
                "train_boxes": samples.train_boxes.transpose(0, 1),        # (B, N + D, 4) crop xywh
                "dropout_mask": samples.dropout_masks.transpose(0, 1)}     # (B, D, C)

    def step(self, frames: Frames, sample_mask: torch.Tensor, generator: Generators,
             gt_xywh: torch.Tensor) -> StepOutput:
        """One lockstep frame of all B trackers (argmax rows: the test-time decision)."""
        result = self.core.search(frames)
        scores = result.scores.reshape(result.scores.shape[0], -1)
        greedy = result.choice
        sampled, _ = self.policy.select(scores, sample_mask, generator)
        mask = sample_mask.to(device=greedy.device, dtype=torch.bool)
        actions = torch.where(mask, sampled.to(greedy.device), greedy)
        log_prob = self.policy.log_probs(scores).gather(1, actions.reshape(-1, 1)).squeeze(1)
        boxes = self.core.commit(result, actions)
        gt_crop = boxes_to_crop_frame(gt_xywh.to(result.crop_center_xy), result.crop_center_xy,
                                      result.crop_side, self.core.sample_size)
        record = {"search": result.search_input, "action": actions, "gt_crop": gt_crop.float(),
                  "flag": result.flags}
        return StepOutput(boxes_xywh=boxes.float(), actions=actions, record=record, log_prob=log_prob,
                          greedy_actions=greedy)

    # ------------------------------------------------------------------ replay
    def replay_scores(self, records: ReplayRecords,
                      all_iterates: bool = False) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """Score maps (R, T, h*w) of the recorded search crops under the final filter, with gradients.

        Also returns ``extras``: the backbone features (for the IoU-Net loss) and, with
        ``all_iterates``, ``iterate_scores``, the (T, R, h, w) maps of every filter iterate
        (initial first, final last) for the hinge losses.
        """
        net, core = self.net, self.core
        init, steps = records.init, records.steps
        train_input = init["train_input"]
        num_rollouts, num_aug = train_input.shape[:2]
        num_steps = records.num_steps
        search = steps["search"]
        sample_size = core.sample_size

        images = torch.cat((train_input.transpose(0, 1).reshape(-1, *train_input.shape[-3:]),
                            search.transpose(0, 1).reshape(-1, *search.shape[-3:])))
        feat = net.extract_backbone_features(images)
        clf = net.extract_classification_feat(feat)
        num_train_images = num_aug * num_rollouts
        x_train = clf[:num_train_images].reshape(num_aug, num_rollouts, *clf.shape[-3:])
        x_test = clf[num_train_images:].reshape(num_steps, num_rollouts, *clf.shape[-3:])
        masks = init["dropout_mask"].transpose(0, 1)                         # (D, R, C)
        if masks.shape[0] > 0:
            x_train = torch.cat((x_train, x_train[0:1] * masks[:, :, :, None, None].to(x_train.dtype)))
        train_boxes = init["train_boxes"].transpose(0, 1).to(x_train.dtype)   # (N', R, 4)
        labels = net.make_train_label(train_boxes, tuple(x_train.shape[-2:]), (sample_size, sample_size))
        train_dec, test_dec = net.classifier.transformer(x_train, x_test, labels)
        train_dec = train_dec.reshape(x_train.shape)
        test_dec = test_dec.reshape(x_test.shape)
        target_filter, filter_iter, _ = net.classifier.get_filter(train_dec, train_boxes,
                                                                  num_iter=core.cfg.net_opt_iter,
                                                                  compute_losses=False)
        final = net.classifier.classify(target_filter, test_dec)             # (T, R, h, w)
        extras: Dict[str, Any] = {"feat": feat, "num_train_images": num_train_images, "train_boxes": train_boxes,
                                  "feature_sz": int(x_test.shape[-1])}
        if all_iterates:
            extras["iterate_scores"] = [net.classifier.classify(f, test_dec) for f in filter_iter[:-1]] + [final]
        return final.transpose(0, 1).reshape(num_rollouts, num_steps, -1), extras

    def classifier_terms(self, iterate_scores: Sequence[torch.Tensor], feature_sz: int, gt_crop: torch.Tensor,
                         visible: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The target classifier's hinge terms (frame-level training's) on the recorded search crops.

        Args:
            iterate_scores: (T, R, h, w) score maps of every filter iterate, initial first.
            feature_sz: side of the classification feature map the scores come from.
            gt_crop: (R, T, 4) ground truth ``xywh`` in crop pixels.
            visible: (R, T) bool; hidden frames and empty boxes contribute nothing.

        Returns:
            ``test_init_clf``, ``test_clf`` and ``test_iter_clf`` (0 without intermediate iterates,
            which the frame-level actor drops too), unweighted.
        """
        first = iterate_scores[0]
        gt = gt_crop.transpose(0, 1).reshape(-1, 4)                          # (T*R, 4), step-major
        valid = visible.transpose(0, 1).reshape(-1).to(gt.device) & (gt[:, 2:] > 0).all(dim=1)
        keep = torch.nonzero(valid, as_tuple=False).squeeze(1)
        if keep.numel() == 0:
            zero = first.sum() * 0.0
            return {name: zero for name in TRDIMP_CLASSIFIER_TERMS}
        label = gaussian_label_function(gt[keep].detach().float(), self.label_sigma_factor,
                                        self.net.classifier.filter_size, feature_sz, self.core.sample_size,
                                        end_pad_if_even=True).to(first)
        losses = [lb_hinge(s.reshape(-1, *s.shape[-2:])[keep], label, self.hinge_threshold) for s in iterate_scores]
        terms = filter_iterate_terms(losses)
        terms.setdefault("test_iter_clf", first.sum() * 0.0)
        return terms

    def box_loss(self, feat: Dict[str, torch.Tensor], num_train_images: int, train_boxes: torch.Tensor,
                 gt_crop: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """IoU-Net KL-regression loss on the recorded search crops (visible frames with a box).

        Args:
            feat: backbone maps of [train images (N x R, image-major), search crops (T x R)].
            num_train_images: N x R.
            train_boxes: (N', R, 4) train boxes; the identity sample (index 0) modulates.
            gt_crop: (R, T, 4) ground truth ``xywh`` in crop pixels.
            visible: (R, T) bool.
        """
        net = self.net
        num_rollouts, num_steps = gt_crop.shape[:2]
        gt = gt_crop.transpose(0, 1).reshape(-1, 4)                          # (T*R, 4), step-major
        valid = visible.transpose(0, 1).reshape(-1).to(gt.device) & (gt[:, 2:] > 0).all(dim=1)
        keep = torch.nonzero(valid, as_tuple=False).squeeze(1)
        layers = net.bb_regressor_layer
        anchor = feat[layers[0]]
        if keep.numel() == 0:
            return anchor.sum() * 0.0
        ref_feat = [feat[l][:num_rollouts] for l in layers]                   # identity samples: first R images
        modulation = net.bb_regressor.get_modulation(ref_feat, train_boxes[0])
        rollout = keep % num_rollouts
        modulation = [m.reshape(num_rollouts, -1)[rollout] for m in modulation]
        test_feat = net.bb_regressor.get_iou_feat([feat[l][num_train_images:][keep] for l in layers])
        params = self.proposal_params
        proposals, proposal_density, gt_density = sample_box_gmm(
            gt[keep].detach().float(), params["proposal_sigma"], params["gt_sigma"], int(params["boxes_per_frame"]),
            generator=self.proposal_generator)
        iou = net.bb_regressor.predict_iou(modulation, test_feat, proposals)
        return kl_regression(iou, proposal_density, gt_density)

    def loss_weights(self) -> Dict[str, float]:
        """``{term: weight}`` of the arm the current ``scst_weight`` / ``so_mode`` / ``box_weight`` select."""
        box_scale = self.box_weight / self.loss_table.slt_weights["bb_ce"]
        return self.loss_table.weights(self.scst_weight, self.so_mode, box_scale=box_scale)

    def replay_loss(self, records: ReplayRecords, advantage: torch.Tensor) -> LossOutput:
        """The terms of the current arm (:meth:`loss_weights`) with gradients; see the module docstring."""
        weights = self.loss_weights()
        need_classifier = any(name in weights for name in TRDIMP_CLASSIFIER_TERMS)
        scores, extras = self.replay_scores(records, all_iterates=need_classifier)
        num_rollouts, num_steps = scores.shape[:2]
        actions = records.steps["action"].to(scores.device).long()
        log_p = self.policy.log_probs(scores.reshape(num_rollouts * num_steps, -1))
        log_p = log_p.gather(1, actions.reshape(-1, 1)).reshape(num_rollouts, num_steps)
        scst = scst_loss(log_p, advantage.to(log_p), reduction=self.scst_reduction)
        gt_crop = records.steps["gt_crop"].to(scores.device)
        terms: Dict[str, torch.Tensor] = {}
        if need_classifier:
            computed = self.classifier_terms(extras["iterate_scores"], extras["feature_sz"], gt_crop,
                                             records.visible)
            terms.update({name: value for name, value in computed.items() if name in weights})
        if "bb_ce" in weights:
            terms["bb_ce"] = self.box_loss(extras["feat"], extras["num_train_images"], extras["train_boxes"],
                                           gt_crop, records.visible)
        out = arm_loss(weights, scst, terms)
        out.stats["logp/mean"] = float(log_p.detach().mean())
        return out
