"""Bad input on purpose: every case gets a clear error naming the file (and the line where there
is one), or, inside a training run, is skipped, counted and reported in the epoch summary.

The cases and their outcomes are listed in docs/robustness.md.
"""
from __future__ import annotations

import io
import json
import shutil
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest
import torch

import tests.doubles  # noqa: F401  (registers the 'double' tracker)
from ltr.admin.checkpoint import save_checkpoint
from ltr.admin.environment import DatasetPathError
from ltr.admin.settings import Settings
from ltr.data.image_loader import ImageReadError, imread_rgb
from ltr.data.sampler import FrameLevelSampler, SamplingError
from ltr.dataset import Got10k
from ltr.dataset._common import DatasetFileError
from ltr.models.registry import build_network
from pytracking.analysis.cli import main as analysis_main
from pytracking.analysis.textio import TableFormatError
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.running import run_dataset
from pytracking.evaluation.tracker import Tracker
from slt_plugins.sampler import SequenceSampler
from tests.fixtures.official_layouts import build_got10k, make_corrupt_jpeg, write_jpeg

TRAIN = ["GOT-10k_Train_000001", "GOT-10k_Train_000002"]
VAL = ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    # Settings() reads (and may create) the local settings file and the workspace: keep both here.
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local_settings.py"))
    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path / "workspace"))
    warnings.simplefilter("ignore", RuntimeWarning)  # jpeg4py fallback notice


def _train_split(root: Path, num_frames: int = 6) -> Path:
    """GOT-10k train layout, two sequences, target visible in every frame."""
    return build_got10k(root, splits={"train": TRAIN}, num_frames=num_frames, absent=(), cover=(8,))["train"].root


def _val_split(root: Path, num_frames: int = 6) -> Path:
    build_got10k(root, splits={"val": VAL}, num_frames=num_frames, absent=(), cover=(8,))
    return root


def _edit_line(path: Path, index: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[index] = text
    path.write_text("\n".join(lines) + "\n")


# -- frames ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["opencv", "jpeg4py"])
@pytest.mark.parametrize("mode", ["truncated", "garbage", "empty", "missing", "truncated_scan"])
def test_unreadable_frames_raise_image_read_error_naming_the_file(tmp_path, mode, backend):
    path = tmp_path / "frame.jpg"
    if mode == "truncated_scan":  # a real picture cut inside its compressed data
        write_jpeg(path, seed=3, height=120, width=160)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * 0.8)])
    elif mode != "missing":
        make_corrupt_jpeg(path, mode)
    with pytest.raises(ImageReadError) as info:
        imread_rgb(path, backend=backend)
    assert info.value.path == str(path) and str(path) in str(info.value)


# -- training datasets ----------------------------------------------------------------------------

def test_nan_negative_and_zero_boxes_are_never_sampled(tmp_path):
    root = _train_split(tmp_path / "got")
    gt = root / TRAIN[0] / "groundtruth.txt"
    _edit_line(gt, 1, "nan,nan,nan,nan")
    _edit_line(gt, 2, "3,2,-5,8")
    _edit_line(gt, 3, "3,2,0,0")
    info = Got10k(str(tmp_path / "got")).get_sequence_info(0)
    assert info["valid"].tolist() == [True, False, False, False, True, True]
    assert info["visible"].tolist() == [True, False, False, False, True, True]
    sampler = FrameLevelSampler([Got10k(str(tmp_path / "got"))], samples_per_epoch=20, max_gap=5, seed=0)
    for i in range(20):
        item = sampler[i]
        if item["sequence"] == TRAIN[0]:
            assert not set(item["template_frame_ids"] + item["search_frame_ids"]) & {1, 2, 3}


@pytest.mark.parametrize("line, problem", [("3,2,abc,8", "non-numeric"), ("3,2,4,8,9", "not a multiple of 4")])
def test_malformed_training_annotation_names_the_file(tmp_path, line, problem):
    root = _train_split(tmp_path / "got")
    gt = root / TRAIN[0] / "groundtruth.txt"
    _edit_line(gt, 3, line)
    with pytest.raises(DatasetFileError, match=problem) as info:
        Got10k(str(tmp_path / "got")).get_sequence_info(0)
    assert str(gt) in str(info.value)


def test_label_file_length_mismatch_names_the_file(tmp_path):
    root = _train_split(tmp_path / "got")
    gt = root / TRAIN[0] / "groundtruth.txt"
    gt.write_text("\n".join(gt.read_text().splitlines()[:4]) + "\n")  # fewer boxes than frames
    with pytest.raises(DatasetFileError, match="has 6 entries but the ground truth has 4 frames") as info:
        Got10k(str(tmp_path / "got")).get_sequence_info(0)
    assert str(root / TRAIN[0] / "absence.label") in str(info.value)


def test_missing_frames_empty_and_invisible_sequences_are_skipped_by_the_samplers(tmp_path):
    root = _train_split(tmp_path / "got")
    (root / TRAIN[0] / "00000005.jpg").unlink()          # a missing frame
    empty = root / TRAIN[1]
    for path in empty.glob("*.jpg"):
        path.unlink()
    for name in ("groundtruth.txt", "absence.label", "cover.label", "cut_by_image.label"):
        (empty / name).write_text("")                       # an empty sequence
    flt = FrameLevelSampler([Got10k(str(tmp_path / "got"))], samples_per_epoch=12, max_gap=5, seed=1)
    items = [flt[i] for i in range(12)]
    assert {item["sequence"] for item in items} == {TRAIN[0]}
    assert flt.bad_frames and all(path == str(root / TRAIN[0] / "00000005.jpg") for path, _ in flt.bad_frames)
    slt = SequenceSampler([Got10k(str(tmp_path / "got"))], num_episodes=6, num_frames=3, max_gap=5, seed=1)
    episodes = [slt[i] for i in range(6)]
    assert {ep.sequence_name for ep in episodes} == {TRAIN[0]}
    assert slt.bad_frames == sum(ep.bad_frames for ep in episodes) > 0

    # A sequence where the target is never visible is never drawn; if no sequence is usable the
    # sampler stops with the reason instead of looping.
    (root / TRAIN[0] / "absence.label").write_text("1\n" * 6)
    with pytest.raises(SamplingError, match="too few visible frames"):
        FrameLevelSampler([Got10k(str(tmp_path / "got"))], samples_per_epoch=1, max_gap=5, seed=0)[0]
    with pytest.raises(RuntimeError, match="0 visible frames"):
        SequenceSampler([Got10k(str(tmp_path / "got"))], num_episodes=1, num_frames=3, max_gap=5, seed=0)[0]


# -- training runs --------------------------------------------------------------------------------

def _corrupt_sequence(root: Path) -> List[Path]:
    """Truncate every frame of the first sequence; the second stays intact."""
    frames = sorted((root / TRAIN[0]).glob("*.jpg"))
    for path in frames:
        make_corrupt_jpeg(path, "truncated")
    return frames


def _settings(**fields) -> Settings:
    settings = Settings(module_name="siamrpnpp", project_path=f"siamrpnpp/{fields.pop('name')}", device="cpu",
                        resume=False, seed=0)
    for key, value in fields.items():
        setattr(settings, key, value)
    return settings


def _epoch_line(out: str) -> str:
    lines = [line for line in out.splitlines() if " epoch 1 done:" in line]
    assert len(lines) == 1, out
    return lines[0]


@pytest.mark.parametrize("num_workers", [0, 1])
def test_flt_run_skips_counts_and_reports_bad_frames(tmp_path, capsys, num_workers):
    from ltr.train_settings.siamrpnpp import tiny
    from ltr.train_settings.siamrpnpp.common import build_flt_trainer
    root = _train_split(tmp_path / "got")
    _corrupt_sequence(root)
    settings = _settings(name="tiny_bad", batch_size=4, iterations_per_epoch=2, epochs=1, num_workers=num_workers)
    tiny.configure(settings)
    trainer = build_flt_trainer(settings, [Got10k(str(tmp_path / "got"))])
    trainer.train(1)
    line = _epoch_line(capsys.readouterr().out)
    skipped = int(trainer.counters["bad_frames"])
    # Counted where the sampler ran (this process or a loader worker) and carried with the batches.
    assert skipped == (len(trainer.dataset.bad_frames) if num_workers == 0 else skipped) > 0
    assert f"bad_frames_skipped={skipped}" in line
    record = json.loads((trainer.checkpoint_dir / "stats.jsonl").read_text().splitlines()[-1])
    assert record["bad_frames_skipped"] == skipped and record["epoch"] == 1


def test_slt_run_skips_counts_and_reports_bad_frames_from_worker_processes(tmp_path, capsys):
    from ltr.train_settings.siamrpnpp import slt_tiny
    from ltr.train_settings.siamrpnpp.common import build_slt_trainer
    root = _train_split(tmp_path / "got", num_frames=5)
    _corrupt_sequence(root)
    torch.manual_seed(0)
    start = save_checkpoint(tmp_path / "start.pth", build_network("siamrpnpp", "tiny").state_dict(),
                            tracker="siamrpnpp", size="tiny")
    settings = _settings(name="slt_bad", checkpoint=str(start), episodes_per_batch=2, iterations_per_epoch=2,
                         epochs=1, num_frames=3, max_gap=5, num_workers=1)
    slt_tiny.configure(settings)
    trainer = build_slt_trainer(settings, [Got10k(str(tmp_path / "got"))])
    trainer.train(1)
    line = _epoch_line(capsys.readouterr().out)
    # SequenceSampler counts in an int inside the worker process; the loader carries the count here.
    assert trainer.dataset.bad_frames == 0
    skipped = int(trainer.counters["bad_frames"])
    assert skipped > 0 and f"bad_frames_skipped={skipped}" in line


# -- evaluation datasets and runs ---------------------------------------------------------------------

@pytest.mark.parametrize("edit, error, fragment", [
    (("groundtruth.txt", 2, "1,2,x,4"), TableFormatError, "line 3: cannot parse 'x'"),
    (("groundtruth.txt", 2, "1,2,4"), TableFormatError, "line 3: expected 4 numbers"),
    (("cover.label", None, "8\n8\n"), DatasetPathError, "has 2 values for 6 frames"),
    (("groundtruth.txt", None, ""), DatasetPathError, "is empty"),
])
def test_malformed_evaluation_annotation_names_file_and_line(tmp_path, edit, error, fragment):
    root = _val_split(tmp_path / "got")
    name, index, text = edit
    path = root / "val" / VAL[0] / name
    if index is None:
        path.write_text(text)
    else:
        _edit_line(path, index, text)
    with pytest.raises(error, match=fragment) as info:
        list(get_dataset("got10k_val", str(root)))
    assert str(path) in str(info.value)


def _run_double(root: Path, results: Path) -> Tuple[object, str]:
    tracker = Tracker("double", "default", results_root=str(results))
    out = io.StringIO()
    with redirect_stdout(out):
        summary = run_dataset(get_dataset("got10k_val", str(root)), [tracker])
    return summary, out.getvalue()


@pytest.mark.parametrize("first_box, problem", [
    ("nan,nan,nan,nan", "is not four finite numbers"),
    ("3,2,0,0", "non-positive width or height"),
    ("3,2,-4,8", "non-positive width or height"),
    ("500,400,10,8", "lies entirely outside the 32x24 image"),
])
def test_unusable_init_box_fails_only_its_sequence_with_a_clear_message(tmp_path, first_box, problem):
    root = _val_split(tmp_path / "got")
    _edit_line(root / "val" / VAL[0] / "groundtruth.txt", 0, first_box)
    summary, out = _run_double(root, tmp_path / "results")
    assert [r.sequence for r in summary.failed] == [VAL[0]] and [r.sequence for r in summary.done] == [VAL[1]]
    message = summary.failed[0].error
    assert problem in message and str(root / "val" / VAL[0] / "00000001.jpg") in message
    assert "Traceback" not in out and "1 failed" in out


def test_missing_frame_fails_only_its_sequence(tmp_path):
    root = _val_split(tmp_path / "got")
    missing = root / "val" / VAL[0] / "00000004.jpg"
    missing.unlink()
    summary, _ = _run_double(root, tmp_path / "results")
    assert [r.sequence for r in summary.done] == [VAL[1]]
    assert str(missing) in summary.failed[0].error and "does not exist" in summary.failed[0].error


def test_nan_ground_truth_after_the_first_frame_runs_but_stops_the_analysis(tmp_path):
    root = _val_split(tmp_path / "got")
    _edit_line(root / "val" / VAL[1] / "groundtruth.txt", 3, "nan,nan,nan,nan")
    summary, _ = _run_double(root, tmp_path / "results")
    assert summary.ok  # the tracker only needs the first box
    code, _, err = _analysis(root, tmp_path / "results" / "double" / "default")
    assert code == 1 and f"sequence {VAL[1]}: NaN in the ground truth" in err


# -- result files ---------------------------------------------------------------------------------

@pytest.fixture
def results_setup(tmp_path):
    root = _val_split(tmp_path / "got")
    summary, _ = _run_double(root, tmp_path / "results")
    assert summary.ok
    return root, tmp_path / "results" / "double" / "default"


def _analysis(root: Path, results: Path) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = analysis_main(["--dataset", "got10k_val", "--dataset-root", str(root), "--results-dir", str(results)])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("content, fragment", [
    ("edit:1,2,abc,4", "line 4: cannot parse 'abc' as a number"),
    ("edit:nan,1,2,3", "line 4: NaN or infinite value"),
    ("edit:1,2,3", "line 4: expected 4 numbers, found 3"),
    ("lines:3", "has 3 lines but the sequence has 6 frames"),
    ("", "has 0 lines but the sequence has 6 frames"),
    ("binary", "not a text file"),
    ("missing", "no result file for 1 sequence(s): GOT-10k_Val_000001.txt"),
])
def test_garbage_result_files_stop_run_analysis_naming_file_and_line(results_setup, content, fragment):
    root, results = results_setup
    path = results / f"{VAL[0]}.txt"
    if content.startswith("edit:"):
        _edit_line(path, 3, content[5:])
    elif content.startswith("lines:"):
        path.write_text("\n".join(path.read_text().splitlines()[:int(content[6:])]) + "\n")
    elif content == "binary":
        path.write_bytes(b"\xff\xd8\xff\x00\x10binary")
    elif content == "missing":
        path.unlink()
    else:
        path.write_text(content)
    code, _, err = _analysis(root, results)
    assert code == 1 and fragment in err
    assert (str(path) if content != "missing" else str(results)) in err


def test_negative_result_sizes_are_a_warning_naming_the_line(results_setup):
    root, results = results_setup
    _edit_line(results / f"{VAL[0]}.txt", 3, "1,2,-3,4")
    code, out, err = _analysis(root, results)
    assert code == 0 and f"{results / VAL[0]}.txt: negative width/height on line(s) 4" in err
