"""SiamAttn training loss (official ``mask_model_builder.forward`` with ``siamattn.yaml``).

``total = 1.0 cls + 0.5 loc + 0.5 refine + 0.2 mask``:

* ``cls`` / ``loc``: SiamRPN++'s anchor losses (:mod:`ltr.models.loss.siamrpnpp_loss`);
* ``refine``: smooth-L1 (beta 1, mean over elements) of the refinement head on
  ``rois_per_image`` (16) foreground RoIs per pair, sampled from the RPN's decoded proposals (``loc``
  detached) plus the ground-truth box: foreground is IoU >= 0.5 with the ground truth; with more
  than 16 a random subset is kept, with fewer they are cycled. Targets are Faster R-CNN deltas
  (widths ``x2 - x1``) divided by ``BBOX_STDS``;
* ``mask``: binary cross-entropy with logits of the mask head on the same RoIs against the
  ground-truth mask cropped at ``int(clip(roi))`` and resized (nearest) to the mask size, only for
  RoIs of samples with a mask (``mask_weight`` 1); online hard example mining keeps the largest
  ``mask_ohem`` (70 %) of the pixel losses. Without any masked sample the term is 0 (with a graph).

Unlike the official code the RoIs keep their own batch index, so samples without masks in the
batch never shift the masks of others (the official FLT forward misaligns them when negative pairs
are present).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ltr.models.head.refine import BBOX_STDS
from ltr.models.loss.siamrpnpp_loss import log_softmax_cls, select_cross_entropy_loss, weight_l1_loss
from ltr.models.siamese.anchor_target import AnchorTargets
from ltr.models.siamese.anchors import box_iou_xyxy, cxcywh_to_xyxy, decode_deltas

__all__ = ["FRAME_TERMS", "sample_refine_rois", "refine_targets", "mask_targets", "mask_loss_bce",
           "SiamAttnLossTerms", "siamattn_terms"]

#: Names of the frame-level terms, in reporting order.
FRAME_TERMS: Tuple[str, ...] = ("cls", "loc", "refine", "mask")


def refine_targets(rois_xyxy: torch.Tensor, gt_xyxy: torch.Tensor) -> torch.Tensor:
    """Faster R-CNN deltas (K, 4) of ``gt_xyxy`` w.r.t. ``rois_xyxy`` (K, 4), divided by ``BBOX_STDS``."""
    ew, eh = rois_xyxy[:, 2] - rois_xyxy[:, 0], rois_xyxy[:, 3] - rois_xyxy[:, 1]
    ex, ey = rois_xyxy[:, 0] + 0.5 * ew, rois_xyxy[:, 1] + 0.5 * eh
    gw, gh = gt_xyxy[:, 2] - gt_xyxy[:, 0], gt_xyxy[:, 3] - gt_xyxy[:, 1]
    gx, gy = gt_xyxy[:, 0] + 0.5 * gw, gt_xyxy[:, 1] + 0.5 * gh
    ew, eh = ew.clamp_min(1e-3), eh.clamp_min(1e-3)
    deltas = torch.stack([(gx - ex) / ew, (gy - ey) / eh, torch.log(gw.clamp_min(1e-3) / ew),
                          torch.log(gh.clamp_min(1e-3) / eh)], dim=1)
    return deltas / deltas.new_tensor(BBOX_STDS)


def sample_refine_rois(loc: torch.Tensor, anchors_cxcywh: torch.Tensor, gt_xyxy: torch.Tensor, rois_per_image: int,
                       fg_iou: float = 0.5, generator: Optional[torch.Generator] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Foreground RoIs of B search crops from the decoded proposals plus the ground truth.

    Args:
        loc: (B, 4A, S, S) RPN deltas (detached here).
        anchors_cxcywh: (N, 4) anchors in absolute search-crop pixels (``AnchorTarget.anchors``).
        gt_xyxy: (B, 4) ground truth, search-crop pixels.
        rois_per_image: RoIs per crop (16).
        fg_iou: IoU with the ground truth a proposal needs (0.5).

    Returns:
        rois (B * R, 5) [batch index, x1, y1, x2, y2] and their refinement targets (B * R, 4).
    """
    b = loc.shape[0]
    n = anchors_cxcywh.shape[0]
    deltas = loc.detach().float().reshape(b, 4, n).transpose(1, 2)
    proposals = cxcywh_to_xyxy(decode_deltas(deltas, anchors_cxcywh.to(deltas)[None]))
    gt = gt_xyxy.to(proposals)
    boxes = torch.cat([proposals, gt[:, None]], dim=1)                      # (B, N + 1, 4)
    fg = box_iou_xyxy(boxes, gt[:, None]) >= fg_iou
    fg[:, -1] = True                                                        # the ground truth itself
    count = fg.sum(1)                                                        # >= 1
    device = generator.device if generator is not None else loc.device
    keys = torch.rand(fg.shape, generator=generator, device=device).to(loc.device).masked_fill(~fg, 2.0)
    order = keys.argsort(dim=1)                                              # fg first, in random order
    slot = torch.arange(rois_per_image, device=loc.device)[None] % count[:, None]
    picked = order.gather(1, slot)                                           # (B, R)
    rois_xyxy = boxes.gather(1, picked[..., None].expand(-1, -1, 4)).reshape(-1, 4)
    batch_index = torch.arange(b, device=loc.device).repeat_interleave(rois_per_image).to(rois_xyxy)
    targets = refine_targets(rois_xyxy, gt.repeat_interleave(rois_per_image, dim=0))
    return torch.cat([batch_index[:, None], rois_xyxy], dim=1), targets


def mask_targets(masks: torch.Tensor, rois: torch.Tensor, size: int) -> torch.Tensor:
    """Ground-truth masks (B, H, W) cropped at ``int(clip(roi))`` ([y1:y2+1, x1:x2+1]) and resized
    (nearest) to (K, size, size), as the official mask target builder does."""
    h, w = masks.shape[-2:]
    out = masks.new_zeros(rois.shape[0], size, size)
    coords = rois[:, 1:].detach().cpu()
    x1 = coords[:, 0].clamp(0, w - 1).long().tolist()
    y1 = coords[:, 1].clamp(0, h - 1).long().tolist()
    x2 = coords[:, 2].clamp(0, w - 1).long().tolist()
    y2 = coords[:, 3].clamp(0, h - 1).long().tolist()
    index = rois[:, 0].long().tolist()
    for k in range(rois.shape[0]):
        patch = masks[index[k], y1[k]:max(y2[k], y1[k]) + 1, x1[k]:max(x2[k], x1[k]) + 1]
        out[k] = F.interpolate(patch[None, None], size=(size, size), mode="nearest")[0, 0]
    return out


def mask_loss_bce(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, ohem: float = 0.7) -> torch.Tensor:
    """BCE with logits (K, 1, m, m) vs targets (K, m, m) over the RoIs with ``weight`` > 0, keeping the
    largest ``ohem`` share of the pixel losses (online hard example mining); 0 if no RoI has a mask."""
    keep = weight > 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    losses = F.binary_cross_entropy_with_logits(logits[keep].flatten(), targets[keep].flatten().to(logits),
                                                reduction="none")
    top = max(int(ohem * losses.numel()), 1)
    return losses.topk(top).values.mean()


@dataclass
class SiamAttnLossTerms:
    """Weighted total and the unweighted terms (scalars; a term not asked for is absent)."""

    total: torch.Tensor
    terms: Dict[str, torch.Tensor]


def siamattn_terms(outputs, targets: AnchorTargets, gt_xyxy: torch.Tensor, anchors_cxcywh: torch.Tensor,
                   refine: Callable[[object, torch.Tensor], torch.Tensor],
                   mask: Callable[[object, torch.Tensor], torch.Tensor], cfg,
                   masks: Optional[torch.Tensor] = None, mask_weight: Optional[torch.Tensor] = None,
                   names: Sequence[str] = FRAME_TERMS, generator: Optional[torch.Generator] = None
                   ) -> Dict[str, torch.Tensor]:
    """The unweighted SiamAttn terms ``names`` of B (template, search) pairs.

    Args:
        outputs: :class:`~ltr.models.tracking.siamattn.SiamAttnOutputs` of the B pairs.
        targets: ``AnchorTarget`` targets of the ground truth ``gt_xyxy`` (B, 4) (search-crop pixels).
        anchors_cxcywh: the anchors the targets use (absolute crop pixels).
        refine, mask: the network's ``refine(outputs, rois)`` / ``mask(outputs, rois)``.
        cfg: a :class:`~ltr.models.tracking.siamattn.SiamAttnConfig` (RoI sampling, mask size, OHEM).
        masks: (B, X, X) ground-truth search-crop masks, or None (no sample has one).
        mask_weight: (B,) 1 where the sample has a mask; None: all 0.
    """
    terms: Dict[str, torch.Tensor] = {}
    if "cls" in names:
        terms["cls"] = select_cross_entropy_loss(log_softmax_cls(outputs.cls), targets.cls)
    if "loc" in names:
        terms["loc"] = weight_l1_loss(outputs.loc, targets.delta, targets.delta_weight)
    if "refine" in names or "mask" in names:
        rois, deltas = sample_refine_rois(outputs.loc, anchors_cxcywh, gt_xyxy, cfg.rois_per_image, cfg.roi_fg_iou,
                                          generator)
        if "refine" in names:
            terms["refine"] = F.smooth_l1_loss(refine(outputs, rois), deltas)
        if "mask" in names:
            b = outputs.cls.shape[0]
            weight = (mask_weight if mask_weight is not None else outputs.cls.new_zeros(b)).to(outputs.cls)
            roi_weight = weight.repeat_interleave(cfg.rois_per_image)
            if masks is None or not bool((roi_weight > 0).any()):
                # No mask in the batch: skip the mask head, keep a (zero) graph through it.
                terms["mask"] = outputs.mask_feature.sum() * 0.0
            else:
                keep = roi_weight > 0
                logits = mask(outputs, rois[keep])
                target = mask_targets(masks.to(outputs.cls), rois[keep], cfg.mask_size)
                terms["mask"] = mask_loss_bce(logits, target, roi_weight[keep], cfg.mask_ohem)
    return terms
