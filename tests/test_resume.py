"""Surviving SIGKILL: training resumes mid-epoch to the same parameters; evaluation reruns only what is missing.

* ltr/run_training.py siamrpnpp tiny with ``--checkpoint-every 1`` is killed (SIGKILL) in its second
  epoch, after a mid-epoch checkpoint, then started again: it resumes from ``latest.pth`` and
  ends with exactly the parameters, optimizer state and epoch summaries of an uninterrupted run;
  every file written before the kill loads (checkpoints) or parses (stats.jsonl lines).
* SLT of every tiny tracker (SiamRPN++, TransT, TrDiMP), run for an iteration budget that ends
  mid-epoch (as a kill after a ``checkpoint_every`` checkpoint would), then continued by a fresh
  trainer in a freshly seeded process state that resumes from ``latest.pth``, ends on exactly the
  parameters and optimizer state of an uninterrupted run: every random source that carries over
  between iterations (python/numpy/torch global generators, an adapter's persistent generators
  such as TrDiMP's replay-time proposal generator) is in the checkpoint, and the episodes and
  exploration generators are functions of (seed, epoch, iteration).
* pytracking/run_experiment.py with the test-double tracker is killed after its first finished
  sequence; the rerun tracks only the missing sequences, leaves the finished files untouched, and
  the result files equal those of an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
import torch

from ltr.admin.checkpoint import load_checkpoint, save_checkpoint
from pytracking.evaluation import results_io
from pytracking.evaluation.data import SequenceList
from pytracking.evaluation.running import run_dataset
from pytracking.evaluation.tracker import Tracker

REPO = Path(__file__).resolve().parents[1]
TRAIN_ARGS = ["ltr/run_training.py", "siamrpnpp", "tiny", "--epochs", "2", "--iterations-per-epoch", "4",
              "--checkpoint-every", "1", "--device", "cpu", "--seed", "7"]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    env.update(extra)
    return env


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended before writing {path}: {proc.communicate()[0]}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def _wait_for_checkpoint(path: Path, proc: subprocess.Popen, at_least: Tuple[int, int], timeout: float = 90.0) -> None:
    """Until ``path`` holds a state at or after (epoch, iteration) ``at_least``."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the run ended before reaching {at_least}: {proc.communicate()[0]}"
        assert time.monotonic() < deadline, f"{path} did not reach {at_least}"
        if path.exists():
            state = torch.load(path, map_location="cpu", weights_only=True)  # renamed into place: complete
            if (state["epoch"], state["iteration"]) >= at_least:
                return
        time.sleep(0.02)


def _check_files_intact(folder: Path) -> List[dict]:
    """Every checkpoint loads with weights_only and every stats.jsonl line is JSON."""
    checkpoints = sorted(p for p in folder.glob("*.pth") if not p.name.startswith("."))
    assert checkpoints, f"no checkpoint in {folder}"
    for path in checkpoints:
        state = load_checkpoint(path)
        assert state["net"] and state["optimizer"] is not None
    stats = folder / "stats.jsonl"
    return [json.loads(line) for line in stats.read_text().splitlines()] if stats.exists() else []


def test_sigkilled_training_resumes_to_the_uninterrupted_result(tmp_path):
    straight_ws, killed_ws = tmp_path / "straight", tmp_path / "killed"
    straight = subprocess.Popen([sys.executable] + TRAIN_ARGS, cwd=REPO, env=_env(SLT_WORKSPACE_DIR=str(straight_ws)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = subprocess.Popen([sys.executable] + TRAIN_ARGS, cwd=REPO, env=_env(SLT_WORKSPACE_DIR=str(killed_ws)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    folder = killed_ws / "checkpoints" / "siamrpnpp" / "tiny"
    # Kill inside the second epoch, once the first epoch's summary is in stats.jsonl.
    _wait_for_checkpoint(folder / "latest.pth", victim, at_least=(1, 1))
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    before = load_checkpoint(folder / "latest.pth")
    assert (1, 1) <= (before["epoch"], before["iteration"]) < (2, 0), "the run finished before it was killed"
    records_before = _check_files_intact(folder)
    assert [r["epoch"] for r in records_before if r["kind"] == "epoch"] == [1]

    resumed = subprocess.run([sys.executable] + TRAIN_ARGS, cwd=REPO, env=_env(SLT_WORKSPACE_DIR=str(killed_ws)),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Resumed from {folder / 'latest.pth'}: epoch" in resumed.stdout
    out, _ = straight.communicate(timeout=120)
    assert straight.returncode == 0, out

    reference = load_checkpoint(straight_ws / "checkpoints" / "siamrpnpp" / "tiny" / "latest.pth")
    final = load_checkpoint(folder / "latest.pth")
    assert (final["epoch"], final["iteration"]) == (reference["epoch"], reference["iteration"]) == (2, 0)
    for key, value in reference["net"].items():
        assert torch.equal(value, final["net"][key]), f"parameter {key} differs after the resume"
    for key, value in reference["optimizer"]["state"].items():
        for name, tensor in value.items():
            assert torch.equal(torch.as_tensor(tensor), torch.as_tensor(final["optimizer"]["state"][key][name]))
    # The epoch summaries (running averages restored mid-epoch) are the uninterrupted ones.
    assert final["stats"]["history"] == reference["stats"]["history"]

    records_after = _check_files_intact(folder)
    assert records_after[:len(records_before)] == records_before  # nothing written before the kill was lost
    epochs = [r for r in records_after if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2] and all("bad_frames_skipped" in r for r in epochs)


# -- SLT --------------------------------------------------------------------------------------------

SLT_EPOCHS, SLT_ITERATIONS = 2, 2
SLT_KILL_AFTER = 3  # iterations: inside the second epoch, after the first epoch's scheduler step


def _slt_trainer(tracker: str, workspace: Path, start: Path, monkeypatch):
    """A fresh tiny SLT trainer as ``ltr/run_training.py <tracker> slt_tiny`` builds it in a new process."""
    from ltr.run_training import build_settings, import_setting

    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(workspace))  # build_settings sets it; undone after the test
    # build_settings seeds the global generators as a new process would: a resumed run must not
    # depend on them before it loads the checkpoint.
    settings = build_settings(tracker, "slt_tiny", seed=7, checkpoint=str(start), resume=True, device="cpu",
                              workspace=str(workspace), episodes_per_batch=2, num_frames=3,
                              iterations_per_epoch=SLT_ITERATIONS, epochs=SLT_EPOCHS, checkpoint_every=1,
                              num_workers=0, print_interval=0, replay_chunk=1)
    return import_setting(tracker, "slt_tiny").build_trainer(settings, quiet=True)


def _slt_run(tracker: str, workspace: Path, start: Path, monkeypatch, budget: Optional[int] = None,
             resume: bool = False):
    trainer = _slt_trainer(tracker, workspace, start, monkeypatch)
    if resume:
        assert trainer.load_checkpoint(), f"no checkpoint to resume from in {trainer.checkpoint_dir}"
    trainer.train(SLT_EPOCHS, max_iterations=budget)
    return trainer


@pytest.mark.parametrize("tracker", ["siamrpnpp", "transt", "trdimp", "ostrack"])
def test_killed_slt_run_resumes_to_the_uninterrupted_parameters(tmp_path, monkeypatch, tracker):
    from ltr.models.registry import build_network

    torch.manual_seed(11)
    start = tmp_path / f"{tracker}_start.pth"
    save_checkpoint(start, build_network(tracker, "tiny").state_dict(), tracker=tracker, size="tiny")

    straight = _slt_run(tracker, tmp_path / "straight", start, monkeypatch)
    victim = _slt_run(tracker, tmp_path / "killed", start, monkeypatch, budget=SLT_KILL_AFTER)
    assert (victim.epoch, victim.iteration_in_epoch) == (1, 1)
    saved = load_checkpoint(victim.checkpoint_dir / "latest.pth")
    assert (saved["epoch"], saved["iteration"]) == (1, 1)
    if tracker == "trdimp":
        assert "proposal" in saved["rng"]["adapter"], "the replay-time proposal generator is not in the checkpoint"
    del victim  # nothing of the killed process survives but its files
    resumed = _slt_run(tracker, tmp_path / "killed", start, monkeypatch, resume=True)

    assert (resumed.epoch, resumed.iteration_in_epoch) == (straight.epoch, straight.iteration_in_epoch) == (2, 0)
    assert resumed.total_iterations == straight.total_iterations == SLT_EPOCHS * SLT_ITERATIONS
    want, got = straight.net.state_dict(), resumed.net.state_dict()
    assert want.keys() == got.keys()
    differing = [key for key in want if not torch.equal(want[key], got[key])]
    assert not differing, f"{len(differing)} tensors differ after the resume, e.g. {differing[:3]}"
    want_opt, got_opt = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert want_opt["param_groups"] == got_opt["param_groups"]
    for key, value in want_opt["state"].items():
        for name, tensor in value.items():
            assert torch.equal(torch.as_tensor(tensor), torch.as_tensor(got_opt["state"][key][name])), (key, name)
    # ... and both leave every random source in the same state for what would come next.
    assert _same_rng(straight.rng_state(), resumed.rng_state())


def _same_rng(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_rng(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_rng(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


# -- evaluation -------------------------------------------------------------------------------------

def paced_experiment() -> Tuple[List[Tracker], SequenceList]:
    """The test-double tracker at ~20 FPS on three generated sequences (for run_experiment)."""
    import tests.doubles  # noqa: F401  (registers the 'double' tracker)
    from tests.doubles.experiments import generated
    return [Tracker("double", "paced")], generated()


def test_sigkilled_experiment_reruns_only_the_missing_sequences(tmp_path):
    env = _env(SLT_RESULTS_DIR=str(tmp_path / "results"), SLT_DOUBLE_DATA=str(tmp_path / "data"),
               SLT_LOCAL_SETTINGS=str(tmp_path / "local_settings.py"))
    command = [sys.executable, "pytracking/run_experiment.py", "tests.test_resume", "paced_experiment"]
    folder = tmp_path / "results" / "double" / "paced"
    victim = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for(folder / "gen_000.txt", victim)  # the box file is written last
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    names = ["gen_000", "gen_001", "gen_002"]
    finished = [n for n in names if results_io.is_finished(folder, n)]
    assert "gen_000" in finished and len(finished) < 3, finished
    # Visible files are complete; a kill inside an atomic write can only leave a hidden temporary file.
    for path in folder.iterdir():
        if not path.name.startswith("."):
            assert path.read_text().endswith("\n")
    stamps = {p.name: p.stat().st_mtime_ns for n in finished
              for p in (results_io.bbox_file(folder, n), results_io.time_file(folder, n))}

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{3 - len(finished)} run, {len(finished)} skipped" in rerun.stdout
    for name, stamp in stamps.items():
        assert (folder / name).stat().st_mtime_ns == stamp, f"{name} was rewritten"

    # An uninterrupted run of the same tracker (without the frame delay) gives the same boxes.
    from tests.doubles.experiments import generated
    sequences = generated(str(tmp_path / "data"))
    reference = Tracker("double", "default", results_root=str(tmp_path / "reference"))
    assert run_dataset(sequences, [reference], print_summary=False).ok
    for seq in sequences:
        expected = results_io.bbox_file(reference.results_dir, seq.name).read_text()
        assert results_io.bbox_file(folder, seq.name).read_text() == expected
        assert len(results_io.read_times(folder, seq.name)) == len(seq.frames)
