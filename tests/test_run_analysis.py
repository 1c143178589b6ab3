"""run_analysis end to end on a tiny GOT-10k-layout dataset with generated results."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytracking.analysis.cli import main
from pytracking.analysis.evaluate import evaluate_tracker
from pytracking.analysis.results_io import ResultFileError, load_result_file
from pytracking.evaluation.datasets import get_dataset
from tests.test_eval_datasets import random_got10k_sequences, write_got10k_layout

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def setup(tmp_path):
    """GOT-10k val layout with 4 sequences, and two results folders (good and noisy)."""
    rng = np.random.default_rng(1)
    specs = random_got10k_sequences(rng, 4, 6, 20)
    root = tmp_path / "got10k"
    write_got10k_layout(root / "val", specs)
    dirs = {}
    for name, noise in (("good", 2.0), ("noisy", 12.0)):
        folder = tmp_path / name
        folder.mkdir()
        for seq, spec in specs.items():
            pred = spec["gt"] + rng.normal(0, noise, spec["gt"].shape)
            pred[:, 2:] = np.maximum(pred[:, 2:], 1)
            np.savetxt(folder / f"{seq}.txt", np.round(pred), fmt="%d", delimiter="\t")
        dirs[name] = folder
    return {"root": root, "specs": specs, "dirs": dirs, "tmp": tmp_path}


def _run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_keys_and_values_match_library(setup, capsys):
    out_json = setup["tmp"] / "scores.json"
    code, out, err = _run(["--dataset", "got10k_val", "--dataset-root", setup["root"],
                           "--results-dir", setup["dirs"]["good"], "--json", out_json], capsys)
    assert code == 0, err
    data = json.loads(out_json.read_text())
    for key in ("AUC", "Precision", "NormPrecision", "AO", "SR50", "SR75", "sequences"):
        assert key in data
    assert data["sequences"] == 4
    seqs = get_dataset("got10k_val", str(setup["root"]))
    boxes = {s.name: load_result_file(setup["dirs"]["good"] / f"{s.name}.txt") for s in seqs}
    expected = evaluate_tracker(seqs, boxes).summary()
    for key in ("AUC", "Precision", "NormPrecision", "AO", "SR50", "SR75"):
        assert data[key] == pytest.approx(expected[key])
        assert 0.0 <= data[key] <= 100.0
    assert "AUC" in out and "good" in out


def test_two_results_dirs_one_table_and_plots(setup, capsys):
    plot_dir = setup["tmp"] / "plots"
    code, out, err = _run(["--dataset", "got10k_val", "--dataset-root", setup["root"],
                           "--results-dir", setup["dirs"]["good"], "--name", "Good",
                           "--results-dir", setup["dirs"]["noisy"], "--name", "Noisy",
                           "--plot-dir", plot_dir], capsys)
    assert code == 0, err
    table_lines = [line for line in out.splitlines() if line.startswith(("Good", "Noisy"))]
    assert len(table_lines) == 2
    for name in ("success_plot.png", "precision_plot.png", "norm_precision_plot.png"):
        assert (plot_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_all_protocols_table_is_labelled(setup, capsys):
    code, out, err = _run(["--dataset", "got10k_val", "--dataset-root", setup["root"],
                           "--results-dir", setup["dirs"]["good"], "--all-protocols"], capsys)
    assert code == 0, err
    for label in ("pytracking", "GOT-10k toolkit", "pysot toolkit", "1st=GT,per-seq", "skip 1st,clip",
                  "frame-pooled", "raw 1st,per-seq", "Conventions"):
        assert label in out


@pytest.mark.parametrize("content, message", [
    ("1\t2\t3\t4\n" * 3, "has 3 lines but the sequence has"),
    (None, "line 2: NaN or infinite value"),
    (None, "line 3: cannot parse 'abc'"),
    (None, "line 1: expected 4 numbers, found 3"),
])
def test_bad_result_files_name_file_and_line(setup, capsys, content, message):
    seq = next(iter(setup["specs"]))
    n = len(setup["specs"][seq]["gt"])
    path = setup["dirs"]["good"] / f"{seq}.txt"
    lines = path.read_text().splitlines()
    if content is None:
        if "NaN" in message:
            lines[1] = "1,2,nan,4"
        elif "abc" in message:
            lines[2] = "1 2 abc 4"
        else:
            lines[0] = "1,2,3"
        content = "\n".join(lines) + "\n"
    path.write_text(content)
    code, out, err = _run(["--dataset", "got10k_val", "--dataset-root", setup["root"],
                           "--results-dir", setup["dirs"]["good"]], capsys)
    assert code == 1
    assert str(path) in err and message in err
    assert n > 3


def test_negative_sizes_warn_and_continue(setup, capsys):
    seq = next(iter(setup["specs"]))
    path = setup["dirs"]["good"] / f"{seq}.txt"
    lines = path.read_text().splitlines()
    lines[2] = "5\t5\t-3\t10"
    lines[4] = "5\t5\t10\t-1"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = _run(["--dataset", "got10k_val", "--dataset-root", setup["root"],
                           "--results-dir", setup["dirs"]["good"]], capsys)
    assert code == 0
    assert f"warning: {path}: negative width/height on line(s) 3, 5" in err


def test_missing_results_error_and_skip_missing(setup, capsys):
    names = list(setup["specs"])
    (setup["dirs"]["good"] / f"{names[1]}.txt").unlink()
    (setup["dirs"]["good"] / f"{names[3]}.txt").unlink()
    args = ["--dataset", "got10k_val", "--dataset-root", setup["root"], "--results-dir", setup["dirs"]["good"]]
    code, out, err = _run(args, capsys)
    assert code == 1
    assert f"{names[1]}.txt" in err and f"{names[3]}.txt" in err and "--skip-missing" in err
    out_json = setup["tmp"] / "skip.json"
    code, out, err = _run(args + ["--skip-missing", "--json", out_json], capsys)
    assert code == 0 and "warning" in err and names[1] in err
    data = json.loads(out_json.read_text())
    assert data["sequences"] == 2 and data["sequence_names"] == [names[0], names[2]]


def test_sequence_list_and_frame_interval(setup, capsys):
    names = list(setup["specs"])
    seq_list = setup["tmp"] / "subset.txt"
    seq_list.write_text(f"# subset\n{names[0]}\n{names[2]}\n")
    out_json = setup["tmp"] / "subset.json"
    code, out, err = _run(["--dataset", "got10k_val", "--dataset-root", setup["root"], "--results-dir",
                           setup["dirs"]["good"], "--sequence-list", seq_list, "--frame-interval", "2",
                           "--json", out_json], capsys)
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert data["sequence_names"] == [names[0], names[2]]
    seqs = get_dataset("got10k_val", str(setup["root"]), sequences=[names[0], names[2]])
    boxes = {s.name: load_result_file(setup["dirs"]["good"] / f"{s.name}.txt") for s in seqs}
    assert data["AO"] == pytest.approx(evaluate_tracker(seqs, boxes, frame_interval=2).summary()["AO"])


def test_unknown_dataset_and_missing_root(setup, capsys):
    code, out, err = _run(["--dataset", "nope", "--results-dir", setup["dirs"]["good"]], capsys)
    assert code == 1 and "unknown dataset" in err
    code, out, err = _run(["--dataset", "got10k_val", "--dataset-root", setup["tmp"] / "nowhere",
                           "--results-dir", setup["dirs"]["good"]], capsys)
    assert code == 1 and "GOT-10k" in err and "does not exist" in err


def test_result_file_delimiters_and_floats(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("1,2,3,4\n1.5\t2.5\t3.5\t4.5\n1 2  3 4\n\n")
    np.testing.assert_array_equal(load_result_file(path, num_frames=3),
                                  [[1, 2, 3, 4], [1.5, 2.5, 3.5, 4.5], [1, 2, 3, 4]])
    path.write_text("1,2,3,4\n\n1,2,3,4\n")
    with pytest.raises(ResultFileError, match="line 2: empty line"):
        load_result_file(path)


@pytest.mark.parametrize("how", ["script", "module"])
def test_runs_as_script_and_module(setup, how):
    launcher = [str(REPO / "pytracking" / "run_analysis.py")] if how == "script" else ["-m", "pytracking.run_analysis"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, *launcher, "--dataset", "got10k_val", "--dataset-root", str(setup["root"]),
                           "--results-dir", str(setup["dirs"]["good"])],
                          cwd=str(setup["tmp"]), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "AUC" in proc.stdout and "good" in proc.stdout


def test_token_count_checked_per_line(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("1 2 3\n4 5 6 7 8\n")  # 8 numbers on 2 lines, but not 4 per line
    with pytest.raises(ResultFileError, match="line 1: expected 4 numbers, found 3"):
        load_result_file(path)


def test_lasot_without_frames_skips_got10k_protocol(tmp_path, capsys):
    from tests.test_eval_datasets import write_lasot_layout
    gt = np.array([[10, 10, 20, 20]] * 4, float)
    write_lasot_layout(tmp_path / "lasot", "airplane-1", gt, [0, 0, 1, 0], [0, 0, 0, 0])
    (tmp_path / "res").mkdir()
    np.savetxt(tmp_path / "res" / "airplane-1.txt", gt, fmt="%d", delimiter=",")
    seq_list = tmp_path / "list.txt"
    seq_list.write_text("airplane-1\n")
    out_json = tmp_path / "o.json"
    code, out, err = _run(["--dataset", "lasot", "--dataset-root", tmp_path / "lasot", "--results-dir",
                           tmp_path / "res", "--sequence-list", seq_list, "--json", out_json], capsys)
    assert code == 0, err
    assert "GOT-10k protocol skipped" in err
    data = json.loads(out_json.read_text())
    assert data["AO"] is None
    assert data["AUC"] == pytest.approx(100 * 3 * 20 / (4 * 21))  # invisible frame 2 fails, divisor 4
