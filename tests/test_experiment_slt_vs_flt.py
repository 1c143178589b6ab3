"""The main job (ltr/run_experiment.py slt_vs_flt) end to end at the smallest size, its arms and
how they set their learning rates."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ltr.admin.settings import Settings
from ltr.experiments import slt_vs_flt


def test_main_job_smallest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    rc = slt_vs_flt.main(["--tracker", "siamrpnpp", "--out", str(out), "--threads", "1", "--flt-iterations", "2",
                          "--budget-s", "3", "--marks", "1", "--test-videos", "2", "--test-frames", "6",
                          "--set", "num_frames=4", "--set", "episodes_per_batch=2", "--set", "samples_per_episode=2",
                          "--set", "advantage=reward_to_go"])
    assert rc == 0
    for name in ("flt_start", "flt_more", "slt"):
        assert (out / "checkpoints" / f"{name}.pth").is_file()
        assert any((out / "results" / name).rglob("*.txt"))
    summary = json.loads((out / "results.json").read_text())
    record = summary["records"][0]
    assert set(record["scores"]) == {"flt_start", "flt_more", "slt"}
    assert record["arms"]["slt"]["frames_nograd"] > 0 and record["arms"]["flt_more"]["frames_nograd"] == 0
    assert 0.0 <= record["scores"]["slt"]["AO"] <= 100.0
    # 2 sampled rollouts per episode: explore runs 3 rollouts per episode, replay the 2 sampled
    slt = record["arms"]["slt"]
    assert slt["frames_nograd"] == pytest.approx(1.5 * slt["frames_grad"])
    assert summary["config"]["flt_iterations"] == 2 and "advantage=reward_to_go" in summary["config"]["assignments"]
    assert summary["command"].startswith("python ltr/run_experiment.py slt_vs_flt --tracker siamrpnpp")
    # learning-curve checkpoints inside each arm's budget, evaluated like the final ones
    assert (out / "checkpoints" / "slt@1s.pth").is_file()
    assert set(record["curves"]) == {"flt_more", "slt"} and "AO" in record["curves"]["slt"]["1"]
    assert "SLT - FLT-continue AO per seed" in capsys.readouterr().out


def test_arm_learning_rates_scale_every_group_and_keep_the_schedule() -> None:
    from ltr.train_settings.siamrpnpp import tiny
    from ltr.trainers.base_trainer import LTRTrainer

    args = SimpleNamespace(flt_lr=None, slt_lr=None)
    flt = Settings(schema=tiny.FIELDS)
    flt.lr, flt.final_lr_factor = 2e-3, 0.05
    # FLT-continue starts where the FLT start's cosine ended; group ratios are kept, and the
    # recipe's scheduler continues from the scaled rates (public trainer API)
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(2)]
    optimizer = torch.optim.Adam([{"params": [params[0]], "lr": 2e-3}, {"params": [params[1]], "lr": 1e-3}])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    trainer = SimpleNamespace(optimizer=optimizer, lr_scheduler=scheduler)
    LTRTrainer.scale_learning_rates(trainer, slt_vs_flt.arm_lr_factor(args, "flt", flt))
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-4, 5e-5])
    optimizer.step()
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([5e-5, 2.5e-5])
    # a recipe without a final factor uses the documented default
    bare = Settings()
    bare.lr = 1e-3
    assert slt_vs_flt.arm_lr_factor(args, "flt", bare) == slt_vs_flt.DEFAULT_FINAL_LR_FACTOR
    # SLT keeps its recipe unless --slt-lr names a base rate
    assert slt_vs_flt.arm_lr_factor(args, "slt", bare) == 1.0
    assert slt_vs_flt.arm_lr_factor(SimpleNamespace(flt_lr=None, slt_lr=2e-4), "slt", bare) == pytest.approx(0.2)


def test_flt_start_is_reproducible_under_a_seed(tmp_path: Path) -> None:
    """The FLT start's random initial weights and its training follow --seed, not the process."""
    from ltr.admin.checkpoint import load_checkpoint

    small = ["--tracker", "siamrpnpp", "--threads", "1", "--flt-iterations", "3", "--budget-s", "0.5",
             "--test-videos", "1", "--test-frames", "4", "--set", "num_frames=3", "--set", "episodes_per_batch=1"]
    weights = []
    for run in ("a", "b"):
        torch.manual_seed(hash(run) % 1000)  # a different global state before each run
        assert slt_vs_flt.main(small + ["--out", str(tmp_path / run)]) == 0
        weights.append(load_checkpoint(tmp_path / run / "checkpoints" / "flt_start.pth")["net"])
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


def test_arm_selection() -> None:
    def arms(**kw):
        return slt_vs_flt.selected_arms(SimpleNamespace(**{"arms": None, "ablation": False, **kw}))

    assert arms() == ["flt_more", "slt"]
    assert arms(ablation=True) == ["flt_more", "ss", "ss_so", "slt"]
    # --arms keeps the run order whatever order it is given in, and wins over --ablation
    assert arms(arms=["ss_so", "flt_more"], ablation=True) == ["flt_more", "ss_so"]


def test_set_reaches_the_arms_that_have_the_field_and_the_arm_wins(tmp_path: Path) -> None:
    args = SimpleNamespace(tracker="siamrpnpp", assignments=["scst_weight=10", "num_frames=24", "lr=5e-4",
                                                             "synthetic_train_overrides={'num_distractors': (2, 4)}"])
    start = tmp_path / "start.pth"
    ss = slt_vs_flt.make_arm_settings(args, "ss", tmp_path, 0, start)
    assert ss.num_frames == 24 and ss.source("num_frames") == "command line"
    assert ss.scst_weight == 0.0 and ss.interval_prob == 0.0     # +SS keeps its own fields
    assert ss.synthetic_train_overrides == {"num_distractors": (2, 4)}
    full = slt_vs_flt.make_arm_settings(args, "slt", tmp_path, 0, start)
    assert full.scst_weight == 10.0 and full.interval_prob == 0.5 and full.temperature == 4.0
    flt = slt_vs_flt.make_arm_settings(args, "flt_more", tmp_path, 0, start)
    assert "num_frames" not in flt and flt.lr == 5e-4 and flt.synthetic_train_overrides is not None


def test_unknown_field_is_an_error_naming_the_valid_ones(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        slt_vs_flt.main(["--set", "temprature=2"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "did you mean 'temperature'" in err and "Valid fields:" in err


def test_run_experiment_front_door() -> None:
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[1]
    shown = subprocess.run([sys.executable, str(repo / "ltr" / "run_experiment.py"), "slt_vs_flt", "--help"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "--set FIELD=VALUE" in shown.stdout and "--ablation" in shown.stdout
    listing = subprocess.run([sys.executable, str(repo / "ltr" / "run_experiment.py")], capture_output=True,
                             text=True, timeout=120)
    assert listing.returncode == 0 and all(n in listing.stdout for n in ("slt_vs_flt", "sweep", "signal"))
    missing = subprocess.run([sys.executable, str(repo / "ltr" / "run_experiment.py"), "nope"], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode != 0 and "Known experiments" in missing.stderr


def test_sweep_sets_fields_through_set_and_options_directly() -> None:
    from ltr.experiments import sweep
    assert sweep.knob_arguments("num_frames", "24") == ["--set", "num_frames=24"]
    assert sweep.knob_arguments("flt_iterations", "500") == ["--flt-iterations", "500"]
    config = {"flt_iterations": 500, "assignments": ["temperature=2", "num_frames = 24"]}
    assert sweep.recorded_value(config, "num_frames") == "24"
    assert sweep.recorded_value(config, "flt_iterations") == "500"
    assert sweep.recorded_value(config, "scst_weight") is None


def test_frame_intervals_of_a_finished_run(tmp_path: Path) -> None:
    """Table 6: the run's +SS+SO and SLT checkpoints tracked at intervals 1 and 2; interval 1
    reproduces the run's own scores (same checkpoints, same test split, same evaluator)."""
    from ltr.experiments import frame_intervals
    out = tmp_path / "run"
    assert slt_vs_flt.main(["--tracker", "siamrpnpp", "--out", str(out), "--threads", "1", "--flt-iterations", "2",
                            "--budget-s", "1", "--test-videos", "2", "--test-frames", "8", "--arms", "ss_so", "slt",
                            "--set", "num_frames=3", "--set", "episodes_per_batch=1"]) == 0
    report = tmp_path / "intervals.json"
    assert frame_intervals.main(["--run", str(out), "--intervals", "1", "2", "--json", str(report)]) == 0
    payload = json.loads(report.read_text())
    run = json.loads((out / "results.json").read_text())["records"][0]["scores"]
    for arm in ("ss_so", "slt"):
        assert payload["scores"]["1"]["0"][arm] == pytest.approx(run[arm]["AO"])
        assert 0.0 <= payload["scores"]["2"]["0"][arm] <= 100.0
    assert set(payload["slt_minus_ss_so"]) == {"1", "2"}
