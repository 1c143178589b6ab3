"""The main job end to end at the smallest size, and how its arms set their learning rates."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from benchmarks import slt_vs_flt
from ltr.admin.settings import Settings


def test_main_job_smallest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    rc = slt_vs_flt.main(["--tracker", "siamrpnpp", "--out", str(out), "--threads", "1", "--flt-iterations", "2",
                          "--budget-s", "3", "--marks", "1", "--test-videos", "2", "--test-frames", "6", "--T", "4",
                          "--episodes", "2", "--samples-per-episode", "2", "--advantage", "reward_to_go"])
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
    assert summary["config"]["flt_iterations"] == 2 and summary["config"]["advantage"] == "reward_to_go"
    assert summary["command"].startswith("python benchmarks/slt_vs_flt.py --tracker siamrpnpp")
    # learning-curve checkpoints inside each arm's budget, evaluated like the final ones
    assert (out / "checkpoints" / "slt@1s.pth").is_file()
    assert set(record["curves"]) == {"flt_more", "slt"} and "AO" in record["curves"]["slt"]["1"]
    assert "SLT - FLT-continue AO per seed" in capsys.readouterr().out


def _trainer(lrs):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    return SimpleNamespace(optimizer=torch.optim.Adam([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]))


def test_arm_learning_rates_scale_every_group() -> None:
    args = SimpleNamespace(flt_lr=None, slt_lr=None)
    flt = Settings()
    flt.lr, flt.final_lr_factor = 2e-3, 0.05
    # FLT-continue starts where the FLT start's cosine ended; group ratios are kept
    trainer = _trainer([2e-3, 1e-3])
    slt_vs_flt.scale_learning_rates(trainer, slt_vs_flt.arm_lr_factor(args, "flt", flt))
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx([1e-4, 5e-5])
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
             "--test-videos", "1", "--test-frames", "4", "--T", "3", "--episodes", "1"]
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


def test_slt_options_set_their_fields_unless_the_arm_keeps_them() -> None:
    settings = Settings()
    settings.scst_weight, settings.num_frames, settings.temperature = 1.0, 16, 4.0
    args = SimpleNamespace(T=24, temperature=None, scst_weight=10.0, include_invisible=False, episodes=4)
    slt_vs_flt.apply_slt_options(settings, args, keep={"scst_weight": 0.0})
    assert settings.num_frames == 24 and settings.episodes_per_batch == 4
    assert settings.temperature == 4.0            # option not given
    assert settings.scst_weight == 1.0            # the arm keeps its own value
    assert not hasattr(settings, "include_invisible")  # a flag that is off sets nothing
    slt_vs_flt.apply_slt_options(settings, SimpleNamespace(include_invisible=True))
    assert settings.include_invisible is True
