"""Shared pieces of anchor-based Siamese networks: anchors and training targets (the test-time
post-processing is in pytracking/tracker/common/siamese_postprocess.py)."""
from .anchor_target import AnchorTarget, AnchorTargets, crop_xywh_to_anchor_xyxy, random_subset
from .anchors import (base_anchor_sizes, box_iou_xyxy, cosine_window, cxcywh_to_xyxy, decode_deltas,
                      encode_deltas, generate_anchors)

__all__ = ["AnchorTarget", "AnchorTargets", "crop_xywh_to_anchor_xyxy", "random_subset", "base_anchor_sizes",
           "box_iou_xyxy", "cosine_window",
           "cxcywh_to_xyxy", "decode_deltas", "encode_deltas", "generate_anchors"]
