"""pack_results: GOT-10k and TrackingNet server archive layouts and completeness checks."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pytracking.util_scripts.pack_results import PackError, main, pack_got10k, pack_trackingnet
from tests.test_eval_datasets import write_got10k_layout

REPO = Path(__file__).resolve().parents[1]


def _results(folder: Path, lengths: dict, with_time=()) -> dict:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for name, n in lengths.items():
        b = np.round(rng.uniform(0, 100, (n, 4)), 2)
        np.savetxt(folder / f"{name}.txt", b, fmt="%.2f", delimiter="\t")
        boxes[name] = b
        if name in with_time:
            np.savetxt(folder / f"{name}_time.txt", np.full(n, 0.025), fmt="%.6f")
    return boxes


def _read_boxes(archive: zipfile.ZipFile, member: str) -> np.ndarray:
    return np.loadtxt(io.StringIO(archive.read(member).decode()), delimiter=",", ndmin=2)


def test_got10k_layout_with_time_files(tmp_path):
    boxes = _results(tmp_path / "res", {"GOT-10k_Test_000001": 5, "GOT-10k_Test_000002": 3},
                     with_time=("GOT-10k_Test_000001",))
    out = tmp_path / "got.zip"
    warnings = pack_got10k(str(tmp_path / "res"), str(out))
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["GOT-10k_Test_000001/GOT-10k_Test_000001_001.txt",
                                              "GOT-10k_Test_000001/GOT-10k_Test_000001_time.txt",
                                              "GOT-10k_Test_000002/GOT-10k_Test_000002_001.txt"]
        np.testing.assert_allclose(_read_boxes(archive, "GOT-10k_Test_000001/GOT-10k_Test_000001_001.txt"),
                                   boxes["GOT-10k_Test_000001"])
        times = np.loadtxt(io.StringIO(archive.read("GOT-10k_Test_000001/GOT-10k_Test_000001_time.txt").decode()))
        np.testing.assert_allclose(times, 0.025)
    assert len(warnings) == 1 and "GOT-10k_Test_000002" in warnings[0]


def test_trackingnet_layout(tmp_path):
    boxes = _results(tmp_path / "res", {"abc": 4, "xyz": 2})
    out = tmp_path / "tn.zip"
    pack_trackingnet(str(tmp_path / "res"), str(out))
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["abc.txt", "xyz.txt"]
        np.testing.assert_allclose(_read_boxes(archive, "xyz.txt"), boxes["xyz"])


def test_missing_sequences_from_dataset_list(tmp_path, capsys):
    specs = {f"GOT-10k_Test_{i:06d}": {"gt": np.tile([1, 1, 5, 5], (4, 1)), "first_only": True} for i in (1, 2, 3)}
    write_got10k_layout(tmp_path / "got10k" / "test", specs)
    _results(tmp_path / "res", {"GOT-10k_Test_000001": 4})
    code = main(["got10k", "--results-dir", str(tmp_path / "res"), "--out", str(tmp_path / "o.zip"),
                 "--dataset-root", str(tmp_path / "got10k")])
    err = capsys.readouterr().err
    assert code == 1
    assert "GOT-10k_Test_000002.txt" in err and "GOT-10k_Test_000003.txt" in err
    assert not (tmp_path / "o.zip").exists()


def test_line_count_checked_against_dataset(tmp_path):
    specs = {"GOT-10k_Test_000001": {"gt": np.tile([1, 1, 5, 5], (4, 1)), "first_only": True}}
    write_got10k_layout(tmp_path / "got10k" / "test", specs)
    _results(tmp_path / "res", {"GOT-10k_Test_000001": 3})
    from pytracking.util_scripts.pack_results import dataset_frame_counts
    counts = dataset_frame_counts("got10k", str(tmp_path / "got10k"))
    assert counts == {"GOT-10k_Test_000001": 4}
    with pytest.raises(PackError, match="has 3 lines but the sequence has 4 frames"):
        pack_got10k(str(tmp_path / "res"), str(tmp_path / "o.zip"), frame_counts=counts)


def test_sequence_list_check(tmp_path, capsys):
    _results(tmp_path / "res", {"a": 2})
    seq_list = tmp_path / "list.txt"
    seq_list.write_text("a\nb\n")
    code = main(["trackingnet", "--results-dir", str(tmp_path / "res"), "--out", str(tmp_path / "o.zip"),
                 "--sequence-list", str(seq_list)])
    assert code == 1 and "b.txt" in capsys.readouterr().err


def test_cli_as_script(tmp_path):
    _results(tmp_path / "res", {"abc": 3})
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(REPO / "pytracking" / "util_scripts" / "pack_results.py"),
                           "trackingnet", "--results-dir", str(tmp_path / "res"), "--out", str(tmp_path / "t.zip")],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert zipfile.ZipFile(tmp_path / "t.zip").namelist() == ["abc.txt"]
