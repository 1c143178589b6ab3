"""Speed of the vectorised metrics against the got10k toolkit's functions on LaSOT-scale data.

    python benchmarks/eval_speed.py [--sequences 280] [--frames 2500] [--repeats 5] [--json FILE]

Fake results are generated in memory (random-walk ground truth, noisy predictions with
off-image boxes, zero and negative sizes, cover labels and invisible frames), so no dataset
is needed. Timed on the same arrays:

* AO (GOT-10k protocol): ``got10k_ious`` vs the toolkit's per-sequence ``rect_iou`` with the
  image bound, cover filtering, pooling and ``ExperimentGOT10k._evaluate`` (what its report does
  after loading the files).
* AUC: ``pytracking_curves`` (success, precision and normalised precision curves) vs the
  toolkit's OTB-style per-sequence ``rect_iou`` + ``center_error`` + ``ExperimentOTB._calc_curves``.
* ``pysot_curves`` for reference (no toolkit counterpart).

Timings are the median of ``--repeats`` runs after one warm-up run, on one thread.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import types
from pathlib import Path
from typing import Callable, Dict, List

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")  # the toolkit imports matplotlib

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import cpu_model, usable_cores  # noqa: E402
from pytracking.analysis.metrics import got10k_ious, pysot_curves, pytracking_curves  # noqa: E402


def make_data(sequences: int, frames: int, seed: int) -> Dict[str, List]:
    """LaSOT-scale fake ground truth and predictions (xywh), covers, visibility and image sizes."""
    rng = np.random.default_rng(seed)
    data: Dict[str, List] = {"gt": [], "pred": [], "cover": [], "visible": [], "image_wh": []}
    for _ in range(sequences):
        width, height = float(rng.integers(480, 1920)), float(rng.integers(360, 1080))
        size = np.exp(np.cumsum(rng.normal(0, 0.01, (frames, 2)), axis=0)) * rng.uniform(20, 200, 2)
        centre = np.cumsum(rng.normal(0, 3, (frames, 2)), axis=0) + [width / 2, height / 2]
        gt = np.c_[centre - size / 2, size]
        pred = gt + rng.normal(0, 0.1, (frames, 4)) * np.c_[size, size]
        lost = rng.random(frames) < 0.05
        pred[lost, :2] += rng.uniform(-500, 500, (int(lost.sum()), 2))
        pred[rng.random(frames) < 0.01, 2] = 0.0
        pred[rng.random(frames) < 0.005, 3] = -5.0
        cover = rng.integers(0, 9, frames)
        cover[0] = 8
        data["gt"].append(gt)
        data["pred"].append(pred)
        data["cover"].append(cover)
        data["visible"].append(cover > 0)
        data["image_wh"].append((width, height))
    return data


def median_time(fn: Callable[[], object], repeats: int, prepare: Callable[[], object] = None) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs (after one warm-up); ``prepare`` runs untimed."""
    times = []
    for i in range(repeats + 1):
        arg = prepare() if prepare is not None else None
        start = time.perf_counter()
        fn() if arg is None else fn(arg)
        elapsed = time.perf_counter() - start
        if i > 0:
            times.append(elapsed)
    return float(np.median(times))


def machine_info() -> Dict[str, str]:
    """CPU model, cores and library versions of this machine."""
    cpu, usable = cpu_model("unknown"), usable_cores()
    try:
        from importlib.metadata import version
        got10k_version = version("got10k")
    except Exception:
        got10k_version = "not installed"
    return {"cpu": cpu, "cores": f"{os.cpu_count()} ({usable} usable)", "python": platform.python_version(),
            "numpy": np.__version__, "got10k": got10k_version, "platform": platform.platform(),
            "threads": os.environ.get("OMP_NUM_THREADS", "")}


def run(sequences: int, frames: int, repeats: int, seed: int) -> Dict:
    """Time every contender; returns a JSON-ready dict with rows and machine info."""
    data = make_data(sequences, frames, seed)
    gt, pred, cover, wh = data["gt"], data["pred"], data["cover"], data["image_wh"]
    rows = []

    ours_ao = lambda: got10k_ious(pred, gt, wh, covers=cover).scores()["AO"]  # noqa: E731
    ao_value = ours_ao()
    rows.append({"task": "AO (GOT-10k protocol)", "ours_s": median_time(ours_ao, repeats)})

    toolkit_ao_value = None
    try:
        from got10k.experiments.got10k import ExperimentGOT10k
        from got10k.experiments.otb import ExperimentOTB
        from got10k.utils.metrics import center_error, rect_iou
    except ImportError:
        rect_iou = None

    if rect_iou is not None:
        def copies():
            # rect_iou clips its inputs in place; fresh arrays stand in for the toolkit's file reads
            return [(p[1:].copy(), g[1:].copy()) for p, g in zip(pred, gt)]

        def toolkit_ao(pairs):
            ious = [rect_iou(p, g, bound=b)[c[1:] > 0] for (p, g), b, c in zip(pairs, wh, cover)]
            return ExperimentGOT10k._evaluate(None, np.concatenate(ious), np.array([]))[0]

        toolkit_ao_value = toolkit_ao(copies())
        rows[-1]["toolkit_s"] = median_time(toolkit_ao, repeats, prepare=copies)
        rows[-1]["abs_diff_points"] = abs(ao_value - 100 * toolkit_ao_value)

    ours_auc = lambda: pytracking_curves(pred, gt, target_visible=data["visible"], lasot_style=True).scores()  # noqa: E731
    rows.append({"task": "AUC+Prec+NormPrec (pytracking protocol)", "ours_s": median_time(ours_auc, repeats)})
    if rect_iou is not None:
        otb = types.SimpleNamespace(nbins_iou=21, nbins_ce=51)

        def toolkit_auc():
            curves = [ExperimentOTB._calc_curves(otb, rect_iou(p, g), center_error(p, g)) for p, g in zip(pred, gt)]
            return float(np.mean([c[0] for c in curves]))

        rows[-1]["toolkit_s"] = median_time(toolkit_auc, repeats)
        rows[-1]["note"] = "toolkit: OTB-style per-sequence curves (different protocol, same work)"

    ours_pysot = lambda: pysot_curves(pred, gt, visible=data["visible"]).scores()  # noqa: E731
    rows.append({"task": "AUC+Prec+NormPrec (pysot protocol)", "ours_s": median_time(ours_pysot, repeats)})

    for row in rows:
        if "toolkit_s" in row:
            row["speedup"] = row["toolkit_s"] / row["ours_s"]
    return {"sequences": sequences, "frames_per_sequence": frames, "repeats": repeats, "rows": rows,
            "AO_ours": ao_value, "AO_toolkit": None if toolkit_ao_value is None else 100 * toolkit_ao_value,
            "machine": machine_info()}


def format_report(result: Dict) -> str:
    """The table printed by the script."""
    lines = [f"{result['sequences']} sequences x {result['frames_per_sequence']} frames, "
             f"median of {result['repeats']} runs",
             f"{'task':<42} | {'ours [s]':>9} | {'toolkit [s]':>11} | {'speed-up':>8} | {'|dAO| [pts]':>11}",
             "-" * 93]
    for row in result["rows"]:
        toolkit = f"{row['toolkit_s']:.4f}" if "toolkit_s" in row else "-"
        speedup = f"{row['speedup']:.2f}x" if "speedup" in row else "-"
        diff = f"{row['abs_diff_points']:.2e}" if "abs_diff_points" in row else "-"
        lines.append(f"{row['task']:<42} | {row['ours_s']:>9.4f} | {toolkit:>11} | {speedup:>8} | {diff:>11}")
    machine = result["machine"]
    lines.append("")
    lines.append(f"machine: {machine['cpu']}, {machine['cores']} cores, python {machine['python']}, "
                 f"numpy {machine['numpy']}, got10k {machine['got10k']}, OMP_NUM_THREADS={machine['threads']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=280)
    parser.add_argument("--frames", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    result = run(args.sequences, args.frames, args.repeats, args.seed)
    print(format_report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
