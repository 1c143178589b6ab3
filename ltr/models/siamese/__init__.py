"""Shared pieces of anchor-based Siamese trackers: anchors, training targets, test-time post-processing."""
from .anchor_target import AnchorTarget, AnchorTargets, crop_xywh_to_anchor_xyxy, random_subset
from .anchors import (base_anchor_sizes, box_iou_xyxy, cosine_window, cxcywh_to_xyxy, decode_deltas,
                      encode_deltas, generate_anchors)
from .postprocess import (CandidateScores, crop_size_from_target, score_candidates, state_to_xywh, update_state,
                          xywh_to_state)

__all__ = ["AnchorTarget", "AnchorTargets", "crop_xywh_to_anchor_xyxy", "random_subset", "base_anchor_sizes",
           "box_iou_xyxy", "cosine_window",
           "cxcywh_to_xyxy", "decode_deltas", "encode_deltas", "generate_anchors", "CandidateScores",
           "crop_size_from_target", "score_candidates", "state_to_xywh", "update_state", "xywh_to_state"]
