"""Frame-level actor of SiamAttn: SiamRPN++'s anchor targets plus the refine and mask terms."""
from __future__ import annotations

from typing import Dict, Tuple

import torch

from ltr.data.crop import to_model_input
from ltr.models.loss.siamattn_loss import FRAME_TERMS, siamattn_terms
from ltr.models.siamese.anchor_target import AnchorTarget, crop_xywh_to_anchor_xyxy
from ltr.models.tracking.siamattn import SiamAttnConfig

def flt_weights(cfg: SiamAttnConfig) -> Dict[str, float]:
    """``{term: weight}`` of the frame-level loss of ``cfg`` (siamattn.yaml: cls 1.0, loc 0.5, refine 0.5, mask 0.2)."""
    return {"cls": cfg.cls_weight, "loc": cfg.loc_weight, "refine": cfg.refine_weight, "mask": cfg.mask_weight}


class SiamAttnActor:
    """``actor(batch) -> (loss, stats)`` for batches of :func:`ltr.data.processing.stack_siamese_batch`.

    The batch may carry 'search_mask' (B, X, X) and 'mask_weight' (B,) (datasets with masks, sampled
    with ``return_masks``); without them the mask term is 0.

    Args:
        net: SiamAttn network, possibly DDP-wrapped.
        cfg: its config (anchors, targets, RoI sampling, loss weights).
        device: where the batch is moved.
    """

    def __init__(self, net: torch.nn.Module, cfg: SiamAttnConfig, device: str = "cpu"):
        self.net = net
        self.cfg = cfg
        self.device = torch.device(device)
        self.anchor_target = AnchorTarget(cfg)
        self.weights = flt_weights(cfg)

    def __call__(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        model = getattr(self.net, "module", self.net)  # the RoI heads are called on the unwrapped network
        template = to_model_input(batch["template"].to(self.device), "bgr255")
        search = to_model_input(batch["search"].to(self.device), "bgr255")
        outputs = self.net(template, search)
        gt_xyxy = crop_xywh_to_anchor_xyxy(batch["search_box"].to(self.device).float())
        targets = self.anchor_target(gt_xyxy)
        masks = batch.get("search_mask")
        weight = batch.get("mask_weight")
        terms = siamattn_terms(outputs, targets, gt_xyxy, self.anchor_target.anchors.to(self.device), model.refine,
                               model.mask, self.cfg, masks=None if masks is None else masks.to(self.device),
                               mask_weight=None if weight is None else weight.to(self.device), names=FRAME_TERMS)
        total = sum(self.weights[k] * terms[k] for k in FRAME_TERMS)
        stats = {"Loss/total": float(total.detach()), "frames_grad": float(search.shape[0])}
        stats.update({f"Loss/{k}": float(terms[k].detach()) for k in FRAME_TERMS})
        if weight is not None:
            stats["mask_frames"] = float(weight.sum())
        return total, stats
