"""Running trackers: result files, resume, worker processes, frame interval, failures, command lines."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tests.doubles  # noqa: F401  (registers the 'double' tracker)
from pytracking.evaluation import results_io
from pytracking.evaluation.running import run_dataset
from pytracking.evaluation.tracker import FrameLoadError, Tracker, load_frame
from pytracking.parameter import UnknownParameterSetError
from pytracking.tracker import (UnknownTrackerError, list_trackers, register_tracker, resolve_tracker,
                                unregister_tracker)
from pytracking.tracker.base import BaseTracker
from tests.doubles.sequences import make_sequence_list, write_got10k_layout
from tests.doubles.tracker import BrightSpotTracker

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    return make_sequence_list(tmp_path_factory.mktemp("frames"), count=3, num_frames=12)


def _tracker(root, **kwargs) -> Tracker:
    return Tracker("double", "default", results_root=str(root), **kwargs)


def _cli_env(tmp_path: Path, **extra) -> dict:
    env = dict(os.environ)
    env.update({"SLT_LOCAL_SETTINGS": str(tmp_path / "local_settings.py"),
                "SLT_RESULTS_DIR": str(tmp_path / "results"), "OMP_NUM_THREADS": "1",
                "SLT_DOUBLE_DATA": str(tmp_path / "data")})
    env.update(extra)
    return env


def _run(args, tmp_path, module=False, **env):
    cmd = [sys.executable, "-m", args[0]] + args[1:] if module else [sys.executable] + args
    return subprocess.run(cmd, cwd=REPO, env=_cli_env(tmp_path, **env), capture_output=True, text=True, timeout=60)


# -- result files ---------------------------------------------------------------------------------

def test_result_files_have_one_line_per_frame_and_start_with_the_init_box(sequences, tmp_path):
    tracker = _tracker(tmp_path)
    summary = run_dataset(sequences, [tracker], print_summary=False)
    assert summary.ok and len(summary.done) == 3
    assert Path(tracker.results_dir) == tmp_path / "double" / "default"
    for seq in sequences:
        lines = results_io.bbox_file(tracker.results_dir, seq.name).read_text().splitlines()
        assert len(lines) == len(seq.frames)
        assert lines[0] == ",".join(f"{v:.4f}" for v in seq.ground_truth_rect[0])
        assert len(results_io.time_file(tracker.results_dir, seq.name).read_text().splitlines()) == len(seq.frames)
        boxes = results_io.read_boxes(tracker.results_dir, seq.name)
        # The stand-in tracker really tracks: within a pixel of the generated ground truth.
        assert np.abs(boxes - seq.ground_truth_rect).max() <= 1.0
    assert not [p for p in Path(tracker.results_dir).iterdir() if p.name.startswith(".")], "temporary files left"


def test_results_readers_accept_tab_and_comma(tmp_path):
    (tmp_path / "a.txt").write_text("1\t2\t3\t4\n5,6,7,8\n")
    (tmp_path / "a_time.txt").write_text("0.5\n0.25\n")
    assert results_io.read_boxes(tmp_path, "a").tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert results_io.read_times(tmp_path, "a").tolist() == [0.5, 0.25]
    with pytest.raises(ValueError, match="boxes but"):
        results_io.write_results(tmp_path, "b", [[1, 2, 3, 4]], [0.1, 0.2])


def test_resume_skips_finished_sequences(sequences, tmp_path):
    tracker = _tracker(tmp_path)
    run_dataset(sequences, [tracker], print_summary=False)
    folder = Path(tracker.results_dir)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    # Simulate a run killed during gen_001 (only its time file written) and a lost gen_002.
    results_io.bbox_file(folder, "gen_001").unlink()
    results_io.bbox_file(folder, "gen_002").unlink()
    results_io.time_file(folder, "gen_002").unlink()

    summary = run_dataset(sequences, [tracker], print_summary=False)
    assert [r.sequence for r in summary.skipped] == ["gen_000"]
    assert sorted(r.sequence for r in summary.done) == ["gen_001", "gen_002"]
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert after["gen_000.txt"] == before["gen_000.txt"] and after["gen_000_time.txt"] == before["gen_000_time.txt"]
    assert set(after) == set(before)


def test_two_worker_processes_give_identical_results(sequences, tmp_path):
    serial, parallel = _tracker(tmp_path / "serial"), _tracker(tmp_path / "parallel")
    assert run_dataset(sequences, [serial], threads=0, print_summary=False).ok
    summary = run_dataset(sequences, [parallel], threads=2, print_summary=False)
    assert summary.ok and [r.sequence for r in summary.done] == [s.name for s in sequences]
    for seq in sequences:
        assert (results_io.bbox_file(serial.results_dir, seq.name).read_text()
                == results_io.bbox_file(parallel.results_dir, seq.name).read_text())


def test_frame_interval_tracks_every_ith_frame_into_its_own_folder(sequences, tmp_path):
    tracker = _tracker(tmp_path, frame_interval=3)
    assert Path(tracker.results_dir) == tmp_path / "double" / "default_fi3"
    output = tracker.run_sequence(sequences[1])
    assert output["frame_ids"] == list(range(0, len(sequences[1].frames), 3))
    run_dataset(sequences, [tracker], print_summary=False)
    for seq in sequences:
        boxes = results_io.read_boxes(tracker.results_dir, seq.name)
        assert len(boxes) == math.ceil(len(seq.frames) / 3)
        # Faster apparent motion: the stand-in lags behind but keeps the target in its box.
        assert np.abs(boxes - seq.ground_truth_rect[::3]).max() < 7


def test_results_folder_naming(tmp_path):
    assert Path(_tracker(tmp_path, run_id=7).results_dir) == tmp_path / "double" / "default_007"
    assert Path(_tracker(tmp_path, run_id=7, frame_interval=2).results_dir) == tmp_path / "double" / "default_007_fi2"
    assert Tracker("double", "default", results_dir=str(tmp_path / "x")).results_dir == str(tmp_path / "x")
    with pytest.raises(ValueError):
        _tracker(tmp_path, frame_interval=0)


def test_checkpoint_option_reaches_the_parameters(sequences, tmp_path):
    checkpoint = tmp_path / "weights.txt"
    checkpoint.write_text("2.5\n")
    plain = _tracker(tmp_path).run_sequence(sequences[0])
    shifted_tracker = _tracker(tmp_path, checkpoint=str(checkpoint))
    assert shifted_tracker.get_parameters().checkpoint == str(checkpoint)
    shifted = shifted_tracker.run_sequence(sequences[0])
    diff = np.asarray(shifted["target_bbox"]) - np.asarray(plain["target_bbox"])
    assert diff[0].tolist() == [0, 0, 0, 0]  # the first line is always the given init box
    assert np.allclose(diff[1:, 0], 2.5) and np.allclose(diff[1:, 1:], 0)
    with pytest.raises(FileNotFoundError, match="no such file"):
        _tracker(tmp_path, checkpoint=str(tmp_path / "missing.pth")).get_parameters()


# -- failures -------------------------------------------------------------------------------------

def test_unreadable_frame_fails_only_its_sequence(tmp_path, capsys):
    seqs = make_sequence_list(tmp_path / "frames", count=3, num_frames=8)
    bad = Path(seqs[1].frames[4])
    bad.write_bytes(b"not an image")
    tracker = _tracker(tmp_path)
    summary = run_dataset(seqs, [tracker])
    assert not summary.ok
    assert [r.sequence for r in summary.failed] == ["gen_001"] and str(bad) in summary.failed[0].error
    assert sorted(r.sequence for r in summary.done) == ["gen_000", "gen_002"]
    assert not results_io.bbox_file(tracker.results_dir, "gen_001").exists()
    out = capsys.readouterr().out
    assert "1 failed" in out and str(bad) in out.splitlines()[-1]
    with pytest.raises(FrameLoadError, match="does not exist"):
        load_frame(tmp_path / "nothing.jpg")


# -- tracker lookup -------------------------------------------------------------------------------

def test_registry_lookup_and_errors():
    entry = resolve_tracker("double")
    assert entry.tracker_class is BrightSpotTracker and entry.parameter_sets() == ["default", "paced", "slow"]
    assert "double" in list_trackers()
    register_tracker("double", BrightSpotTracker, "tests.doubles.parameter")  # same class again: fine
    with pytest.raises(ValueError, match="already registered"):
        register_tracker("double", type("Other", (BaseTracker,), {}), "tests.doubles.parameter")
    with pytest.raises(TypeError):
        register_tracker("not_a_tracker", object, "tests.doubles.parameter")
    with pytest.raises(UnknownTrackerError, match="Known: .*double"):
        resolve_tracker("no_such_tracker")
    with pytest.raises(UnknownParameterSetError, match=r"available: \['default', 'paced', 'slow'\]"):
        Tracker("double", "nope", results_root="unused").get_parameters()


def test_registry_accepts_a_parameter_mapping(sequences, tmp_path):
    from pytracking.utils.params import TrackerParams

    register_tracker("double_mapped", BrightSpotTracker, {"fast": lambda: TrackerParams(search_factor=3.0)})
    try:
        tracker = Tracker("double_mapped", "fast", results_root=str(tmp_path))
        assert tracker.get_parameters().search_factor == 3.0
        assert len(tracker.run_sequence(sequences[0])["target_bbox"]) == len(sequences[0].frames)
    finally:
        unregister_tracker("double_mapped")


# -- command lines --------------------------------------------------------------------------------

def test_run_tracker_cli_on_the_synthetic_dataset(tmp_path):
    root = write_got10k_layout(tmp_path / "synthetic", split="test", count=2, num_frames=8)
    result = _run(["pytracking/run_tracker.py", "double", "default", "synthetic", "--dataset-root", str(root),
                   "--tracker-module", "tests.doubles", "--run-id", "2"], tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "results" / "double" / "default_002"
    assert sorted(p.name for p in folder.glob("*.txt")) == ["Synth_000.txt", "Synth_000_time.txt",
                                                           "Synth_001.txt", "Synth_001_time.txt"]
    assert "Synth_000: 8 frames" in result.stdout and "FPS" in result.stdout

    # As a module, one sequence by index, every 2nd frame, into an explicit results root.
    result = _run(["pytracking.run_tracker", "double", "default", "synthetic", "--dataset-root", str(root),
                   "--tracker-module", "tests.doubles", "--sequence", "1", "--frame-interval", "2",
                   "--results-dir", str(tmp_path / "other")], tmp_path, module=True)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "other" / "double" / "default_fi2" / "Synth_001.txt").read_text().splitlines()
    assert len(lines) == math.ceil(9 / 2)
    assert not (tmp_path / "other" / "double" / "default_fi2" / "Synth_000.txt").exists()


def test_run_tracker_cli_dataset_function_and_usage_errors(tmp_path):
    # DATASET may be MODULE:FUNCTION; this one generates its frames under $SLT_DOUBLE_DATA.
    result = _run(["pytracking/run_tracker.py", "double", "default", "tests.doubles.experiments:generated",
                   "--tracker-module", "tests.doubles", "--sequence", "gen_000"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "results" / "double" / "default").iterdir()) == [
        "gen_000.txt", "gen_000_time.txt"]

    result = _run(["pytracking/run_tracker.py", "no_such_tracker", "default", "synthetic"], tmp_path)
    assert result.returncode == 2 and "Unknown tracker 'no_such_tracker'" in result.stderr
    result = _run(["pytracking/run_tracker.py", "double", "default", "synthetic", "--tracker-module",
                   "tests.doubles", "--dataset-root", str(tmp_path / "nowhere")], tmp_path)
    assert result.returncode == 2 and "nowhere" in result.stderr


def test_run_tracker_cli_exits_nonzero_when_a_frame_is_bad(tmp_path):
    root = write_got10k_layout(tmp_path / "synthetic", split="test", count=2, num_frames=6)
    bad = root / "test" / "Synth_000" / "00000003.jpg"
    bad.unlink()
    result = _run(["pytracking/run_tracker.py", "double", "default", "synthetic", "--dataset-root", str(root),
                   "--tracker-module", "tests.doubles"], tmp_path)
    assert result.returncode == 1
    assert str(bad) in result.stdout and "1 run, 0 skipped (already done), 1 failed" in result.stdout
    assert (tmp_path / "results" / "double" / "default" / "Synth_001.txt").is_file()


def test_run_experiment_cli(tmp_path):
    result = _run(["pytracking/run_experiment.py", "tests.doubles.experiments", "double_two_params"], tmp_path)
    assert result.returncode == 0, result.stderr
    for folder in ("default", "default_001"):
        assert len(list((tmp_path / "results" / "double" / folder).glob("gen_*_time.txt"))) == 3
    assert "[6/6]" in result.stdout

    again = _run(["pytracking/run_experiment.py", "tests.doubles.experiments", "double_two_params"], tmp_path)
    assert again.returncode == 0 and "0 run, 6 skipped" in again.stdout

    missing = _run(["pytracking/run_experiment.py", "tests.doubles.experiments", "nothing"], tmp_path)
    assert missing.returncode == 2 and "double_two_params" in missing.stderr
    missing = _run(["pytracking/run_experiment.py", "no_such_module", "f"], tmp_path)
    assert missing.returncode == 2 and "pytracking/experiments/no_such_module.py" in missing.stderr


def test_project_experiments_are_discoverable():
    from pytracking.run_experiment import load_experiment

    for name in ("slt_vs_flt", "slt_vs_flt_got10k", "trdimp_slt_runs", "frame_interval_robustness", "synthetic_smoke"):
        assert callable(load_experiment("myexperiments", name))
    with pytest.raises(AttributeError, match="slt_vs_flt"):
        load_experiment("myexperiments", "nope")
