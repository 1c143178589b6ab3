"""Frame-level actor of OSTrack: forward on (template, search) crops at the epoch's CE keep rate, OSTrack's loss."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from ltr.data.crop import to_model_input
from ltr.models.loss.ostrack_loss import OSTrackLoss
from ltr.models.tracking.ostrack import ce_keep_rate

__all__ = ["OSTrackActor"]


class OSTrackActor:
    """``actor(batch) -> (loss, stats)`` for batches of :func:`ltr.data.processing.stack_siamese_batch`.

    The search target ``'search_box'`` (B,4) xywh in crop pixels becomes xywh normalised by the
    crop side; the loss is OSTrack's 1 focal + 5 L1 + 2 GIoU (:class:`OSTrackLoss`).

    Candidate elimination follows OSTrack's schedule (:func:`ce_keep_rate`): the trainer calls
    :meth:`set_epoch` at the start of every epoch; before ``ce_start_epoch`` no token is dropped.

    Args:
        net: OSTrack network (``forward(template, search, ce_keep_rate)``), possibly DDP-wrapped.
        criterion: default ``OSTrackLoss()`` (the paper weights).
        device: where the batch is moved.
        ce_start_epoch, ce_warm_epochs, ce_keep_ratio: the schedule (20, 80, 0.7 officially).
    """

    def __init__(self, net: torch.nn.Module, criterion: Optional[OSTrackLoss] = None, device: str = "cpu",
                 ce_start_epoch: int = 20, ce_warm_epochs: int = 80, ce_keep_ratio: float = 0.7):
        self.net = net
        self.device = torch.device(device)
        self.criterion = criterion if criterion is not None else OSTrackLoss()
        self.ce_start_epoch, self.ce_warm_epochs, self.ce_keep_ratio = ce_start_epoch, ce_warm_epochs, ce_keep_ratio
        self.keep_rate = ce_keep_rate(1, ce_start_epoch, ce_warm_epochs, ce_keep_ratio)

    def set_epoch(self, epoch: int) -> None:
        """Set the CE keep rate of 1-based ``epoch``."""
        self.keep_rate = ce_keep_rate(epoch, self.ce_start_epoch, self.ce_warm_epochs, self.ce_keep_ratio)

    def __call__(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        template = to_model_input(batch["template"].to(self.device).float(), "rgb_imagenet")
        search = to_model_input(batch["search"].to(self.device).float(), "rgb_imagenet")
        outputs = self.net(template, search, self.keep_rate)
        target = batch["search_box"].to(self.device).float() / float(search.shape[-1])
        terms = self.criterion(outputs, target)
        stats = {"Loss/total": float(terms["total"].detach()), "Loss/focal": float(terms["focal"].detach()),
                 "Loss/l1": float(terms["l1"].detach()), "Loss/giou": float(terms["giou"].detach()),
                 "iou": float(terms["iou"]), "ce_keep_rate": float(self.keep_rate),
                 "frames_grad": float(search.shape[0])}
        return terms["total"], stats
