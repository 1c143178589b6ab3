"""Frame-level actor of TrDiMP: filter learning on the train frames, hinge + KL losses on the test frames."""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import torch

from ltr.data.crop import to_model_input
from ltr.models.loss.trdimp_loss import (TRDIMP_HINGE_THRESHOLD, TRDIMP_LOSS_WEIGHTS, KLRegression, LBHinge,
                                         filter_iterate_terms)

__all__ = ["TrDiMPActor", "OFFICIAL_LOSS_WEIGHT"]

#: Loss weights of TrDiMP's training (defined in :mod:`ltr.models.loss.trdimp_loss`).
OFFICIAL_LOSS_WEIGHT: Dict[str, float] = TRDIMP_LOSS_WEIGHTS


class TrDiMPActor:
    """``actor(batch) -> (loss, stats)`` for batches of :func:`ltr.data.trdimp_processing.stack_dimp_batch`.

    The network learns a filter from the train (template) crops and scores the test (search)
    crops with the initial filter and every steepest-descent iterate; the IoU-Net scores the
    test proposals. Loss (weights :data:`OFFICIAL_LOSS_WEIGHT`)::

        bb_ce * KL(IoU-Net) + test_init_clf * hinge(scores_0) + test_clf * hinge(scores_last)
            + test_iter_clf / (iterates - 2) * sum(hinge(intermediate scores))

    with the hinge loss :class:`~ltr.models.loss.trdimp_loss.LBHinge` against ``search_label``.
    The intermediate iterates share one weight, so the total does not grow with the number of
    optimiser steps.

    Args:
        net: :class:`~ltr.models.tracking.trdimp.TrDiMPNet`, possibly DDP-wrapped.
        loss_weight: term weights; a missing ``test_*`` key drops that term.
        hinge_threshold: label value below which cells are background (0.05).
        device: where the batch is moved.
    """

    def __init__(self, net: torch.nn.Module, loss_weight: Optional[Mapping[str, float]] = None,
                 hinge_threshold: float = TRDIMP_HINGE_THRESHOLD, device: str = "cpu"):
        self.net = net
        self.device = torch.device(device)
        self.loss_weight = dict(OFFICIAL_LOSS_WEIGHT if loss_weight is None else loss_weight)
        self.clf_loss = LBHinge(threshold=hinge_threshold)
        self.bb_loss = KLRegression()

    def _images(self, crops: torch.Tensor) -> torch.Tensor:
        """(N, B, 3, S, S) RGB 0-255 -> ImageNet-normalised network input of the same shape."""
        frames, batch = crops.shape[:2]
        normalised = to_model_input(crops.to(self.device).float().reshape(-1, *crops.shape[2:]), "rgb_imagenet")
        return normalised.reshape(frames, batch, *crops.shape[2:])

    def __call__(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        dev = self.device
        train_imgs = self._images(batch["template_images"])
        test_imgs = self._images(batch["search_images"])
        target_scores, iou_pred = self.net(train_imgs, test_imgs, batch["template_anno"].to(dev).float(),
                                           batch["search_proposals"].to(dev).float(),
                                           train_label=batch["template_label"].to(dev).float())

        # IoU-Net: one Monte-Carlo KL estimate per test frame, over its proposals.
        num_proposals = iou_pred.shape[-1]
        bb_ce = self.bb_loss(iou_pred.reshape(-1, num_proposals),
                             batch["proposal_density"].to(dev).float().reshape(-1, num_proposals),
                             batch["gt_density"].to(dev).float().reshape(-1, num_proposals))
        w = self.loss_weight
        loss = w.get("bb_ce", 0.0) * bb_ce

        label = batch["search_label"].to(dev).float()
        clf_losses = [self.clf_loss(s, label) for s in target_scores]
        clf_terms = filter_iterate_terms(clf_losses)
        stats: Dict[str, float] = {}
        # The final filter's term keeps its historical stats name, Loss/target_clf.
        for term, stat in (("test_clf", "Loss/target_clf"), ("test_init_clf", "Loss/test_init_clf"),
                           ("test_iter_clf", "Loss/test_iter_clf")):
            if term in w and term in clf_terms:
                weighted = w[term] * clf_terms[term]
                loss = loss + weighted
                stats[stat] = float(weighted.detach())

        if not torch.isfinite(loss):
            raise FloatingPointError(f"TrDiMP training loss is {float(loss)} (bb_ce {float(bb_ce)}, "
                                     f"clf {[round(float(c), 6) for c in clf_losses]}); lower the learning "
                                     f"rates or check the batch for degenerate boxes.")
        # Share of test frames whose final score peak falls on a positive label cell: a direct,
        # scale-free view of how well the classifier localises (the hinge values are tiny).
        final = target_scores[-1].detach().reshape(-1, label.shape[-2] * label.shape[-1])
        label_at_peak = label.reshape(final.shape).gather(1, final.argmax(dim=1, keepdim=True))
        peak_hit = float((label_at_peak >= self.clf_loss.threshold).float().mean())
        stats.update({"Loss/total": float(loss.detach()), "Loss/bb_ce": float(bb_ce.detach()),
                      "Loss/loss_bb_ce": float(w.get("bb_ce", 0.0) * bb_ce.detach()),
                      "ClfTrain/test_loss": float(clf_losses[-1].detach()),
                      "ClfTrain/test_init_loss": float(clf_losses[0].detach()),
                      "ClfTrain/peak_hit": peak_hit,
                      "frames_grad": float(test_imgs.shape[0] * test_imgs.shape[1])})
        return loss, stats
