"""The ``synthetic`` evaluation dataset is generated on first use under the default root.

Every test works in its own temporary workspace with a tiny embedded split (2 videos of 4 frames,
32x32), so generation takes well under a second.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import pytest

from ltr.admin.environment import DatasetPathError
from ltr.dataset.synthetic import SyntheticConfig
from ltr.util_scripts import make_synthetic
from pytracking.evaluation import syntheticdataset
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.syntheticdataset import EmbeddedSplit

SMALL = EmbeddedSplit(num_videos=2, frames=4, seed=5, config=SyntheticConfig(image_size=(32, 32)))


def _use_workspace(monkeypatch, folder: Path) -> Path:
    """Point every setting at a fresh workspace under ``folder``; returns the default synthetic root."""
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(folder / "local.py"))
    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(folder / "workspace"))
    monkeypatch.delenv("SLT_SYNTHETIC_DIR", raising=False)
    return folder / "workspace" / "data" / "synthetic"


@pytest.fixture
def workspace(monkeypatch, tmp_path) -> Path:
    monkeypatch.setitem(syntheticdataset.EMBEDDED_SPLITS, "test", SMALL)
    return _use_workspace(monkeypatch, tmp_path / "a")


def _files(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _mtimes(root: Path) -> Dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def _refuse_generation(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the synthetic split was generated again")

    monkeypatch.setattr(make_synthetic, "generate_video", refuse)


def test_first_use_generates_the_default_split(workspace, capsys):
    assert not workspace.exists()
    seqs = get_dataset("synthetic")
    assert [s.name for s in seqs] == ["Synthetic_Test_000001", "Synthetic_Test_000002"]
    assert all(len(s.frames) == 4 and Path(s.frames[-1]).is_file() for s in seqs)
    assert seqs[0].attributes and seqs[0].dataset == "synthetic"
    marker = make_synthetic.read_completion(workspace / "test")
    assert marker == make_synthetic.completion_record("test", num_videos=2, frames=4, seed=5,
                                                      config=SMALL.config)
    assert not [p.name for p in workspace.iterdir() if p.name.startswith(".tmp-")]
    err = capsys.readouterr().err
    assert "Synthetic: generating the 'test' split (2 videos x 4 frames" in err and "synthetic test" in err


def test_second_use_reuses_without_generating(workspace, monkeypatch):
    first = [s.name for s in get_dataset("synthetic")]
    stamps = _mtimes(workspace)
    _refuse_generation(monkeypatch)
    assert [s.name for s in get_dataset("synthetic")] == first
    assert _mtimes(workspace) == stamps


def test_a_split_written_by_the_command_line_with_the_same_settings_is_reused(workspace, monkeypatch):
    make_synthetic.write_got10k_layout(workspace, "test", num_videos=2, frames=4, seed=5, config=SMALL.config)
    stamps = _mtimes(workspace / "test")
    _refuse_generation(monkeypatch)
    assert len(get_dataset("synthetic")) == 2
    assert _mtimes(workspace / "test") == stamps


def test_changed_generator_settings_regenerate(workspace, monkeypatch):
    get_dataset("synthetic")
    before = _files(workspace / "test")
    monkeypatch.setitem(syntheticdataset.EMBEDDED_SPLITS, "test",
                        EmbeddedSplit(num_videos=3, frames=4, seed=6, config=SMALL.config))
    seqs = get_dataset("synthetic")
    assert len(seqs) == 3
    assert make_synthetic.read_completion(workspace / "test")["seed"] == 6
    after = _files(workspace / "test")
    assert after["Synthetic_Test_000001/groundtruth.txt"] != before["Synthetic_Test_000001/groundtruth.txt"]
    assert not [p.name for p in workspace.iterdir() if p.name.startswith(".tmp-")]


def test_generation_is_deterministic(monkeypatch, tmp_path):
    monkeypatch.setitem(syntheticdataset.EMBEDDED_SPLITS, "test", SMALL)
    roots = []
    for name in ("one", "two"):
        roots.append(_use_workspace(monkeypatch, tmp_path / name))
        get_dataset("synthetic")
    first, second = (_files(root / "test") for root in roots)
    assert first == second
    assert "complete.json" in first and "Synthetic_Test_000002/00000004.jpg" in first


def test_killed_generation_is_not_taken_as_complete(workspace, monkeypatch):
    real_write = make_synthetic._write_sequence

    def write_then_die(*args, **kwargs):
        real_write(*args, **kwargs)
        os._exit(9)  # as abrupt as a kill: no cleanup, no finally blocks

    pid = os.fork()
    if pid == 0:  # the child dies half-way through the first generation
        try:
            monkeypatch.setattr(make_synthetic, "_write_sequence", write_then_die)
            get_dataset("synthetic")
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 9
    assert not (workspace / "test").exists()
    leftovers = [p for p in workspace.iterdir() if p.name.startswith(".tmp-")]
    assert [p.name for p in leftovers] == [f".tmp-test-{pid}"]
    assert (leftovers[0] / "test" / "Synthetic_Test_000001").is_dir()

    calls = []
    real_generate = make_synthetic.generate_video
    monkeypatch.setattr(make_synthetic, "generate_video", lambda *a, **k: calls.append(1) or real_generate(*a, **k))
    assert len(get_dataset("synthetic")) == 2
    assert calls, "the interrupted generation was reused"
    assert not leftovers[0].exists()


def test_an_interrupted_in_place_write_is_regenerated(workspace, monkeypatch):
    real_write = make_synthetic._write_sequence
    written = []

    def write_then_stop(*args, **kwargs):
        real_write(*args, **kwargs)
        written.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(make_synthetic, "_write_sequence", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic.write_got10k_layout(workspace, "test", num_videos=2, frames=4, seed=5, config=SMALL.config)
    monkeypatch.setattr(make_synthetic, "_write_sequence", real_write)
    assert written and make_synthetic.read_completion(workspace / "test") is None
    assert len(get_dataset("synthetic")) == 2
    assert make_synthetic.read_completion(workspace / "test") is not None


def test_an_interrupted_repair_drops_the_marker(tmp_path, monkeypatch):
    split_dir = make_synthetic.write_got10k_layout(tmp_path, "test", num_videos=2, frames=4, seed=5,
                                                   config=SMALL.config)
    assert make_synthetic.read_completion(split_dir) is not None
    (split_dir / "Synthetic_Test_000002" / "00000003.jpg").unlink()

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(make_synthetic, "_write_sequence", stop)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic.write_got10k_layout(tmp_path, "test", num_videos=2, frames=4, seed=5, config=SMALL.config)
    assert make_synthetic.read_completion(split_dir) is None


def test_a_root_the_user_chose_is_never_written(workspace, monkeypatch, tmp_path):
    mine = tmp_path / "my_synthetic"
    monkeypatch.setenv("SLT_SYNTHETIC_DIR", str(mine))
    with pytest.raises(DatasetPathError) as info:
        get_dataset("synthetic")
    message = str(info.value)
    assert str(mine) in message and "does not exist" in message
    assert "synthetic_dir" in message and "SLT_SYNTHETIC_DIR" in message
    assert f"python -m ltr.util_scripts.make_synthetic --root {mine} --split test" in message
    assert not mine.exists() and not workspace.exists()

    monkeypatch.delenv("SLT_SYNTHETIC_DIR")
    explicit = tmp_path / "explicit"
    with pytest.raises(DatasetPathError, match="make_synthetic"):
        get_dataset("synthetic", str(explicit))
    assert not explicit.exists() and not workspace.exists()


def test_other_splits_are_not_generated(workspace):
    with pytest.raises(DatasetPathError) as info:
        get_dataset("synthetic", split="val")
    assert "--split val" in str(info.value) and "generated on first use" in str(info.value)
    assert not (workspace / "val").exists()
