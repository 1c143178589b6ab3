"""Frame-level actor of TransT: forward on (template, search) crops, TransT's set criterion."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from ltr.data.crop import to_model_input
from ltr.models.loss.transt_loss import SetCriterion, box_xywh_to_normalized_cxcywh, build_transt_loss

__all__ = ["TransTActor"]


class TransTActor:
    """``actor(batch) -> (loss, stats)`` for batches of :func:`ltr.data.processing.stack_siamese_batch`.

    The batch holds RGB 0-255 crops ``'template'`` (B,3,Z,Z) and ``'search'`` (B,3,X,X) and the
    search target ``'search_box'`` (B,4) xywh in search-crop pixels. The target becomes cxcywh
    normalised by the crop size; the loss is TransT's: 8.334 CE + 5 L1 + 2 GIoU, every token inside
    the target box being a positive.

    Args:
        net: TransT network (``forward(search, template)``), possibly DDP-wrapped.
        criterion: default ``build_transt_loss()`` (the paper weights).
        device: where the batch is moved.
    """

    def __init__(self, net: torch.nn.Module, criterion: Optional[SetCriterion] = None, device: str = "cpu"):
        self.net = net
        self.device = torch.device(device)
        self.criterion = (criterion if criterion is not None else build_transt_loss()).to(self.device)

    def __call__(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        template = to_model_input(batch["template"].to(self.device).float(), "rgb_imagenet")
        search = to_model_input(batch["search"].to(self.device).float(), "rgb_imagenet")
        outputs = self.net(search, template)
        targets = box_xywh_to_normalized_cxcywh(batch["search_box"].to(self.device).float(),
                                                (search.shape[-2], search.shape[-1]))
        terms = self.criterion(outputs, targets)
        stats = {"Loss/total": float(terms["total"].detach()), "Loss/ce": float(terms["loss_ce"].detach()),
                 "Loss/bbox": float(terms["loss_bbox"].detach()), "Loss/giou": float(terms["loss_giou"].detach()),
                 "iou": float(terms["iou"]), "class_error": float(terms["class_error"]),
                 "frames_grad": float(search.shape[0])}
        return terms["total"], stats
