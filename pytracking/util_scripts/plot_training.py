"""Plot training loss and validation AO per epoch for one or more training runs (the SLT paper's Fig. 1c).

    python pytracking/util_scripts/plot_training.py RUN_DIR [RUN_DIR ...] --out FIG.png
        [--label NAME ...] [--loss-key Loss/total] [--metric AO] [--chain] [--json SUMMARY.json]

RUN_DIR is a training checkpoint folder (``<checkpoints_dir>/<module>/<setting>``) holding the
``stats.jsonl`` log the trainer writes, or that file itself. Epoch records (``"kind": "epoch"``)
give the loss curve; validation records (``"kind": "validation"``, written when the setting has
``validate_every``; see ltr/trainers/validation.py) give the AO curve. A resumed run may log an
epoch twice; the last record of each epoch wins.

``--chain`` places each run after the previous one on the epoch axis (an SLT run continuing an FLT
run), so one figure shows the loss and AO of the whole schedule.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

if __package__ in (None, ""):
    # Started as a file: make the checkout importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


class TrainingLogError(ValueError):
    """A stats.jsonl file is missing or unreadable; the message names it."""


def stats_file(run: str) -> Path:
    """``RUN/stats.jsonl`` for a folder, or the file itself."""
    path = Path(run).expanduser()
    if path.is_dir():
        path = path / "stats.jsonl"
    if not path.is_file():
        raise TrainingLogError(f"{path}: no training log (expected a checkpoint folder with stats.jsonl, written by "
                               f"ltr/run_training.py)")
    return path


def read_log(path: Path) -> Dict[str, Dict[int, Dict[str, Any]]]:
    """``{'epoch': {epoch: record}, 'validation': {epoch: record}}``; the last record per epoch wins.

    Lines that are not JSON objects (e.g. a line cut off by a crash) are skipped with a warning.
    """
    out: Dict[str, Dict[int, Dict[str, Any]]] = {"epoch": {}, "validation": {}}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            print(f"warning: {path}:{number}: not a JSON record, skipped", file=sys.stderr)
            continue
        if isinstance(record, dict) and record.get("kind") in out and isinstance(record.get("epoch"), int):
            out[record["kind"]][record["epoch"]] = record
    return out


def default_loss_key(records: Dict[int, Dict[str, Any]]) -> Optional[str]:
    """``Loss/total`` if logged, else the first ``Loss/*`` key, else ``loss``; None if there is none."""
    keys = {k for r in records.values() for k in r}
    if "Loss/total" in keys:
        return "Loss/total"
    losses = sorted(k for k in keys if k.startswith("Loss"))
    if losses:
        return losses[0]
    return "loss" if "loss" in keys else None


def _series(records: Dict[int, Dict[str, Any]], key: Optional[str]) -> List[tuple]:
    points = []
    for epoch in sorted(records):
        value = records[epoch].get(key) if key else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            points.append((epoch, float(value)))
    return points


def _label(run: str) -> str:
    path = Path(run).expanduser().resolve()
    if path.name == "stats.jsonl":
        path = path.parent
    return "/".join(path.parts[-2:])


def summarise(runs: Sequence[str], labels: Sequence[str], loss_key: Optional[str], metric: str,
              chain: bool = False) -> List[Dict[str, Any]]:
    """Per run: label, loss key, loss and metric points (epoch, value), best metric and its epoch.

    Epochs are the run's own; ``offset`` is where the run starts on the plot's epoch axis (0, or
    the epochs of the runs before it with ``chain``).
    """
    summaries, offset = [], 0
    for run, label in zip(runs, labels):
        log = read_log(stats_file(run))
        key = loss_key or default_loss_key(log["epoch"])
        loss = _series(log["epoch"], key)
        val = _series(log["validation"], metric)
        best = max(val, key=lambda p: p[1]) if val else None
        datasets = sorted({str(r.get("dataset", "")) for r in log["validation"].values()} - {""})
        summaries.append({"run": str(run), "label": label, "offset": offset, "loss_key": key, "loss": loss,
                          "metric": metric,
                          "validation": val, "validation_datasets": datasets,
                          "best_epoch": best[0] if best else None, f"best_{metric}": best[1] if best else None,
                          "epochs": max(list(log["epoch"]) + list(log["validation"]) + [0])})
        if chain:
            offset += summaries[-1]["epochs"]
    return summaries


def plot(summaries: Sequence[Dict[str, Any]], out: str, title: str = "") -> str:
    """Two panels: training loss per epoch (left), validation metric per epoch (right); saves ``out``."""
    import matplotlib
    matplotlib.use("Agg", force=True)  # file output only; never needs a display
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10.0, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    metric = summaries[0]["metric"] if summaries else "AO"
    keys = sorted({s["loss_key"] for s in summaries if s["loss_key"]})
    for k, s in enumerate(summaries):
        colour = colours[k % len(colours)]
        if s["loss"]:
            x, y = zip(*s["loss"])
            ax_loss.plot(np.add(x, s["offset"]), y, "-o", color=colour, markersize=3, label=s["label"])
        if s["validation"]:
            x, y = zip(*s["validation"])
            ax_val.plot(np.add(x, s["offset"]), y, "-o", color=colour, markersize=3,
                        label=f"{s['label']} (best {s[f'best_{metric}']:.1f} at its epoch {s['best_epoch']})")
    chained = any(s["offset"] for s in summaries)
    xlabel = "epoch (runs one after the other)" if chained else "epoch"
    ax_loss.set(xlabel=xlabel, ylabel=" / ".join(keys) or "loss", title="training loss")
    datasets = sorted({d for s in summaries for d in s["validation_datasets"]})
    ax_val.set(xlabel=xlabel, ylabel=f"{metric} [%]",
               title=f"validation {metric}" + (f" ({', '.join(datasets)})" if datasets else ""))
    if not any(s["validation"] for s in summaries):
        ax_val.text(0.5, 0.5, "no validation records\n(set validate_every in the training setting)",
                    ha="center", va="center", transform=ax_val.transAxes, fontsize=9)
    for ax in (ax_loss, ax_val):
        ax.grid(True, linestyle=":")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    Path(out).expanduser().parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return str(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="checkpoint folder with stats.jsonl (or the file)")
    parser.add_argument("--out", required=True, metavar="FIG.png", help="figure to write")
    parser.add_argument("--label", action="append", default=[], help="legend label per run, in order")
    parser.add_argument("--loss-key", default=None, help="loss statistic (default Loss/total, else the first Loss/*)")
    parser.add_argument("--metric", default="AO", help="validation score to plot: AO, SR50, SR75, AUC, Precision")
    parser.add_argument("--chain", action="store_true", help="put each run after the previous one on the epoch axis")
    parser.add_argument("--title", default="")
    parser.add_argument("--json", default=None, help="also write the plotted numbers here")
    args = parser.parse_args(argv)
    if len(args.label) > len(args.runs):
        parser.error(f"{len(args.label)} --label values for {len(args.runs)} runs")
    labels = list(args.label) + [_label(r) for r in args.runs[len(args.label):]]
    try:
        summaries = summarise(args.runs, labels, args.loss_key, args.metric, chain=args.chain)
    except TrainingLogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for s in summaries:
        best = (f"best {args.metric} {s[f'best_{args.metric}']:.2f} at epoch {s['best_epoch']}"
                if s["validation"] else "no validation records")
        last = f"{s['loss_key']} {s['loss'][-1][1]:.4f} at epoch {s['loss'][-1][0]}" if s["loss"] else "no loss records"
        print(f"{s['label']}: {len(s['loss'])} epochs logged, last {last}; {best}")
    print(f"wrote {plot(summaries, args.out, args.title)}")
    if args.json:
        Path(args.json).write_text(json.dumps(summaries, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
