"""pytracking protocol (AUC / Precision / NormPrecision): hand-computed cases and a loop re-statement.

Hand computations use the inclusive pixel convention: for boxes xywh, x2 = x + w - 1, the
intersection side is x2 - x1 + 1, the union is w*h + w'*h' - intersection, and the centre
is xy + (wh - 1) / 2. IoU thresholds are 0, 0.05, ..., 1.0 (21) and success means IoU > t.
"""
from __future__ import annotations

import numpy as np
import pytest

from pytracking.analysis.evaluate import evaluate_tracker
from pytracking.analysis.metrics import (CENTER_THRESHOLDS, NORM_CENTER_THRESHOLDS, OVERLAP_THRESHOLDS,
                                         center_error_inclusive, iou_inclusive, pytracking_curves)
from pytracking.evaluation.data import Sequence

GT3 = np.array([[0, 0, 10, 10]] * 3, dtype=float)


def test_thresholds():
    assert len(OVERLAP_THRESHOLDS) == 21 and OVERLAP_THRESHOLDS.dtype == np.float64
    np.testing.assert_array_equal(OVERLAP_THRESHOLDS, np.arange(0, 1 + 0.05, 0.05))
    assert OVERLAP_THRESHOLDS[10] == 0.5 and OVERLAP_THRESHOLDS[15] == 0.75
    np.testing.assert_array_equal(CENTER_THRESHOLDS, np.arange(51))
    assert NORM_CENTER_THRESHOLDS[20] == 0.2 and NORM_CENTER_THRESHOLDS[-1] == 0.5


def test_inclusive_iou_and_centre_by_hand():
    gt = np.array([[0, 0, 10, 10]], dtype=float)
    # [0,0,10,5]: sides 10 x 5 -> 50 / (50 + 100 - 50) = 0.5
    assert iou_inclusive(np.array([[0, 0, 10, 5]], float), gt)[0] == pytest.approx(0.5)
    # [5,0,10,10]: x in 5..9 (5 px) -> 50 / 150
    assert iou_inclusive(np.array([[5, 0, 10, 10]], float), gt)[0] == pytest.approx(1 / 3)
    # touching boxes [10,0,10,10]: x1 = 10 > x2 = 9 -> no overlap
    assert iou_inclusive(np.array([[10, 0, 10, 10]], float), gt)[0] == 0.0
    # one-pixel overlap [9,9,10,10]: 1 / (200 - 1)
    assert iou_inclusive(np.array([[9, 9, 10, 10]], float), gt)[0] == pytest.approx(1 / 199)
    # centres: (0 + 4.5, 0 + 2) vs (4.5, 4.5) -> 2.5 px; normalised by (10, 10) -> 0.25
    assert center_error_inclusive(np.array([[0, 0, 10, 5]], float), gt)[0] == pytest.approx(2.5)
    assert center_error_inclusive(np.array([[0, 0, 10, 5]], float), gt, normalized=True)[0] == pytest.approx(0.25)


def test_three_frames_by_hand():
    # frame 0: replaced by GT -> IoU 1, error 0
    # frame 1: [0,0,10,5]  -> IoU 0.5, error 2.5 px, normalised 0.25
    # frame 2: [5,0,10,10] -> IoU 1/3, error 5 px,   normalised 0.5
    pred = np.array([[100, 100, 5, 5], [0, 0, 10, 5], [5, 0, 10, 10]], dtype=float)
    curves = pytracking_curves([pred], [GT3])
    # IoU 1 > t for 20 thresholds (not t = 1.0); 0.5 > t for t = 0..0.45 (10); 1/3 > t for t = 0..0.30 (7)
    expected = np.array([3] * 7 + [2] * 3 + [1] * 10 + [0]) / 3
    np.testing.assert_allclose(curves.success[0], expected)
    # errors 0, 2.5, 5 against 0..50 px
    expected_prec = np.array([1, 1, 1, 2, 2] + [3] * 46) / 3
    np.testing.assert_allclose(curves.precision[0], expected_prec)
    scores = curves.scores()
    assert scores["AUC"] == pytest.approx(100 * 37 / 63)
    assert scores["OP50"] == pytest.approx(100 / 3)  # 0.5 > 0.5 is false
    assert scores["OP75"] == pytest.approx(100 / 3)
    assert scores["Precision"] == pytest.approx(100.0)
    assert scores["NormPrecision"] == pytest.approx(100 / 3)  # only frame 0 is within 0.2


def test_zero_size_prediction_takes_previous_box():
    # frame 1 has zero size -> copies frame 0's prediction (which is GT here) -> IoU 1
    # frame 2: [2,0,10,10] -> sides 8 x 10 = 80 / 120
    pred = np.array([[0, 0, 10, 10], [3, 3, 0, 0], [2, 0, 10, 10]], dtype=float)
    curves = pytracking_curves([pred], [GT3])
    iou_frame2 = 80 / 120
    expected = (np.array([2.0] * 21) + (iou_frame2 > OVERLAP_THRESHOLDS)) / 3
    expected[-1] = 0
    np.testing.assert_allclose(curves.success[0], expected)


def test_zero_size_chain_inherits_original_first_prediction():
    # pytracking fills zero sizes before writing GT into frame 0, so frames 1 and 2 copy the
    # *original* frame-0 prediction [50,50,10,10] (IoU 0, error 70.7 px > 50).
    pred = np.array([[50, 50, 10, 10], [0, 0, 0, 4], [0, 0, 7, 0]], dtype=float)
    curves = pytracking_curves([pred], [GT3])
    np.testing.assert_allclose(curves.success[0][:20], 1 / 3)
    np.testing.assert_allclose(curves.precision[0][-1], 1 / 3)


def test_negative_size_treated_as_zero_size():
    neg = np.array([[0, 0, 10, 10], [1, 1, -4, 10], [0, 0, 10, 10]], dtype=float)
    zero = np.array([[0, 0, 10, 10], [1, 1, 0, 10], [0, 0, 10, 10]], dtype=float)
    a, b = pytracking_curves([neg], [GT3]), pytracking_curves([zero], [GT3])
    np.testing.assert_array_equal(a.success, b.success)
    assert a.scores()["AUC"] == pytest.approx(100 * 20 / 21)


def test_invalid_ground_truth_non_lasot():
    # frame 2 has no valid GT (w = 0): IoU -1, error inf, normalised error -1 (counts as a
    # success at every normalised threshold, as in pytracking); the divisor is the 2 valid frames.
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 0, 0]], dtype=float)
    pred = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    scores = pytracking_curves([pred], [gt]).scores()
    assert scores["AUC"] == pytest.approx(100 * (20 + 7) / 42)
    assert scores["Precision"] == pytest.approx(100.0)
    assert scores["NormPrecision"] == pytest.approx(100.0)  # frame 0 (0) and frame 2 (-1)


def test_lasot_rules_invisible_frames_fail_and_count():
    # LaSOT: invisible frame 1 gets IoU -1 and inf errors; the divisor is all 3 frames.
    pred = GT3.copy()
    visible = np.array([True, False, True])
    scores = pytracking_curves([pred], [GT3], target_visible=[visible], lasot_style=True).scores()
    assert scores["AUC"] == pytest.approx(100 * 40 / 63)
    assert scores["Precision"] == pytest.approx(200 / 3)
    assert scores["NormPrecision"] == pytest.approx(200 / 3)


def test_sequences_are_averaged_not_pooled():
    short = (np.array([[0, 0, 10, 10]], float), np.array([[0, 0, 10, 10]], float))
    long_pred = np.array([[0, 0, 10, 10]] + [[50, 50, 10, 10]] * 9, float)
    long_gt = np.array([[0, 0, 10, 10]] * 10, float)
    curves = pytracking_curves([short[0], long_pred], [short[1], long_gt])
    # per sequence success at t=0: 1/1 and 1/10 -> mean 0.55 (pooled would be 2/11)
    assert curves.success_curve()[0] == pytest.approx(55.0)


def test_frame_interval_subsamples_frames():
    gt = np.array([[0, 0, 10, 10]] * 5, float)
    pred = np.array([[0, 0, 10, 10], [90, 90, 5, 5], [0, 0, 10, 5], [90, 90, 5, 5], [5, 0, 10, 10]], float)
    full = pytracking_curves([pred], [gt], frame_interval=2)
    short = pytracking_curves([pred[::2]], [gt], frame_interval=2)
    reference = pytracking_curves([pred[::2]], [gt[::2]])
    np.testing.assert_array_equal(full.success, reference.success)
    np.testing.assert_array_equal(short.success, reference.success)
    assert reference.scores()["AUC"] == pytest.approx(100 * 37 / 63)  # the 3-frame case above
    with pytest.raises(ValueError, match="4 predicted boxes for 5 frames"):
        pytracking_curves([pred[:4]], [gt], frame_interval=2)


def test_nan_ground_truth_is_an_error():
    gt = GT3.copy()
    gt[1, 0] = np.nan
    with pytest.raises(ValueError, match="seqX: NaN in the ground truth"):
        pytracking_curves([GT3], [gt], names=["seqX"])


def _loop_reference(pred, gt, visible, lasot):
    """Frame-by-frame re-statement of the protocol, for the randomized comparison."""
    pred = pred.copy()
    for i in range(1, len(pred)):
        if pred[i, 2] <= 0 or pred[i, 3] <= 0:
            pred[i] = pred[i - 1]
    pred[0] = gt[0]
    pred[:, 2:] = np.maximum(pred[:, 2:], 0)
    n = len(gt)
    ious, errs, nerrs, valid_count = [], [], [], 0
    for i in range(n):
        valid = gt[i, 2] > 0 and gt[i, 3] > 0 and (visible is None or visible[i])
        valid_count += valid
        if not valid:
            ious.append(-1.0)
            errs.append(np.inf)
            nerrs.append(np.inf if (lasot and not visible[i]) else -1.0)
            continue
        px1, py1 = pred[i, :2]
        px2, py2 = pred[i, :2] + pred[i, 2:] - 1
        gx1, gy1 = gt[i, :2]
        gx2, gy2 = gt[i, :2] + gt[i, 2:] - 1
        iw = max(min(px2, gx2) - max(px1, gx1) + 1, 0)
        ih = max(min(py2, gy2) - max(py1, gy1) + 1, 0)
        inter = iw * ih
        ious.append(inter / (pred[i, 2] * pred[i, 3] + gt[i, 2] * gt[i, 3] - inter))
        pc = pred[i, :2] + (pred[i, 2:] - 1) / 2
        gc = gt[i, :2] + (gt[i, 2:] - 1) / 2
        errs.append(float(np.hypot(*(pc - gc))))
        nerrs.append(float(np.hypot(*(pc / gt[i, 2:] - gc / gt[i, 2:]))))
    div = n if lasot else valid_count
    success = [sum(v > t for v in ious) / div for t in OVERLAP_THRESHOLDS]
    prec = [sum(v <= t for v in errs) / div for t in CENTER_THRESHOLDS]
    nprec = [sum(v <= t for v in nerrs) / div for t in NORM_CENTER_THRESHOLDS]
    return np.array(success), np.array(prec), np.array(nprec)


def test_matches_frame_loop_on_random_sequences():
    rng = np.random.default_rng(3)
    preds, gts, vis, lasot = [], [], [], []
    for k in range(12):
        n = int(rng.integers(2, 40))
        gt = np.c_[rng.integers(0, 80, (n, 2)), rng.integers(1, 40, (n, 2))].astype(float)
        gt[rng.random(n) < 0.1, 3] = 0
        gt[0, 2:] = 10
        pred = gt + rng.integers(-12, 12, (n, 4))
        pred[rng.random(n) < 0.2, 2] = 0
        pred[rng.random(n) < 0.1, 3] = -3
        is_lasot = bool(k % 2)
        preds.append(pred)
        gts.append(gt)
        vis.append(rng.random(n) > 0.2 if is_lasot else None)
        lasot.append(is_lasot)
    curves = pytracking_curves(preds, gts, target_visible=vis, lasot_style=lasot)
    for i in range(12):
        s, p, q = _loop_reference(preds[i], gts[i], vis[i], lasot[i])
        np.testing.assert_allclose(curves.success[i], s, atol=1e-12)
        np.testing.assert_allclose(curves.precision[i], p, atol=1e-12)
        np.testing.assert_allclose(curves.norm_precision[i], q, atol=1e-12)


def test_evaluate_tracker_applies_lasot_rules_by_dataset():
    visible = np.array([True, False, True])
    lasot = Sequence("a-1", ["f"] * 3, "lasot", GT3, target_visible=visible, image_size=(100, 100))
    result = evaluate_tracker([lasot], {"a-1": GT3.copy()}, protocols=("pytracking",))
    assert result.summary()["AUC"] == pytest.approx(100 * 40 / 63)
    assert result.summary()["sequences"] == 1


def test_lasot_scale_runs_in_blocks():
    """280 x 2,500 frames in one call (the speed is benchmarks/eval_speed.py's to report): the
    blocked computation gives every sequence the curves it gets alone."""
    rng = np.random.default_rng(0)
    gts = [np.c_[rng.uniform(0, 500, (2500, 2)), rng.uniform(5, 100, (2500, 2))] for _ in range(280)]
    preds = [g + rng.normal(0, 5, g.shape) for g in gts]
    vis = [rng.random(2500) > 0.1 for _ in range(280)]
    curves = pytracking_curves(preds, gts, target_visible=vis, lasot_style=True)
    assert curves.success.shape == (280, 21)
    for i in (0, 137, 279):
        alone = pytracking_curves([preds[i]], [gts[i]], target_visible=[vis[i]], lasot_style=True)
        np.testing.assert_array_equal(curves.success[i], alone.success[0])


def test_pixel_conventions_give_the_same_iou():
    # x2 = x + w - 1 with +1 sides equals x2 = x + w: the conventions differ elsewhere, not here.
    from pytracking.analysis.metrics import iou_got10k, iou_pysot
    rng = np.random.default_rng(2)
    a = np.c_[rng.uniform(0, 50, (500, 2)), rng.uniform(0.5, 30, (500, 2))]
    b = np.c_[rng.uniform(0, 50, (500, 2)), rng.uniform(0.5, 30, (500, 2))]
    np.testing.assert_allclose(iou_inclusive(a, b), iou_pysot(a, b), atol=1e-12)
    np.testing.assert_allclose(iou_inclusive(a, b), iou_got10k(a, b), atol=1e-12)
