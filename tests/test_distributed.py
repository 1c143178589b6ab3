"""Distributed training on the CPU (gloo): two processes equal one process with the doubled batch.

* ``torchrun --standalone --nproc_per_node=2 ltr/run_training.py siamrpnpp tiny`` and ``slt_tiny``
  run to the end; only rank 0 prints the epoch summary and writes stats and checkpoints.
* tests/distributed_worker.py trains tiny SiamRPN++ FLT and SLT (replay through the DDP-wrapped
  replay module, and through the generic gradient all-reduce) for a few iterations with two
  processes of batch b and with one process of batch 2b: the parameters are identical on both
  ranks and equal, to float tolerance, to the single-process run.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltr.admin import distributed
from ltr.admin.checkpoint import load_checkpoint, save_checkpoint
from ltr.models.registry import build_network
from ltr.trainers.base_trainer import BaseTrainer

REPO = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    env.update(extra)
    return env


def _start_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    net = build_network("siamrpnpp", "tiny")
    return save_checkpoint(path, net.state_dict(), tracker="siamrpnpp", size="tiny")


@pytest.fixture(scope="module")
def equivalence_runs(tmp_path_factory):
    """Final parameters of the two-process run (both ranks) and of the single-process run."""
    root = tmp_path_factory.mktemp("ddp")
    start = _start_checkpoint(root / "start.pth")
    worker = [sys.executable, str(REPO / "tests" / "distributed_worker.py")]
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = _env(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        procs.append(subprocess.Popen(worker + [str(root / "ddp"), "--start", str(start)], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    (root / "ddp").mkdir()
    (root / "single").mkdir()
    single = subprocess.run(worker + [str(root / "single"), "--start", str(start)], cwd=REPO, env=_env(),
                            capture_output=True, text=True, timeout=150)
    outputs = [p.communicate(timeout=150)[0] for p in procs]
    assert single.returncode == 0, single.stdout + single.stderr
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output
    return root


def _params(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.mark.parametrize("run", ["flt", "slt_module", "slt_plain"])
def test_two_ranks_equal_one_process_with_the_doubled_batch(equivalence_runs, run):
    root = equivalence_runs
    start = load_checkpoint(root / "start.pth")["net"]
    if run == "flt":  # random init: DDP starts every rank from rank 0's weights
        assert _max_diff(_params(root / "ddp" / "flt_start_rank1.pt"), _params(root / "single" / "flt_start_rank0.pt")) == 0
    # Gradients were averaged: after all steps both ranks hold exactly the same parameters.
    assert _max_diff(_params(root / "ddp" / f"{run}_rank0.pt"), _params(root / "ddp" / f"{run}_rank1.pt")) == 0.0
    # They are those of one process that saw all the samples, to float tolerance. SLT is compared
    # after its first step: exploration is discontinuous in the parameters, so a float-level
    # difference can flip a later action (a 1e-8 change of the start weights does the same).
    name = run if run == "flt" else f"{run}_step1"
    if run != "flt":
        assert _max_diff(_params(root / "ddp" / f"{name}_rank0.pt"), _params(root / "ddp" / f"{name}_rank1.pt")) == 0.0
    ddp, single = _params(root / "ddp" / f"{name}_rank0.pt"), _params(root / "single" / f"{name}_rank0.pt")
    moved = _max_diff(single, start) if run != "flt" else _max_diff(single, _params(root / "single" / "flt_start_rank0.pt"))
    assert moved > 1e-3, f"{run}: training did not move the parameters ({moved})"
    assert _max_diff(ddp, single) < 1e-4 * moved, f"{run}: max |ddp - single| = {_max_diff(ddp, single)}, moved {moved}"


def test_torchrun_trains_flt_then_slt_with_rank_zero_logging(tmp_path):
    env = _env(SLT_WORKSPACE_DIR=str(tmp_path))
    base = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "ltr/run_training.py", "siamrpnpp"]
    flt = subprocess.run(base + ["tiny", "--epochs", "1", "--iterations-per-epoch", "2", "--device", "cpu"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert flt.returncode == 0, flt.stdout + flt.stderr
    assert flt.stdout.count("epoch 1 done") == 1  # rank 0 alone prints
    folder = tmp_path / "checkpoints" / "siamrpnpp" / "tiny"
    records = [json.loads(line) for line in (folder / "stats.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["epoch"] and records[0]["bad_frames_skipped"] == 0
    state = load_checkpoint(folder / "latest.pth")
    assert state["epoch"] == 1 and len(state["rng_per_rank"]) == 2
    assert state["settings"]["world_size"] == 2

    slt = subprocess.run(base + ["slt_tiny", "--checkpoint", str(folder / "latest.pth"), "--epochs", "1",
                                 "--iterations-per-epoch", "1", "--device", "cpu"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert slt.returncode == 0, slt.stdout + slt.stderr
    assert slt.stdout.count("epoch 1 done") == 1 and "bad_frames_skipped=0" in slt.stdout
    assert load_checkpoint(tmp_path / "checkpoints" / "siamrpnpp" / "slt_tiny" / "latest.pth")["epoch"] == 1


def test_helpers_are_identities_in_a_single_process():
    assert not distributed.is_distributed()
    assert distributed.all_reduce_mean({"a": 1.5}) == {"a": 1.5}
    assert distributed.all_reduce_sum({"n": 3}) == {"n": 3}
    assert distributed.any_rank(False) is False and distributed.any_rank(True) is True
    assert distributed.all_gather_object({"x": 1}) == [{"x": 1}]
    net = torch.nn.Linear(2, 2)
    assert distributed.wrap_ddp(net) is net
    distributed.all_reduce_gradients(net.parameters())  # no process group: nothing to do


def test_rank_strided_indices_cover_the_single_process_batches(tmp_path):
    class _Data(torch.utils.data.Dataset):
        def __len__(self):
            return 24

        def __getitem__(self, i):
            return i

    class _Settings:
        project_path = "x/y"
        seed = 0

        def __init__(self, rank, world):
            self.rank, self.world_size = rank, world

    def batches(rank, world, batch, start=0):
        trainer = BaseTrainer(torch.nn.Linear(1, 1), None, _Data(), batch, _Settings(rank, world), "t", "tiny",
                              collate_fn=list, checkpoint_dir=tmp_path)
        return list(trainer.batches(start))

    single = batches(0, 1, 6)
    per_rank = [batches(r, 2, 3) for r in range(2)]
    assert len(single) == len(per_rank[0]) == len(per_rank[1]) == 4
    for it, batch in enumerate(single):
        assert sorted(per_rank[0][it] + per_rank[1][it]) == sorted(batch)
        assert not set(per_rank[0][it]) & set(per_rank[1][it])
    # Resuming at iteration 2 skips exactly the first two global batches on every rank.
    assert batches(1, 2, 3, start=2) == per_rank[1][2:]
