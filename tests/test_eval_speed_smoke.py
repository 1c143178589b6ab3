"""Smoke test of benchmarks/eval_speed.py's whole-process part on a tiny generated LaSOT folder.

Timings are not checked; only that the processes run, that the cached run scores the same, and
(where the got10k toolkit is installed) that its AO matches run_analysis.py's to rounding.
"""
import json
from pathlib import Path

import pytest

from benchmarks import eval_speed


def test_whole_process_rows_and_ao_against_the_toolkit(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "eval_speed.json"
    code = eval_speed.main(["--sequences", "3", "--frames", "40", "--process-repeats", "1", "--skip-metrics",
                            "--first-frames", "--data-dir", str(tmp_path / "data"), "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["command"].startswith("python benchmarks/eval_speed.py")
    rows = payload["process"]["rows"]
    ours, cached = rows[0], rows[1]
    for row in (ours, cached):
        assert row["wall_s"] > 0 and row["cpu_s"] > 0 and row["AUC"] is not None and row["AO"] is not None
    assert cached["same_scores_as_uncached"] is True
    assert list((tmp_path / "data" / "annotation_cache").glob("*.npy"))  # 3 files per sequence
    if payload["process"]["toolkit"] is None:
        pytest.skip("the got10k toolkit is not installed in this Python: pip install -e .[test] installs it")
    toolkit = rows[2]
    assert ours["abs_diff_AO_points"] < 1e-9 and "over_toolkit_wall" in ours
    assert "Whole process: 3 sequences x 40 frames" in capsys.readouterr().out
    assert toolkit["AO"] == pytest.approx(ours["AO"], abs=1e-9)
