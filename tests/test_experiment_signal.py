"""The SLT gradient-signal diagnostic: the signal-to-noise estimate and one small end-to-end run."""
import json
import math
from pathlib import Path

import pytest
import torch

from ltr.experiments import gradient_signal as slt_signal
from ltr.admin.checkpoint import save_checkpoint
from ltr.models.registry import build_network


def test_snr_estimate_recovers_a_known_ratio() -> None:
    gen = torch.Generator().manual_seed(0)
    n, p = 400, 5000
    mean = torch.zeros(p)
    mean[:50] = 1.0                                  # ||E g||^2 = 50
    noise = torch.randn(n, p, generator=gen) * 0.5   # E||g - E g||^2 = 0.25 * 5000 = 1250
    row = slt_signal.gradient_snr(mean + noise)
    assert row["snr"] == pytest.approx(50 / 1250, rel=0.15)
    assert row["samples_for_snr_1"] == pytest.approx(1250 / 50, rel=0.15)
    assert 0.0 < row["mean_cosine"] < 0.1


def test_pure_noise_has_no_signal() -> None:
    gen = torch.Generator().manual_seed(1)
    row = slt_signal.gradient_snr(torch.randn(200, 3000, generator=gen))
    assert abs(row["snr"]) < 0.005 and abs(row["mean_cosine"]) < 0.005
    assert row["samples_for_snr_1"] == math.inf or row["samples_for_snr_1"] > 200


def test_snr_needs_two_samples() -> None:
    with pytest.raises(ValueError, match="N >= 2"):
        slt_signal.gradient_snr(torch.ones(1, 3))


def test_signal_run_end_to_end(tmp_path: Path) -> None:
    torch.manual_seed(0)
    start = save_checkpoint(tmp_path / "start.pth", build_network("siamrpnpp", "tiny").state_dict(),
                            tracker="siamrpnpp", size="tiny")
    report = tmp_path / "signal.json"
    rc = slt_signal.main(["--checkpoint", str(start), "--batches", "2", "--set", "episodes_per_batch=2",
                          "--set", "num_frames=3", "--set", "samples_per_episode=2", "--set", "include_invisible=True", "--workdir", str(tmp_path / "work"),
                          "--json", str(report)])
    assert rc == 0
    payload = json.loads(report.read_text())
    assert set(payload["terms"]) == {"scst", "frame"}
    assert payload["config"]["episodes"] == 2 and payload["config"]["T"] == 3
    assert payload["config"]["include_invisible"] is True
    assert payload["terms"]["frame"]["mean_norm"] > 0
    assert 0.0 <= payload["explore"]["actions/sample_differs"] <= 1.0
    assert payload["command"].startswith("python ltr/run_experiment.py signal")


def test_missing_checkpoint_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        slt_signal.main(["--checkpoint", str(tmp_path / "nope.pth")])
    assert "nope.pth: no such file" in capsys.readouterr().err
