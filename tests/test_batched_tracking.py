"""Sequences tracked in lockstep (``--batch-sequences N``) write exactly the files of a one-by-one run."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import torch

import tests.doubles  # noqa: F401  (registers the 'double' tracker)
from pytracking.evaluation import results_io
from pytracking.evaluation.data import SequenceList
from pytracking.evaluation.running import run_dataset
from pytracking.evaluation.tracker import Tracker
from pytracking.tracker.common.tracker_state import concat_trackers, select_trackers
from tests.doubles.sequences import make_sequence

#: (frames, (H, W)) of the mixed split: different lengths and frame sizes.
MIXED_SPLIT = [(9, (72, 96)), (6, (96, 72)), (15, (64, 80)), (7, (72, 96)), (11, (80, 112))]


class RandomWeightsTracker(Tracker):
    """The tracker's ``tiny`` parameter set with seeded random weights (module level: workers unpickle it)."""

    def get_parameters(self):
        params = super().get_parameters()
        params.allow_random_weights = True
        params.checkpoint = None
        params.device = "cpu"
        return params

    def create_tracker(self, params):
        torch.manual_seed(0)  # the same random network in every run and worker
        return super().create_tracker(params)


def mixed_split(root: Path) -> SequenceList:
    return SequenceList(make_sequence(Path(root), f"mixed_{i}", num_frames=n, size=size, seed=20 + i)
                        for i, (n, size) in enumerate(MIXED_SPLIT))


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return mixed_split(tmp_path_factory.mktemp("mixed"))


def _files(folder: Path) -> Dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir()) if p.is_file()}


def _run(tracker_name: str, split, root: Path, batch: int, threads: int = 0, **kwargs) -> Path:
    tracker = RandomWeightsTracker(tracker_name, "tiny", results_root=str(root))
    summary = run_dataset(split, [tracker], threads=threads, batch_sequences=batch, print_summary=False, **kwargs)
    assert summary.ok and len(summary.done) == len(split), summary.report()
    return Path(tracker.results_dir)


@pytest.fixture(scope="module")
def siamrpnpp_alone(split, tmp_path_factory) -> Path:
    """The one-by-one SiamRPN++ results every other test compares with."""
    return _run("siamrpnpp", split, tmp_path_factory.mktemp("alone"), batch=1)


@pytest.mark.parametrize("tracker_name", ["siamrpnpp", "siamattn", "transt", "trdimp", "ostrack"])
def test_batch_of_three_writes_the_files_of_one_by_one(tracker_name, split, siamrpnpp_alone, tmp_path, capsys):
    alone = siamrpnpp_alone if tracker_name == "siamrpnpp" else _run(tracker_name, split, tmp_path / "n1", batch=1)
    batched = _run(tracker_name, split, tmp_path / "n3", batch=3)
    assert "no batched core" not in capsys.readouterr().out
    one, three = _files(alone), _files(batched)
    assert sorted(one) == sorted(three) and len(one) == 2 * len(split)
    for seq in split:
        name = f"{seq.name}.txt"
        assert three[name] == one[name], f"{tracker_name} {name}: boxes differ between N = 3 and N = 1"
        assert len(results_io.read_boxes(batched, seq.name)) == len(seq.frames)
        assert len(results_io.read_times(batched, seq.name)) == len(seq.frames)
    # The trackers really moved (random weights still give different boxes per frame).
    boxes = results_io.read_boxes(batched, split[2].name)
    assert np.abs(np.diff(boxes, axis=0)).max() > 0


def test_workers_batch_their_share_and_resume_skips_finished(split, siamrpnpp_alone, tmp_path, capsys):
    alone = siamrpnpp_alone
    # Two workers, each tracking its share (two sequences, then one) in lockstep; fork keeps the
    # test fast (the command-line tools spawn).
    folder = _run("siamrpnpp", split[:3], tmp_path / "w2", batch=2, threads=2, start_method="fork")
    for seq in split[:3]:
        assert (folder / f"{seq.name}.txt").read_bytes() == (alone / f"{seq.name}.txt").read_bytes(), seq.name
    # Resume: drop two sequences' results; only they (and the two never run) run again, batched.
    for seq in (split[1], split[2]):
        results_io.bbox_file(folder, seq.name).unlink()
    tracker = RandomWeightsTracker("siamrpnpp", "tiny", results_root=str(tmp_path / "w2"))
    capsys.readouterr()
    summary = run_dataset(split, [tracker], batch_sequences=4, print_summary=False)
    assert len(summary.skipped) == 1 and len(summary.done) == 4
    assert results_io.bbox_file(folder, split[1].name).read_bytes() == (alone / f"{split[1].name}.txt").read_bytes()


def test_a_bad_frame_fails_only_its_sequence_and_frees_its_slot(split, siamrpnpp_alone, tmp_path):
    broken = mixed_split(tmp_path / "frames")
    Path(broken[2].frames[4]).write_bytes(b"not an image")
    tracker = RandomWeightsTracker("siamrpnpp", "tiny", results_root=str(tmp_path / "bad"))
    summary = run_dataset(broken, [tracker], batch_sequences=3, print_summary=False)
    assert [r.sequence for r in summary.failed] == [broken[2].name]
    assert broken[2].frames[4] in summary.failed[0].error
    assert len(summary.done) == 4
    alone = siamrpnpp_alone
    for seq in (broken[0], broken[4]):  # sequences that ran beside and after the broken one
        assert (Path(tracker.results_dir) / f"{seq.name}.txt").read_bytes() == (alone / f"{seq.name}.txt").read_bytes()


def test_tracker_without_batched_core_runs_one_by_one_with_a_note(split, tmp_path, capsys):
    tracker = Tracker("double", "default", results_root=str(tmp_path))
    summary = run_dataset(split, [tracker], batch_sequences=4, print_summary=False)
    assert summary.ok and len(summary.done) == len(split)
    assert "no batched core" in capsys.readouterr().out


def test_command_lines_take_batch_sequences(split, tmp_path, monkeypatch, capsys):
    from pytracking import run_experiment, run_tracker

    monkeypatch.setenv("SLT_RESULTS_DIR", str(tmp_path / "results"))
    assert run_tracker.build_parser().parse_args(["t", "p", "d", "--batch-sequences", "4"]).batch_sequences == 4
    assert run_tracker.build_parser().parse_args(["t", "p", "d", "--fast-cpu-kernels"]).fast_cpu_kernels
    with pytest.raises(SystemExit):
        run_tracker.main(["double", "default", "tests.test_batched_tracking:missing", "--batch-sequences", "0"])
    assert "--batch-sequences must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_experiment.main(["myexperiments", "nothing", "--batch-sequences", "0"])


def test_select_and_concat_follow_the_declared_dimension():
    state = (torch.arange(6).reshape(3, 2), [torch.arange(3) * 10])
    rows = torch.tensor([2, 0])
    kept = select_trackers(state, rows, 0)
    assert kept[0].tolist() == [[4, 5], [0, 1]] and kept[1][0].tolist() == [20, 0]
    joined = concat_trackers(kept, select_trackers(state, torch.tensor([1]), 0), 0)
    assert joined[0].shape == (3, 2) and joined[1][0].tolist() == [20, 0, 10]
    memory = torch.arange(12).reshape(2, 3, 2)  # trackers on dimension 1
    assert select_trackers(memory, torch.tensor([1]), 1).tolist() == [[[2, 3]], [[8, 9]]]
    with pytest.raises(TypeError, match="TRACKER_STATE_LISTS"):
        select_trackers(object(), rows, 0)



def test_batch_invariant_kernels_switch_onednn_and_nnpack_off_and_restore_them():
    from pytracking.evaluation.kernels import batch_invariant_kernels

    before = torch.backends.mkldnn.enabled
    with batch_invariant_kernels():
        assert not torch.backends.mkldnn.enabled and not torch._C._get_nnpack_enabled()
        conv = torch.nn.Conv2d(64, 64, 3)
        x = torch.randn(3, 64, 15, 15)
        with torch.no_grad():  # the per-sample result does not depend on the batch
            assert torch.equal(conv(x)[1:2], conv(x[1:2]))
    assert torch.backends.mkldnn.enabled == before
