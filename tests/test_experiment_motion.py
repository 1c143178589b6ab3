"""The motion experiment: the displacement measure, its data sources and one small end-to-end run."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr.dataset.synthetic import SyntheticConfig
from ltr.experiments import EXPERIMENTS, get_experiment
from ltr.experiments import motion
from ltr.train_settings.common import synthetic_train_datasets
from ltr.util_scripts.make_synthetic import ensure_got10k_layout
from slt_plugins.sampler import SequenceSampler


def test_displacement_of_hand_made_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10],    # centre (5, 5), size 10
                      [5, 0, 10, 10],    # centre (10, 5): 5 px / 10
                      [5, 0, 20, 5],     # centre (15, 2.5): sqrt(25 + 6.25) / 10
                      [0, 0, 4, 25]])    # centre (2, 12.5), previous size sqrt(20 * 5) = 10
    expected = [0.5, math.sqrt(31.25) / 10, math.hypot(13, 10) / 10]
    assert motion.displacements(boxes) == pytest.approx(expected)
    # a hidden frame is skipped: the step joins the frames around it, measured in the earlier box's size
    visible = np.array([True, False, True, True])
    assert motion.displacements(boxes, visible) == pytest.approx([math.hypot(10, 2.5) / 10, expected[2]])
    assert motion.visible_gaps([3, 4, 6, 7], visible).tolist() == [3, 1]
    # a zero-size box (target fully out of view) has no size to measure the next step in
    assert motion.displacements(np.array([[0, 0, 0, 0], [1, 1, 2, 2], [3, 1, 2, 2]])) == pytest.approx([1.0])
    assert len(motion.displacements(boxes[:1])) == 0


def test_summary_percentiles_and_shares() -> None:
    row = motion.summarise(np.arange(1, 101) / 100, np.array([1] * 90 + [2] * 10))
    assert row["steps"] == 100 and row["max"] == 1.0
    assert row["median"] == pytest.approx(0.505) and row["p90"] == pytest.approx(0.901)
    assert row["above_0.5"] == 0.5 and row["above_1"] == 0.0
    assert row["mean_gap"] == pytest.approx(1.1) and row["gap_counts"] == {1: 90, 2: 10}


def test_heldout_boxes_are_the_written_groundtruth(tmp_path: Path) -> None:
    # the main job writes the split with these arguments (slt_vs_flt.ensure_test_data)
    split = ensure_got10k_layout(tmp_path, "test", num_videos=1, frames=motion.TEST_FRAMES, seed=12345,
                                 config=SyntheticConfig(num_frames=motion.TEST_FRAMES), progress=False)
    written = np.loadtxt(split / "Synthetic_Test_000001" / "groundtruth.txt", delimiter=",")
    absent = np.loadtxt(split / "Synthetic_Test_000001" / "absence.label").astype(bool)
    info = motion.heldout_dataset(1, 12345).get_sequence_info(0)
    np.testing.assert_allclose(info["bbox"].numpy(), written, atol=1e-3)
    assert (info["visible"].numpy() == ~absent).all()


def test_boxes_only_episodes_are_the_sampler_episodes() -> None:
    settings = motion.training_settings("siamrpnpp", "slt_tiny", 1000, [], {"interval_prob": 1.0})
    datasets = synthetic_train_datasets(settings, fine_tune=True)
    boxes_only = motion.episode_sampler(settings, datasets, 2)
    rendered = SequenceSampler(datasets, None, num_episodes=2, num_frames=settings.num_frames,
                               max_gap=settings.max_gap, max_interval=settings.max_interval,
                               interval_prob=settings.interval_prob, seed=settings.seed)
    for index in range(2):
        a, b = boxes_only[index], rendered[index]
        assert a.frame_ids == b.frame_ids and a.template_frame_id == b.template_frame_id
        assert torch.equal(a.boxes_xywh, b.boxes_xywh)
        assert a.frames[0].shape == (1, 1, 3)


def test_motion_run_end_to_end(tmp_path: Path, capsys) -> None:
    assert EXPERIMENTS["motion"][0] == "motion" and get_experiment("motion") is motion
    out = tmp_path / "motion.json"
    assert motion.main(["--episodes", "40", "--test-videos", "4", "--max-intervals", "2",
                        "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    sources = record["sources"]
    assert list(sources) == ["test@1", "test@2", "test@3", "SA off", "SA on", "interval mode",
                             "SA on, max_interval=2"]
    assert record["config"]["recipe"]["max_interval"] == 7 and record["config"]["recipe"]["interval_prob"] == 0.5
    assert all(row["steps"] == 40 * 15 for name, row in sources.items() if not name.startswith("test"))
    # episode i draws the same video and first search frame in every source, and an interval step
    # is never shorter than the consecutive one, so the frame gaps can only grow with interval_prob
    assert sources["SA off"]["mean_gap"] <= sources["SA on"]["mean_gap"] <= sources["interval mode"]["mean_gap"]
    assert sources["SA off"]["mean_gap"] < sources["interval mode"]["mean_gap"]
    assert [sources[n]["interval_prob"] for n in ("SA off", "SA on", "interval mode")] == [0.0, 0.5, 1.0]
    assert sources["SA on, max_interval=2"]["max_interval"] == 2
    assert sources["SA on"]["p99"] >= sources["SA off"]["p99"]
    # a longer test interval means longer steps over the same videos
    assert sources["test@1"]["p90"] < sources["test@2"]["p90"] < sources["test@3"]["p90"]
    assert sources["test@2"]["closest_test_interval"] == 2
    assert set(record["calibration"]) == {"test@1", "test@2", "test@3"}
    assert "p90 ~ test@" in capsys.readouterr().out


def test_unknown_field_is_an_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        motion.main(["--episodes", "1", "--test-videos", "1", "--set", "max_intervall=3"])
    assert exit_info.value.code == 2
