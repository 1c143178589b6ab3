"""TransT matcher, box operations and set criterion."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ltr.models.loss.transt_loss import (
    TRANST_LOSS_WEIGHTS, HungarianMatcher, SetCriterion, TrackingMatcher, box_cxcywh_to_xyxy,
    box_xywh_to_cxcywh, box_xywh_to_normalized_cxcywh, box_xyxy_to_cxcywh, build_transt_loss,
    elementwise_box_giou, generalized_box_iou)


# ---------------------------------------------------------------------- boxes
def test_box_conversions_round_trip():
    b = torch.tensor([[0.5, 0.4, 0.2, 0.6], [0.1, 0.9, 0.05, 0.01]])
    assert torch.allclose(box_xyxy_to_cxcywh(box_cxcywh_to_xyxy(b)), b)
    assert torch.allclose(box_cxcywh_to_xyxy(b)[0], torch.tensor([0.4, 0.1, 0.6, 0.7]))
    assert torch.allclose(box_xywh_to_cxcywh(torch.tensor([10.0, 20.0, 4.0, 6.0])), torch.tensor([12.0, 23.0, 4.0, 6.0]))
    norm = box_xywh_to_normalized_cxcywh(torch.tensor([[96.0, 112.0, 64.0, 32.0]]), (256, 256))
    assert torch.allclose(norm, torch.tensor([[0.5, 0.5, 0.25, 0.125]]))


def test_giou_hand_cases():
    a = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 3.0, 3.0], [2.0, 0.0, 3.0, 1.0]])
    giou, iou = elementwise_box_giou(a, b)
    assert torch.allclose(iou, torch.tensor([1.0, 1 / 7, 0.0]))
    assert torch.allclose(giou, torch.tensor([1.0, 1 / 7 - 2 / 9, -1 / 3]))
    pg, pi = generalized_box_iou(a, b)
    assert pg.shape == (3, 3)
    assert torch.allclose(torch.diag(pg), giou) and torch.allclose(torch.diag(pi), iou)
    # Far apart boxes approach -1.
    g, _ = elementwise_box_giou(torch.tensor([[0.0, 0.0, 0.01, 0.01]]), torch.tensor([[0.99, 0.99, 1.0, 1.0]]))
    assert g.item() < -0.99


# ---------------------------------------------------------------------- matcher
def _official_indices(box, n):
    """The reference matcher's rule for one in-bounds cxcywh box (numpy slicing)."""
    cx, cy, w, h = [float(v) for v in box]
    side = int(np.sqrt(n))
    x1, y1 = int(np.ceil((cx - w / 2) * side)), int(np.ceil((cy - h / 2) * side))
    x2, y2 = int(np.ceil((cx + w / 2) * side)), int(np.ceil((cy + h / 2) * side))
    if x1 == x2:
        x2 += 1
    if y1 == y2:
        y2 += 1
    return np.arange(n).reshape(side, side)[y1:y2, x1:x2].flatten()


def _outputs(b, n):
    return {"pred_logits": torch.zeros(b, n, 2), "pred_boxes": torch.full((b, n, 4), 0.5)}


def test_tracking_matcher_hand_cases():
    m = TrackingMatcher()
    targets = torch.tensor([
        [0.5, 0.5, 0.5, 0.5],     # cells 1..2 x 1..2 of a 4x4 map
        [0.3, 0.3, 0.01, 0.01],   # tiny box: empty ranges widen to one cell (2, 2)
        [0.0, 0.5, 0.5, 0.25],    # partly left of the crop: only the inside column 0
        [0.5, 0.5, 1.0, 1.0],     # whole crop
    ], dtype=torch.float32)
    idx = m(_outputs(4, 16), targets)
    assert idx[0][0].tolist() == [5, 6, 9, 10]
    assert idx[1][0].tolist() == [10]
    assert idx[2][0].tolist() == [8]
    assert idx[3][0].tolist() == list(range(16))
    assert all(int(t.sum()) == 0 and t.dtype == torch.int64 for _, t in idx)


def test_tracking_matcher_equals_reference_rule_in_bounds():
    g = torch.Generator().manual_seed(3)
    m = TrackingMatcher()
    n = 32 * 32
    wh = torch.rand(50, 2, generator=g) * 0.5 + 0.01
    c = wh / 2 + torch.rand(50, 2, generator=g) * (1 - wh)
    boxes = torch.cat([c, wh], 1)
    idx = m(_outputs(50, n), boxes)
    for i in range(50):
        assert idx[i][0].tolist() == _official_indices(boxes[i], n).tolist()
    # list-of-dicts targets (reference format) give the same result
    idx2 = m(_outputs(2, n), [{"boxes": boxes[i:i + 1], "labels": torch.tensor([0])} for i in range(2)])
    assert all(torch.equal(a[0], b[0]) for a, b in zip(idx[:2], idx2))


def test_hungarian_matcher_picks_best_token():
    n = 16
    out = _outputs(1, n)
    target = torch.tensor([[0.3, 0.6, 0.2, 0.2]])
    out["pred_boxes"][0, 7] = target[0]
    out["pred_logits"][0, 7, 0] = 3.0
    idx = HungarianMatcher()(out, target)
    assert idx[0][0].tolist() == [7] and idx[0][1].tolist() == [0]


# ---------------------------------------------------------------------- criterion
def _random_outputs(b, n, requires_grad=True):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(b, n, 2, generator=g).requires_grad_(requires_grad)
    raw = torch.randn(b, n, 4, generator=g).requires_grad_(requires_grad)
    return logits, raw


def test_criterion_values_and_gradients():
    b, n = 3, 64
    logits, raw = _random_outputs(b, n)
    outputs = {"pred_logits": logits, "pred_boxes": raw.sigmoid()}
    targets = torch.tensor([[0.5, 0.5, 0.3, 0.2], [0.2, 0.7, 0.1, 0.3], [0.9, 0.1, 0.15, 0.15]])
    crit = SetCriterion()
    losses = crit(outputs, targets)
    for k in ("loss_ce", "loss_bbox", "loss_giou", "iou", "class_error", "total"):
        assert torch.isfinite(losses[k]), k
    expected = sum(TRANST_LOSS_WEIGHTS[k] * losses[k] for k in ("loss_ce", "loss_bbox", "loss_giou"))
    assert torch.allclose(losses["total"], expected)
    losses["total"].backward()
    assert logits.grad is not None and raw.grad is not None
    assert torch.isfinite(logits.grad).all() and torch.isfinite(raw.grad).all()

    # Manual check of the weighted cross-entropy and the normalisation.
    pos = TrackingMatcher().positive_mask(targets, (8, 8))
    cls = torch.where(pos, 0, 1)
    ce = F.cross_entropy(logits.detach().transpose(1, 2), cls, torch.tensor([1.0, 0.0625]))
    assert torch.allclose(losses["loss_ce"], ce)
    num_pos = pos.sum().item()
    assert losses["num_pos"].item() == num_pos
    boxes = raw.detach().sigmoid()
    l1 = sum((boxes[i][pos[i]] - targets[i]).abs().sum() for i in range(b)) / num_pos
    assert torch.allclose(losses["loss_bbox"], l1)


def test_perfect_prediction_has_zero_box_loss():
    n = 16
    target = torch.tensor([[0.5, 0.5, 0.5, 0.5]])
    boxes = target[:, None, :].expand(1, n, 4).clone()
    logits = torch.zeros(1, n, 2)
    losses = SetCriterion()({"pred_logits": logits, "pred_boxes": boxes}, target)
    assert losses["loss_bbox"].item() == pytest.approx(0.0, abs=1e-7)
    assert losses["loss_giou"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["iou"].item() == pytest.approx(1.0, abs=1e-6)


def test_list_targets_equal_tensor_targets_and_box_only_variant():
    logits, raw = _random_outputs(2, 64, requires_grad=False)
    outputs = {"pred_logits": logits, "pred_boxes": raw.sigmoid()}
    targets = torch.tensor([[0.5, 0.5, 0.3, 0.2], [0.4, 0.4, 0.5, 0.5]])
    a = SetCriterion()(outputs, targets)
    b = SetCriterion()(outputs, [{"boxes": t[None], "labels": torch.tensor([0])} for t in targets])
    for k in ("loss_ce", "loss_bbox", "loss_giou", "total"):
        assert torch.allclose(a[k], b[k])
    slt = build_transt_loss(losses=("boxes",))
    c = slt(outputs, targets)
    assert "loss_ce" not in c
    assert torch.allclose(c["total"], 5 * a["loss_bbox"] + 2 * a["loss_giou"])


def test_invalid_samples_get_no_positives():
    logits, raw = _random_outputs(2, 64)
    outputs = {"pred_logits": logits, "pred_boxes": raw.sigmoid()}
    targets = torch.tensor([[0.5, 0.5, 0.3, 0.2], [0.0, 0.0, 0.0, 0.0]])
    losses = SetCriterion()(outputs, targets, valid=torch.tensor([False, False]))
    assert losses["loss_bbox"].item() == 0.0 and losses["num_pos"].item() == 0
    losses["total"].backward()          # still differentiable through the CE term
    assert logits.grad is not None
    one = SetCriterion()(outputs, targets, valid=torch.tensor([True, False]))
    ref = SetCriterion()({k: v[:1] for k, v in outputs.items()}, targets[:1])
    assert torch.allclose(one["loss_bbox"], ref["loss_bbox"])


def test_hungarian_criterion_runs():
    logits, raw = _random_outputs(2, 64)
    crit = build_transt_loss(matcher="hungarian")
    losses = crit({"pred_logits": logits, "pred_boxes": raw.sigmoid()}, torch.tensor([[0.5, 0.5, 0.3, 0.2]] * 2))
    assert losses["num_pos"].item() == 2
    losses["total"].backward()
    assert torch.isfinite(raw.grad).all()


def test_loss_on_tiny_model_backpropagates():
    from ltr.models.tracking.transt import build_transt
    model = build_transt("tiny").train()
    out = model(torch.randn(2, 3, 128, 128), torch.randn(2, 3, 64, 64))
    losses = build_transt_loss()(out, torch.tensor([[0.5, 0.5, 0.25, 0.25], [0.45, 0.55, 0.2, 0.3]]))
    losses["total"].backward()
    assert model.bbox_embed.layers[0].weight.grad is not None
    assert model.backbone.resnet.layer3[0].conv2.weight.grad.abs().sum() > 0
