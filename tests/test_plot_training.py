"""plot_training.py: loss and validation AO per epoch from stats.jsonl, one or several runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


from pytracking.util_scripts.plot_training import default_loss_key, main, read_log

REPO = Path(__file__).resolve().parents[1]


def _write_log(folder: Path, losses, aos, extra_lines=()):
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for epoch, loss in enumerate(losses, start=1):
        lines.append({"kind": "iteration", "epoch": epoch, "iteration": 5, "Loss/total": loss + 1})
        lines.append({"kind": "epoch", "epoch": epoch, "Loss/total": loss, "Loss/cls": loss / 2})
        if aos.get(epoch) is not None:
            lines.append({"kind": "validation", "epoch": epoch, "dataset": "synthetic_val", "AO": aos[epoch],
                          "SR50": aos[epoch] + 5})
    text = "".join(json.dumps(r) + "\n" for r in lines) + "".join(extra_lines)
    (folder / "stats.jsonl").write_text(text)
    return folder


def test_two_runs_in_one_figure_with_the_plotted_numbers(tmp_path, capsys):
    flt = _write_log(tmp_path / "siamrpnpp" / "tiny", [1.0, 0.8, 0.7], {1: 40.0, 2: 47.0, 3: 45.0})
    # A resumed run logs epoch 2 again (the last record wins) and a torn last line is skipped.
    slt = _write_log(tmp_path / "siamrpnpp" / "slt_tiny", [0.5, 0.6], {2: 50.0},
                     extra_lines=[json.dumps({"kind": "epoch", "epoch": 2, "Loss/total": 0.4}) + "\n", '{"kind": "ep'])
    out, summary = tmp_path / "fig.png", tmp_path / "summary.json"
    assert main([str(flt), str(slt / "stats.jsonl"), "--out", str(out), "--json", str(summary)]) == 0
    text = capsys.readouterr()
    assert out.is_file() and out.stat().st_size > 0
    assert "siamrpnpp/tiny: 3 epochs logged" in text.out and "best AO 47.00 at epoch 2" in text.out
    assert "not a JSON record" in text.err
    data = json.loads(summary.read_text())
    assert [d["label"] for d in data] == ["siamrpnpp/tiny", "siamrpnpp/slt_tiny"]
    assert data[0]["loss"] == [[1, 1.0], [2, 0.8], [3, 0.7]]
    assert data[1]["loss"] == [[1, 0.5], [2, 0.4]]
    assert data[1]["validation"] == [[2, 50.0]] and data[1]["best_epoch"] == 2


def test_chain_puts_runs_one_after_the_other_and_other_metrics(tmp_path, capsys):
    a = _write_log(tmp_path / "a", [1.0, 0.9], {2: 30.0})
    b = _write_log(tmp_path / "b", [0.8], {1: 35.0})
    summary = tmp_path / "s.json"
    assert main([str(a), str(b), "--out", str(tmp_path / "f.png"), "--chain", "--metric", "SR50",
                 "--label", "FLT", "--label", "SLT", "--loss-key", "Loss/cls", "--json", str(summary)]) == 0
    data = json.loads(summary.read_text())
    # Epochs stay the run's own; the offset places the second run after the first on the plot.
    assert data[1]["offset"] == 2 and data[0]["offset"] == 0
    assert data[1]["loss"] == [[1, 0.4]] and data[1]["validation"] == [[1, 40.0]]
    assert data[0]["loss_key"] == "Loss/cls" and data[0]["label"] == "FLT"


def test_runs_without_validation_and_missing_logs(tmp_path, capsys):
    run = _write_log(tmp_path / "r", [1.0, 0.5], {})
    assert main([str(run), "--out", str(tmp_path / "f.png")]) == 0
    assert "no validation records" in capsys.readouterr().out
    assert main([str(tmp_path / "nothing"), "--out", str(tmp_path / "g.png")]) == 1
    assert "no training log" in capsys.readouterr().err
    assert default_loss_key({1: {"loss": 1.0}}) == "loss"
    assert default_loss_key({1: {"Loss/b": 1.0, "Loss/a": 2.0}}) == "Loss/a"


def test_reads_the_log_a_validated_training_writes(tmp_path):
    """The records the trainer and the validator write are the ones the plot reads."""
    from tests.test_validation_during_training import OffsetTrainer
    from ltr.trainers.validation import Validator
    from tests.doubles.sequences import make_sequence_list
    import tests.doubles  # noqa: F401

    trainer = OffsetTrainer([4.0, 0.0], tmp_path)
    trainer.epoch_end_hooks.append(Validator(make_sequence_list(tmp_path / "seqs", count=1, num_frames=6),
                                             "double", "default"))
    trainer.train(2)
    log = read_log(trainer.checkpoint_dir / "stats.jsonl")
    assert sorted(log["epoch"]) == [1, 2] and sorted(log["validation"]) == [1, 2]
    assert default_loss_key(log["epoch"]) == "Loss/total"


def test_runs_as_a_file(tmp_path):
    run = _write_log(tmp_path / "r", [1.0], {1: 10.0})
    result = subprocess.run([sys.executable, "pytracking/util_scripts/plot_training.py", str(run), "--out",
                             str(tmp_path / "f.png")], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "f.png").is_file()
