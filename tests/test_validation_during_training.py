"""Validation by tracking during training: AO logged per epoch, best.pth kept by AO, resume-safe."""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import tests.doubles  # noqa: F401  (registers the 'double' tracker)
from ltr.admin.settings import Settings
from ltr.trainers.base_trainer import BaseTrainer
from ltr.trainers.validation import Validator, VisdomTrainingPlots, attach_from_settings
from tests.doubles.sequences import make_sequence_list


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local_settings.py"))
    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path / "workspace"))


class _Counter(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([float(index)])


class OffsetTrainer(BaseTrainer):
    """A trainer whose 'checkpoint' is the double tracker's x offset: epoch e writes offsets[e-1].

    The double tracker adds that offset to every predicted x, so the AO of each epoch is known in
    advance (offset 0: good; large offset: bad) and the best-by-AO logic can be checked exactly.
    """

    def __init__(self, offsets, tmp_path: Path):
        net = torch.nn.Linear(1, 1)
        settings = SimpleNamespace(project_path="double/test", rank=0, world_size=1)
        super().__init__(net, torch.optim.SGD(net.parameters(), lr=0.0), _Counter(), batch_size=2,
                         settings=settings, tracker_name="double", model_size="default",
                         checkpoint_dir=tmp_path / "ckpt", quiet=True, print_interval=0)
        self.offsets = list(offsets)

    def train_step(self, batch):
        return {"Loss/total": float(10 - self.epoch)}

    def save_checkpoint(self):
        path = self.checkpoint_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.offsets[self.epoch - 1] if self.epoch >= 1 else 0.0
        path.write_text(f"{offset}\n")
        return path


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    return make_sequence_list(tmp_path_factory.mktemp("val"), count=2, num_frames=10)


def _records(folder: Path, kind: str):
    lines = (folder / "stats.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_best_checkpoint_follows_validation_ao(sequences, tmp_path):
    trainer = OffsetTrainer([6.0, 0.0, 9.0], tmp_path)
    validator = Validator(sequences, "double", "default", every=1, dataset_name="gen")
    trainer.epoch_end_hooks.append(validator)
    trainer.train(3)

    records = _records(trainer.checkpoint_dir, "validation")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    ao = [r["AO"] for r in records]
    assert ao[1] > ao[0] > ao[2], ao  # offset 0 tracks best, 9 px worst
    assert [r["best_epoch"] for r in records] == [1, 2, 2]
    # best.pth is a copy of the best epoch's checkpoint; best.json says which.
    assert (trainer.checkpoint_dir / "best.pth").read_text() == "0.0\n"
    best = json.loads((trainer.checkpoint_dir / "best.json").read_text())
    assert best["epoch"] == 2 and best["AO"] == pytest.approx(ao[1])
    # The epoch entries of the history carry the scores (they go into later checkpoints).
    assert [h["val/AO"] for h in trainer.history] == pytest.approx(ao)
    # Result files went to a temporary folder that is gone.
    assert not [p for p in (trainer.checkpoint_dir / "validation").iterdir()]


def test_validate_every_n_epochs_and_resume_keeps_the_earlier_best(sequences, tmp_path):
    trainer = OffsetTrainer([0.0, 3.0, 8.0, 5.0], tmp_path)
    trainer.epoch_end_hooks.append(Validator(sequences, "double", "default", every=2))
    trainer.train(2)
    assert [r["epoch"] for r in _records(trainer.checkpoint_dir, "validation")] == [2]

    # A new process (fresh validator) continues the run: epoch 4 (offset 5) is worse than epoch 2.
    resumed = OffsetTrainer([0.0, 3.0, 8.0, 5.0], tmp_path)
    resumed.epoch = 2
    resumed.epoch_end_hooks.append(Validator(sequences, "double", "default", every=2))
    resumed.train(4)
    records = _records(trainer.checkpoint_dir, "validation")
    assert [r["epoch"] for r in records] == [2, 4]
    assert records[1]["AO"] < records[0]["AO"]
    assert records[1]["best_epoch"] == 2
    assert (trainer.checkpoint_dir / "best.pth").read_text() == "3.0\n"


def test_keep_results_writes_one_folder_per_validated_epoch(sequences, tmp_path):
    trainer = OffsetTrainer([0.0], tmp_path)
    trainer.epoch_end_hooks.append(Validator(sequences, "double", "default", keep_results=True))
    trainer.train(1)
    folder = trainer.checkpoint_dir / "validation" / "ep0001"
    assert sorted(p.name for p in folder.glob("gen_*.txt") if not p.name.endswith("_time.txt")) == [
        "gen_000.txt", "gen_001.txt"]


def test_visdom_hook_plots_epoch_stats_and_validation_scores():
    calls = []
    client = SimpleNamespace(register_line=lambda name, x, y, **kw: calls.append((name, x, y, kw.get("series"))))
    hook = VisdomTrainingPlots(client, prefix="run")
    hook({"kind": "iteration", "epoch": 1, "Loss/total": 3.0})
    hook({"kind": "epoch", "epoch": 1, "Loss/total": 2.5, "bad_frames_skipped": 0, "note": "x",
          "nan_stat": float("nan")})
    hook({"kind": "validation", "epoch": 1, "dataset": "gen", "AO": 60.0, "SR50": 70.0, "SR75": 20.0,
          "AUC": 55.0, "Precision": 80.0})
    assert ("run Loss/total", 1, 2.5, None) in calls
    assert ("run bad_frames_skipped", 1, 0, None) in calls
    assert not any(name.startswith("run nan_stat") for name, *_ in calls)
    assert [(c[3], c[2]) for c in calls if c[0] == "run validation (gen)"] == [
        ("AO", 60.0), ("SR50", 70.0), ("SR75", 20.0), ("AUC", 55.0)]
    assert len(calls) == 6  # the iteration record draws nothing


@pytest.mark.parametrize("threads", [0, 1])
def test_real_tracker_validation_from_settings_on_the_synthetic_split(tmp_path, threads):
    """Tiny SiamRPN++ frame-level training with validation after each epoch on a synthetic split,
    in the training process and in a tracking worker process (the tracker must pickle)."""
    from ltr.train_settings.siamrpnpp import tiny

    settings = Settings()
    settings.env.checkpoints_dir = str(tmp_path / "checkpoints")
    settings.project_path = "siamrpnpp/tiny"
    settings.device, settings.seed, settings.checkpoint, settings.resume = "cpu", 0, None, False
    settings.batch_size, settings.iterations_per_epoch, settings.epochs = 2, 2, 2
    settings.validate_every = 1
    settings.validation_dataset = "synthetic"
    settings.validation_root = str(tmp_path / "synthetic")
    settings.validation_videos, settings.validation_frames = 2, 8
    settings.validation_threads = threads
    trainer = tiny.build_trainer(settings, quiet=True)
    assert trainer.validator is not None and trainer.validator.dataset_name == "synthetic_val"
    assert trainer.validator.parameter_name == "tiny"
    assert (tmp_path / "synthetic" / "val" / "list.txt").is_file()  # written on first use
    trainer.train(settings.epochs)

    records = _records(trainer.checkpoint_dir, "validation")
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert record["sequences"] == 2 and record["failed"] == 0
        assert 0.0 <= record["AO"] <= 100.0 and not math.isnan(record["AUC"])
    best = json.loads((trainer.checkpoint_dir / "best.json").read_text())
    assert best["AO"] == pytest.approx(max(r["AO"] for r in records))
    # best.pth is a loadable project checkpoint of the best epoch.
    from ltr.admin.checkpoint import load_checkpoint
    assert load_checkpoint(trainer.checkpoint_dir / "best.pth")["epoch"] == best["epoch"]
    # Losses and validation sit side by side in stats.jsonl.
    assert [r["epoch"] for r in _records(trainer.checkpoint_dir, "epoch")] == [1, 2]


def test_no_validation_unless_asked(tmp_path):
    trainer = OffsetTrainer([0.0], tmp_path)
    assert attach_from_settings(trainer, SimpleNamespace()) is None
    assert trainer.epoch_end_hooks == [] and trainer.validator is None
