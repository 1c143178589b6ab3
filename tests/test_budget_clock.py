"""A time budget counts the clock it is given: a budgeted run stops when *that* clock has spent
the budget (``--budget-clock process`` of the slt_vs_flt experiment), not when wall time has."""
from __future__ import annotations

from pathlib import Path

import pytest


def _tiny_flt_trainer(workspace: Path, monkeypatch):
    from ltr.run_training import build_settings, import_setting

    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(workspace))
    settings = build_settings("siamrpnpp", "tiny", seed=3, device="cpu", workspace=str(workspace),
                              iterations_per_epoch=50, epochs=1, num_workers=0, print_interval=0,
                              batch_size=2)
    return import_setting("siamrpnpp", "tiny").build_trainer(settings, quiet=True)


class StepClock:
    """A clock that advances one second each time it is read, whatever the wall time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_budget_follows_the_given_clock(tmp_path, monkeypatch):
    trainer = _tiny_flt_trainer(tmp_path, monkeypatch)
    clock = StepClock()
    summary = trainer.train(1, time_budget_s=6.5, clock=clock)
    # The start reads the clock once and, without an lr schedule, each iteration once for the stop
    # check: after iteration n, n "seconds" have passed, so a 6.5 s budget stops after 7 of the
    # epoch's 50 iterations, however long they took in wall time.
    assert summary["iterations"] == 7
    assert summary["seconds"] >= 6.5


def test_slt_vs_flt_offers_process_clock():
    import time

    from ltr.experiments.slt_vs_flt import BUDGET_CLOCKS

    assert BUDGET_CLOCKS["process"] is time.process_time and BUDGET_CLOCKS["wall"] is time.perf_counter


@pytest.mark.parametrize("tracker, per_sample", [("siamrpnpp", 1), ("trdimp", 3)])
def test_equal_frames_arm_counts_search_frames(tracker, per_sample, tmp_path, monkeypatch):
    """The equal-frames FLT arm divides SLT's frames with gradients by the frames an FLT iteration
    trains on: batch x search frames per sample (TrDiMP's samples carry 3 search frames)."""
    from ltr.experiments.slt_vs_flt import flt_frames_per_iteration
    from ltr.run_training import build_settings

    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path))
    settings = build_settings(tracker, "tiny", seed=0, device="cpu", workspace=str(tmp_path))
    assert flt_frames_per_iteration(settings) == settings.batch_size * per_sample
