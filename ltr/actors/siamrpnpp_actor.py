"""Frame-level actor of SiamRPN++: anchor targets from the search-crop box, pysot's loss."""
from __future__ import annotations

from typing import Dict, Tuple

import torch

from ltr.data.crop import to_model_input
from ltr.models.loss.siamrpnpp_loss import siamrpn_loss
from ltr.models.siamese.anchor_target import AnchorTarget, crop_xywh_to_anchor_xyxy
from ltr.models.tracking.siamrpnpp import SiamRPNConfig


class SiamRPNActor:
    """``actor(batch) -> (loss, stats)`` for batches of :func:`ltr.data.processing.stack_siamese_batch`.

    Args:
        net: SiamRPN++ network (``forward(template, search) -> (cls, loc)``), possibly DDP-wrapped.
        cfg: its config (anchors, target thresholds, loss weights).
        device: where the batch is moved.
    """

    def __init__(self, net: torch.nn.Module, cfg: SiamRPNConfig, device: str = "cpu"):
        self.net = net
        self.cfg = cfg
        self.device = torch.device(device)
        self.anchor_target = AnchorTarget(cfg)

    def __call__(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        template = to_model_input(batch["template"].to(self.device), "bgr255")
        search = to_model_input(batch["search"].to(self.device), "bgr255")
        cls, loc = self.net(template, search)
        targets = self.anchor_target(crop_xywh_to_anchor_xyxy(batch["search_box"].to(self.device).float()))
        terms = siamrpn_loss(cls, loc, targets.cls, targets.delta, targets.delta_weight,
                             cls_weight=self.cfg.cls_weight, loc_weight=self.cfg.loc_weight)
        stats = {"Loss/total": float(terms.total.detach()), "Loss/cls": float(terms.cls.detach()),
                 "Loss/loc": float(terms.loc.detach()), "frames_grad": float(search.shape[0])}
        return terms.total, stats
