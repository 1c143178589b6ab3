"""The low-frame-rate protocol (SLT paper, Table 6): track every I-th frame only, evaluate the same frames.

Checked end to end with the test-double tracker: which frames are decoded and tracked, what the
result files hold and where they go (``_fi<I>``), and that run_analysis scores exactly the
tracked frames (and refuses to score sub-sampled results as full-rate ones).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pytest

import tests.doubles  # noqa: F401  (registers the 'double' tracker)
from pytracking.analysis.evaluate import evaluate_tracker
from pytracking.analysis.metrics import iou_got10k, pytracking_curves
from pytracking.evaluation import results_io
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.running import run_dataset
from pytracking.evaluation.tracker import Tracker, load_frame
from pytracking.tracker import register_tracker
from tests.doubles.sequences import make_sequence, write_got10k_layout
from tests.doubles.tracker import BrightSpotTracker


class RecordingTracker(BrightSpotTracker):
    """The test double, remembering the frame ids and images it was given (in this process)."""

    seen: List[Dict[str, Any]] = []

    def initialize(self, image: np.ndarray, info: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        RecordingTracker.seen.append({"frame_id": 0, "checksum": int(image.sum())})
        return super().initialize(image, info)

    def track(self, image: np.ndarray, info: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        RecordingTracker.seen.append({"frame_id": info["frame_id"], "checksum": int(image.sum())})
        return super().track(image, info)


register_tracker("double_recording", RecordingTracker, "tests.doubles.parameter", overwrite=True)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local_settings.py"))
    monkeypatch.setenv("SLT_RESULTS_DIR", str(tmp_path / "results"))
    RecordingTracker.seen = []


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    return make_sequence(tmp_path_factory.mktemp("fi"), "fi_seq", num_frames=11, seed=3)


def _lazy_copy(seq: Sequence, decoded: List[int]) -> Sequence:
    """The same video with frames that record when they are decoded."""
    def frame(i: int):
        def load() -> np.ndarray:
            decoded.append(i)
            return load_frame(seq.frames[i])
        return load
    return Sequence(seq.name, [frame(i) for i in range(len(seq.frames))], seq.dataset, seq.ground_truth_rect)


@pytest.mark.parametrize("interval", [1, 2, 3, 5, 11, 20])
def test_only_every_ith_frame_is_decoded_and_tracked(on_disk, interval, tmp_path):
    decoded: List[int] = []
    tracker = Tracker("double_recording", "default", frame_interval=interval, results_root=str(tmp_path))
    output = tracker.run_sequence(_lazy_copy(on_disk, decoded))
    expected = list(range(0, 11, interval))
    assert decoded == expected  # skipped frames are never even read
    assert [s["frame_id"] for s in RecordingTracker.seen] == expected
    # The tracker got the images of those frames, not the next ones in the list.
    assert [s["checksum"] for s in RecordingTracker.seen] == [int(load_frame(on_disk.frames[i]).sum())
                                                             for i in expected]
    assert output["frame_ids"] == expected
    assert len(output["target_bbox"]) == len(output["time"]) == math.ceil(11 / interval)
    assert output["target_bbox"][0] == on_disk.ground_truth_rect[0].tolist()


def test_results_of_every_ith_frame_are_stored_apart(on_disk, tmp_path):
    full = Tracker("double", "default", results_root=str(tmp_path))
    sub = Tracker("double", "default", frame_interval=4, results_root=str(tmp_path))
    run_dataset([on_disk], [full, sub], print_summary=False)
    assert Path(full.results_dir).name == "default" and Path(sub.results_dir).name == "default_fi4"
    assert len(results_io.read_boxes(full.results_dir, on_disk.name)) == 11
    boxes = results_io.read_boxes(sub.results_dir, on_disk.name)
    assert len(boxes) == 3  # frames 0, 4, 8
    assert len(results_io.read_times(sub.results_dir, on_disk.name)) == 3
    # Same boxes as a direct run of the protocol: the file holds the tracked frames, in order.
    direct = sub.run_sequence(on_disk)["target_bbox"]
    np.testing.assert_allclose(boxes, np.asarray(direct), atol=1e-4)


def experiment_every_third_frame():
    """An experiment for run_experiment: the double at full rate and at every 3rd frame."""
    import os
    root = Path(os.environ["SLT_DOUBLE_DATA"])
    sequences = get_dataset("synthetic", root=str(root))
    return [Tracker("double", "default"), Tracker("double", "default", frame_interval=3)], sequences


def test_run_tracker_then_run_analysis_score_the_same_frames(tmp_path, monkeypatch, capsys):
    from pytracking.analysis.cli import main as analysis_main
    from pytracking.run_tracker import main as tracker_main

    root = write_got10k_layout(tmp_path / "synthetic", split="test", count=3, num_frames=10)
    results = tmp_path / "res"
    assert tracker_main(["double", "default", "synthetic", "--dataset-root", str(root), "--results-dir",
                         str(results), "--frame-interval", "3", "--tracker-module", "tests.doubles"]) == 0
    folder = results / "double" / "default_fi3"
    sequences = get_dataset("synthetic", root=str(root))
    for seq in sequences:
        assert len(results_io.read_boxes(folder, seq.name)) == math.ceil(len(seq.frames) / 3)
    capsys.readouterr()

    out_json = tmp_path / "fi3.json"
    assert analysis_main(["--dataset", "synthetic", "--dataset-root", str(root), "--results-dir", str(folder),
                          "--frame-interval", "3", "--json", str(out_json)]) == 0
    assert "frame interval 3 (frames 0, 3, 6, ... only)" in capsys.readouterr().out
    scores = json.loads(out_json.read_text())

    # Independent check on the tracked frames only: GOT-10k AO pools IoUs of frames 3, 6, 9 ...
    ious, preds, gts = [], [], []
    for seq in sequences:
        pred = results_io.read_boxes(folder, seq.name)
        gt = seq.ground_truth_rect[::3]
        h, w = seq.get_image_size()
        ious.append(iou_got10k(pred[1:], gt[1:], image_wh=(w, h)))
        preds.append(pred)
        gts.append(gt)
    assert scores["AO"] == pytest.approx(np.concatenate(ious).mean() * 100)
    # ... and pytracking's AUC equals that of the sub-sampled videos evaluated as videos of their own.
    assert scores["AUC"] == pytest.approx(pytracking_curves(preds, gts).scores()["AUC"])

    # Sub-sampled results are not full-rate results: without --frame-interval the analysis refuses.
    assert analysis_main(["--dataset", "synthetic", "--dataset-root", str(root), "--results-dir",
                          str(folder)]) == 1
    assert "expected 10 lines" in capsys.readouterr().err


def test_full_rate_results_evaluated_on_every_ith_frame_equal_subsampled_results(tmp_path):
    # run_analysis --frame-interval I also accepts full-rate files; it then picks frames 0, I, 2I ...
    seq = make_sequence(tmp_path, "s", num_frames=13, seed=5)
    rng = np.random.default_rng(0)
    full = seq.ground_truth_rect + rng.normal(0, 2, seq.ground_truth_rect.shape)
    a = evaluate_tracker([seq], {"s": full}, frame_interval=4).summary()
    b = evaluate_tracker([seq], {"s": full[::4]}, frame_interval=4).summary()
    for key in ("AO", "SR50", "AUC", "Precision"):
        assert a[key] == pytest.approx(b[key])


def test_run_experiment_tracks_every_ith_frame(tmp_path, monkeypatch, capsys):
    from pytracking.run_experiment import main as experiment_main

    root = write_got10k_layout(tmp_path / "synthetic", split="test", count=2, num_frames=7)
    monkeypatch.setenv("SLT_DOUBLE_DATA", str(root))
    assert experiment_main(["tests.test_frame_interval", "experiment_every_third_frame",
                            "--tracker-module", "tests.doubles"]) == 0
    base = tmp_path / "results" / "double"
    for seq in get_dataset("synthetic", root=str(root)):
        assert len(results_io.read_boxes(base / "default", seq.name)) == len(seq.frames)
        assert len(results_io.read_boxes(base / "default_fi3", seq.name)) == math.ceil(len(seq.frames) / 3)
