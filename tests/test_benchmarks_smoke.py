"""Smoke test of the speed benchmarks: the smallest settings for tiny SiamRPN++, JSON structure.

Timings are not checked (they depend on the machine); only that both benchmarks run end to end,
skip trackers that are not there, and write the documented JSON keys.
"""
import json
from pathlib import Path

import pytest

from benchmarks import slt_step, track_speed

MACHINE_KEYS = {"cpu", "cores", "usable_cores", "torch_threads", "torch", "python", "device", "load_average"}


def _load(path: Path) -> dict:
    payload = json.loads(path.read_text())
    assert MACHINE_KEYS <= set(payload["machine"])
    assert payload["command"].startswith("python benchmarks/")
    return payload


def test_slt_step_smallest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "slt_step.json"
    code = slt_step.main(["--tracker", "siamrpnpp", "no_such_tracker", "--sizes", "tiny", "--k", "1", "--T", "3",
                          "--repeats", "1", "--profile", "always", "--json", str(out)])
    assert code == 0
    payload = _load(out)
    assert payload["benchmark"] == "slt_step"
    assert [s["tracker"] for s in payload["skipped"]] == ["no_such_tracker"]
    (row,) = payload["rows"]
    expected = {"tracker", "size", "slt_over_flt", "batched_speedup", "k", "T", "device", "samples_per_episode",
                "tracked_frames", "frames_grad", "frames_nograd", "flt_batch", "flt_search_frames", "slt_ms", "flt_ms", "explore_ms",
                "replay_ms", "step_ms", "explore_batched_ms", "explore_sequential_ms", "same_actions", "repeats",
                "frame_size", "weights", "meets_targets", "explore_phases_ms", "times_s", "profile"}
    assert expected <= set(row)
    assert (row["tracker"], row["size"], row["k"], row["T"], row["device"]) == ("siamrpnpp", "tiny", 1, 3, "cpu")
    assert row["slt_over_flt"] > 0 and row["batched_speedup"] > 0
    # first-frame start: T - 1 tracked frames; the FLT batch matches the replayed crops
    assert row["tracked_frames"] == 2 and row["flt_batch"] == row["flt_search_frames"] == row["frames_grad"] == 2
    for variant in ("batched", "sequential"):
        phases = row["explore_phases_ms"][variant]
        assert {"total_ms", "network_ms", "crop_ms", "rest_ms", "network_calls", "crop_scale"} <= set(phases)
        assert phases["network_ms"] > 0 and phases["crop_ms"] > 0
    assert row["explore_phases_ms"]["sequential"]["network_calls"] > row["explore_phases_ms"]["batched"]["network_calls"]
    assert {"explore", "replay_and_step", "explore_sequential", "flt_step"} <= set(row["profile"])
    assert "no_such_tracker" in capsys.readouterr().out


def test_track_speed_smallest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "track_speed.json"
    code = track_speed.main(["--tracker", "siamrpnpp", "no_such_tracker", "--sizes", "tiny", "--frames", "2",
                             "--warmup", "0", "--repeats", "1", "--json", str(out)])
    assert code == 0
    payload = _load(out)
    assert payload["benchmark"] == "track_speed"
    assert [s["tracker"] for s in payload["skipped"]] == ["no_such_tracker"]
    (row,) = payload["rows"]
    expected = {"tracker", "size", "param_set", "device", "image_size", "frames", "repeats", "weights",
                "reinit_every", "frame_ms", "network_ms", "crop_ms", "rest_ms", "pre_post_ms", "pre_post_share",
                "pre_post_share_of_sums", "frame_ms_untimed", "fps", "crop_scale", "meets_target",
                "frame_times_ms"}
    assert expected <= set(row)
    assert (row["tracker"], row["size"], row["param_set"], row["frames"]) == ("siamrpnpp", "tiny", "tiny", 2)
    assert 0.0 < row["network_ms"] <= row["frame_ms"]
    assert 0.0 <= row["pre_post_share"] < 1.0
    assert row["meets_target"] is None  # the target is stated for the paper size
    assert "no_such_tracker" in capsys.readouterr().out


def test_phase_timer_restores_everything() -> None:
    """Timers patch crop functions and core methods only while active."""
    import torch

    import pytracking.tracker.common.frames as tracker_frames
    from ltr.data import crop

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())

    class Core:
        def __init__(self) -> None:
            self.net = net

        def run_network(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    core = Core()
    with slt_step.PhaseTimer([net], [core]) as timer:
        assert tracker_frames.crop_square is not crop.crop_square
        core.run_network(torch.zeros(1, 3, 8, 8))
        net(torch.zeros(1, 3, 8, 8))
    assert timer.calls["network"] == 2  # nested module calls count once
    assert tracker_frames.crop_square is crop.crop_square
    assert "run_network" not in vars(core)
    assert not net._forward_hooks and not net._forward_pre_hooks
