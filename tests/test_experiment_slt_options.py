"""The options experiment's summary: paired differences of +SS+SO with each option vs the plain recipe."""
import json
from pathlib import Path

import pytest

from ltr.experiments import slt_options


def _write(run: Path, scores, iterations) -> None:
    run.mkdir(parents=True)
    record = {"seed": 0, "scores": {arm: {"AO": ao} for arm, ao in scores.items()},
              "arms": {arm: {"iterations": it} for arm, it in iterations.items()}}
    (run / "results.json").write_text(json.dumps({"records": [record]}))


def test_summary_pairs_each_option_with_plain_per_seed(tmp_path: Path) -> None:
    for seed, (ss, ss_so, lm) in enumerate([(50.0, 51.0, 53.0), (49.0, 51.0, 52.0)]):
        _write(tmp_path / "plain" / f"seed{seed}", {"flt_start": 45.0, "ss": ss, "ss_so": ss_so},
               {"ss": 10, "ss_so": 12})
        _write(tmp_path / "local_maxima" / f"seed{seed}", {"flt_start": 45.0, "ss_so": lm}, {"ss_so": 11})
    rows = {r["option"]: r for r in slt_options.summarise(tmp_path, ["plain", "local_maxima"], [0, 1])}
    lm = rows["local_maxima"]
    assert lm["AO"] == pytest.approx(52.5) and lm["iterations"] == pytest.approx(11)
    assert lm["minus_plain_ss_so"]["per_seed"] == pytest.approx([2.0, 1.0])
    assert lm["minus_ss"]["per_seed"] == pytest.approx([3.0, 3.0])
    assert rows["plain"]["minus_ss"]["mean"] == pytest.approx(1.5)
    table = slt_options.format_table(list(rows.values()), {})
    assert "(reference)" in table and "+1.50" in table


def test_every_option_has_its_signal_overrides() -> None:
    assert set(slt_options.SIGNAL_SETS) == set(slt_options.OPTIONS)


def test_candidate_statistics_of_the_signal_report() -> None:
    import torch
    from ltr.experiments.gradient_signal import candidate_stats
    steps = {"candidates": torch.tensor([[[3, 7, -1], [5, -1, -1]]])}
    assert candidate_stats(steps) == {"candidates/count": 1.5, "candidates/multiple": 0.5}
    assert candidate_stats({"search": torch.zeros(1)}) == {}


def test_copied_flt_start_results_are_stamped_for_the_copy(tmp_path: Path) -> None:
    import os
    source = tmp_path / "exp" / "seed0"
    (source / "checkpoints").mkdir(parents=True)
    for name in ("flt_start.pth", "flt_start.json", "flt_start_stats.json"):
        (source / "checkpoints" / name).write_text("x")
    (source / "results" / "flt_start").mkdir(parents=True)
    (source / "results" / "flt_start" / ".checkpoint_mtime").write_text("elsewhere 1.0")
    (tmp_path / "exp" / "data").mkdir()
    target = tmp_path / "opt" / "seed0"
    assert slt_options.copy_start(source, target)
    ckpt = target / "checkpoints" / "flt_start.pth"
    stamp = (target / "results" / "flt_start" / ".checkpoint_mtime").read_text()
    assert stamp == f"{ckpt.resolve()} {os.path.getmtime(ckpt)}"
    assert (target / "data").is_dir()
    assert not slt_options.copy_start(tmp_path / "nothing", tmp_path / "t2")
