"""GOT-10k protocol (AO / SR50 / SR75) against the installed got10k toolkit."""
from __future__ import annotations

import numpy as np
import pytest

from pytracking.analysis.evaluate import EvaluationError, evaluate_tracker
from pytracking.analysis.metrics import clip_to_image, got10k_ious, iou_got10k
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.datasets import get_dataset
from tests.test_eval_datasets import random_got10k_sequences, write_got10k_layout

got10k_metrics = pytest.importorskip(
    "got10k.utils.metrics",
    reason="the reference got10k toolkit is not installed (scripts/setup_env.sh installs it)")


def _hard_predictions(rng: np.random.Generator, gt: np.ndarray, resolution) -> np.ndarray:
    """Noisy boxes plus the cases the protocol must survive: off-image, zero and negative sizes."""
    w, h = resolution
    pred = gt + rng.normal(0, 8, gt.shape)
    n = len(pred)
    off = rng.random(n) < 0.15
    pred[off, 0] = rng.uniform(-3 * w, 3 * w, off.sum())
    pred[off, 1] = rng.uniform(-3 * h, 3 * h, off.sum())
    pred[rng.random(n) < 0.1, 2] = 0
    pred[rng.random(n) < 0.1, 3] = -rng.uniform(1, 20)
    pred[rng.random(n) < 0.05] = [-50, -50, 400, 400]  # covers the whole image
    return pred


def _toolkit_pool(preds, gts, covers, bounds):
    ious = []
    for pred, gt, cover, bound in zip(preds, gts, covers, bounds):
        # rect_iou clips its inputs in place: hand it copies
        seq_ious = got10k_metrics.rect_iou(pred[1:].copy(), gt[1:].copy(), bound=bound)
        ious.append(seq_ious[cover[1:] > 0])
    return np.concatenate(ious)


def test_iou_and_clipping_by_hand():
    # W = H = 100: GT [90,90,20,20] is clipped to [90,90,10,10], identical to the prediction
    assert iou_got10k(np.array([[90, 90, 10, 10.]]), np.array([[90, 90, 20, 20.]]), (100, 100))[0] == pytest.approx(1)
    # x2 = x + w (no +1): [0,0,10,10] vs [5,0,10,10] -> 50 / 150
    assert iou_got10k(np.array([[0, 0, 10, 10.]]), np.array([[5, 0, 10, 10.]]))[0] == pytest.approx(1 / 3)
    clipped = clip_to_image(np.array([[-5, 20, 30, -4.], [120, 50, 10, 10]]), (100, 80))
    np.testing.assert_array_equal(clipped, [[0, 20, 30, 0], [100, 50, 0, 10]])


def test_first_frame_skipped_and_cover_zero_dropped_by_hand():
    gt = np.array([[0, 0, 10, 10]] * 4, float)
    pred = np.array([[50, 50, 1, 1], [0, 0, 10, 10], [50, 50, 1, 1], [5, 0, 10, 10]], float)
    result = got10k_ious([pred], [gt], [(100, 100)], covers=[np.array([8, 8, 0, 3])])
    np.testing.assert_allclose(result.ious, [1.0, 1 / 3])  # frame 0 skipped, frame 2 (cover 0) dropped
    scores = result.scores()
    assert scores["AO"] == pytest.approx(100 * (1 + 1 / 3) / 2)
    assert scores["SR50"] == pytest.approx(50.0) and scores["SR75"] == pytest.approx(50.0)


def test_frames_are_pooled_across_sequences():
    short_gt = np.array([[0, 0, 10, 10]] * 2, float)
    long_gt = np.array([[0, 0, 10, 10]] * 5, float)
    long_pred = np.array([[0, 0, 10, 10]] + [[60, 60, 10, 10]] * 4, float)
    result = got10k_ious([short_gt, long_pred], [short_gt, long_gt], [(100, 100)] * 2)
    assert result.scores()["AO"] == pytest.approx(100 / 5)  # 1 of 5 pooled frames, not mean(1, 0)
    np.testing.assert_allclose(result.sequence_ao(), [1.0, 0.0])


def test_matches_toolkit_functions_on_random_hard_data():
    rng = np.random.default_rng(11)
    preds, gts, covers, bounds = [], [], [], []
    for spec in random_got10k_sequences(rng, 40, 2, 120).values():
        gt = spec["gt"].copy()
        gt[spec["cover"] == 0] = rng.choice([0, -5, 300], size=(int((spec["cover"] == 0).sum()), 4))
        gts.append(gt)
        preds.append(_hard_predictions(rng, gt, spec["resolution"]))
        covers.append(spec["cover"])
        bounds.append(spec["resolution"])
    ours = got10k_ious(preds, gts, bounds, covers=covers)
    reference = _toolkit_pool(preds, gts, covers, bounds)
    assert len(ours.ious) == len(reference)
    np.testing.assert_allclose(ours.ious, reference, atol=1e-12)
    scores = ours.scores()
    assert abs(scores["AO"] - 100 * reference.mean()) < 0.01
    assert abs(scores["SR50"] - 100 * np.mean(reference > 0.5)) < 0.01
    assert abs(scores["SR75"] - 100 * np.mean(reference > 0.75)) < 0.01


def test_matches_toolkit_report_end_to_end(tmp_path):
    import matplotlib
    matplotlib.use("Agg", force=True)
    from got10k.experiments import ExperimentGOT10k

    rng = np.random.default_rng(5)
    specs = random_got10k_sequences(rng, 8, 3, 60)
    write_got10k_layout(tmp_path / "data" / "val", specs, touch_images=True)
    boxes = {}
    for name, spec in specs.items():
        pred = _hard_predictions(rng, spec["gt"], spec["resolution"])
        boxes[name] = pred
        record = tmp_path / "results" / "GOT-10k" / "mine" / name / f"{name}_001.txt"
        record.parent.mkdir(parents=True)
        np.savetxt(record, pred, fmt="%.6f", delimiter=",")
        # the toolkit's report needs a time file per sequence
        np.savetxt(record.parent / f"{name}_time.txt", np.full(len(pred), 0.01), fmt="%.8f")
    experiment = ExperimentGOT10k(str(tmp_path / "data"), subset="val", result_dir=str(tmp_path / "results"),
                                  report_dir=str(tmp_path / "reports"))
    performance = experiment.report(["mine"])["mine"]["overall"]

    sequences = get_dataset("got10k_val", str(tmp_path / "data"))
    # The toolkit read the boxes back from '%.6f' text; evaluate exactly what it saw.
    rounded = {k: np.round(v, 6) for k, v in boxes.items()}
    ours = evaluate_tracker(sequences, rounded, protocols=("got10k",)).summary()
    assert abs(ours["AO"] - 100 * performance["ao"]) < 0.01
    assert abs(ours["SR50"] - 100 * performance["sr"]) < 0.01
    assert abs(ours["SR75"] - 100 * performance["succ_curve"][75]) < 0.01


def test_no_cover_means_all_frames_but_the_first():
    gt = np.array([[0, 0, 10, 10]] * 3, float)
    pred = np.array([[0, 0, 1, 1], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    seq = Sequence("s", ["f"] * 3, "otb", gt, image_size=(100, 100))
    summary = evaluate_tracker([seq], {"s": pred}, protocols=("got10k",)).summary()
    assert summary["AO"] == pytest.approx(100.0)


def test_frame_interval_then_first_frame_skipped():
    gt = np.array([[0, 0, 10, 10]] * 5, float)
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 0, 10, 10], [0, 0, 10, 10], [50, 50, 10, 10]], float)
    result = got10k_ious([pred], [gt], [(100, 100)], frame_interval=2)
    np.testing.assert_allclose(result.ious, [1 / 3, 0.0])  # frames 2 and 4


def test_unknown_image_size_is_explained(tmp_path):
    seq = Sequence("s", [str(tmp_path / "missing.jpg")] * 2, "got10k", np.ones((2, 4)))
    with pytest.raises(EvaluationError, match="image size is unknown"):
        evaluate_tracker([seq], {"s": np.ones((2, 4))}, protocols=("got10k",))


def test_withheld_ground_truth_is_explained():
    seq = Sequence("t", ["f"] * 3, "got10k", [[0, 0, 5, 5]], image_size=(10, 10))
    with pytest.raises(EvaluationError, match="withheld.*pack_results"):
        evaluate_tracker([seq], {"t": np.ones((3, 4))})
