"""Sweep one knob of the FLT-vs-SLT experiment (the SLT paper's Tables 7 and 8) and print one table.

    python ltr/run_experiment.py sweep --param num_frames --values 8 16 24 [--seeds 0 1 2] [--out DIR] [--json FILE]
    python ltr/run_experiment.py sweep --param flt_iterations --values 500 1500 3000 --seeds 0 1 2
    python ltr/run_experiment.py sweep --param num_frames --values 8 16 --budget-s 20 --test-videos 8   # any slt_vs_flt option

The knob is an option of the experiment (:data:`EXPERIMENT_OPTIONS`) or any field of the arms'
training settings (``num_frames`` is T, ``temperature``, ``scst_weight``, ...; passed as
``--set FIELD=VALUE``). For every value, ``ltr/run_experiment.py slt_vs_flt`` runs with the same seeds and the same other options
(everything not understood here is passed on to it) into ``<out>/<param>_<value>/``; the table
then lists, per value, the test AO of the FLT start, of FLT-continue and of SLT (means over the
seeds) and the gain SLT - FLT-continue with its per-seed values.

Knobs that do not change the FLT start (all but ``flt_iterations``) share it: the first value's
FLT-start checkpoint and its tracked results are copied into the other values' folders, where
slt_vs_flt's cache finds and reuses them. So every row starts from the same frame-level model and
differs only in the knob.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ltr.experiments import slt_vs_flt

#: Knobs that are options of the experiment rather than settings fields -> the option.
EXPERIMENT_OPTIONS: Dict[str, str] = {
    "flt_iterations": "--flt-iterations",  # frame-level warm-up before SLT (Table 8)
    "slt_lr": "--slt-lr",
    "flt_lr": "--flt-lr",
    "budget_s": "--budget-s",
}

#: Knobs after which the FLT start differs (its cache must not be shared between values).
CHANGES_FLT_START = {"flt_iterations"}

#: Files of slt_vs_flt's FLT-start cache (under ``<workdir>/checkpoints``).
FLT_START_FILES = ("flt_start.pth", "flt_start.json", "flt_start_stats.json")


def knob_arguments(param: str, value: str) -> List[str]:
    """The slt_vs_flt arguments that set ``param`` to ``value``."""
    if param in EXPERIMENT_OPTIONS:
        return [EXPERIMENT_OPTIONS[param], value]
    return ["--set", f"{param}={value}"]


def recorded_value(config: Dict[str, Any], param: str) -> Optional[str]:
    """The value of ``param`` a slt_vs_flt results.json was made with (as text), or None."""
    if param in EXPERIMENT_OPTIONS:
        return str(config.get(param))
    for text in config.get("assignments", []):
        name, _, value = text.partition("=")
        if name.strip() == param:
            return value.strip()
    return None


def _number(text: str) -> Any:
    """``'16'`` -> 16, ``'0.5'`` -> 0.5, anything else unchanged (JSON keeps numbers as numbers)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def value_dir(out: Path, param: str, value: str) -> Path:
    return out / f"{param}_{value}"


def restamp_results(checkpoint: Path, results_dir: Path) -> None:
    """Mark copied result files as those of ``checkpoint``: the evaluator reuses results only when
    the stamp in their folder names this checkpoint's path and mtime
    (:func:`pytracking.evaluation.checkpoint_eval.evaluate_checkpoint`)."""
    stamp = results_dir / ".checkpoint_mtime"
    if stamp.is_file():
        stamp.write_text(f"{checkpoint.resolve()} {os.path.getmtime(checkpoint)}")


def share_flt_start(source: Path, target: Path, seeds: Sequence[int]) -> int:
    """Copy the FLT-start cache (checkpoint, recipe, stats, tracked results) from one value's run to
    another's; returns the number of seeds copied. ``copy2`` keeps the checkpoint's mtime and the
    copied results are restamped with the copy's path, so they count as up to date."""
    copied = 0
    for src, dst in zip(slt_vs_flt.seed_workdirs(source, seeds), slt_vs_flt.seed_workdirs(target, seeds)):
        if not all((src / "checkpoints" / f).is_file() for f in FLT_START_FILES):
            continue
        (dst / "checkpoints").mkdir(parents=True, exist_ok=True)
        for name in FLT_START_FILES:
            shutil.copy2(src / "checkpoints" / name, dst / "checkpoints" / name)
        results = src / "results" / "flt_start"
        if results.is_dir():
            if (dst / "results" / "flt_start").exists():
                shutil.rmtree(dst / "results" / "flt_start")
            shutil.copytree(results, dst / "results" / "flt_start")
            restamp_results(dst / "checkpoints" / "flt_start.pth", dst / "results" / "flt_start")
        copied += 1
    return copied


def summarise_value(value: str, summary: Dict[str, Any]) -> Dict[str, Any]:
    """One table row from a slt_vs_flt results.json: mean AO per arm over seeds and the paired gains."""
    records = summary["records"]

    def mean_score(arm: str, key: str = "AO") -> float:
        values = [r["scores"][arm][key] for r in records if arm in r.get("scores", {})]
        return float(np.mean(values)) if values else float("nan")

    gains = [r["scores"]["slt"]["AO"] - r["scores"]["flt_more"]["AO"] for r in records]
    return {
        "value": _number(value), "seeds": [r["seed"] for r in records],
        "AO": {arm: mean_score(arm) for arm in ("flt_start", "flt_more", "slt")},
        "AUC": {arm: mean_score(arm, "AUC") for arm in ("flt_start", "flt_more", "slt")},
        "gain": float(np.mean(gains)), "gains_per_seed": gains,
        "slt_iterations": float(np.mean([r["arms"]["slt"]["iterations"] for r in records])),
        "flt_more_iterations": float(np.mean([r["arms"]["flt_more"]["iterations"] for r in records])),
    }


def format_sweep_table(param: str, rows: Sequence[Dict[str, Any]]) -> str:
    """The paper-style table: value -> AO of FLT start, FLT-continue, SLT, and the gain.

    ``SLT iters`` (mean over seeds) matters under wall-time budgets: longer episodes mean fewer
    SLT iterations in the same time.
    """
    def fmt(v: float) -> str:
        return "   n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:6.2f}"

    head = (f"{param:>14s} | {'FLT start':>9s} | {'FLT-continue':>12s} | {'SLT':>6s} | {'gain':>6s} | "
            f"{'SLT iters':>9s} | per-seed gains")
    lines = [head, "-" * len(head)]
    for row in rows:
        per_seed = ", ".join(f"{g:+.2f}" for g in row["gains_per_seed"])
        lines.append(f"{str(row['value']):>14s} | {fmt(row['AO']['flt_start']):>9s} | {fmt(row['AO']['flt_more']):>12s}"
                     f" | {fmt(row['AO']['slt'])} | {row['gain']:+6.2f} | {row['slt_iterations']:9.0f} | {per_seed}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="ltr/run_experiment.py sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--param", required=True,
                        help=f"the knob to sweep: {', '.join(EXPERIMENT_OPTIONS)} or a settings field (e.g. num_frames)")
    parser.add_argument("--values", required=True, nargs="+", help="its values, one slt_vs_flt run each")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="paired seeds, the same for every value")
    parser.add_argument("--out", default="workspace/slt_sweep", help="one <param>_<value>/ folder per value")
    parser.add_argument("--json", default=None, help="also write the sweep summary here")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse <out>/<param>_<value>/results.json where it exists with the same seeds and "
                             "value (other options are not compared)")
    args, passthrough = parser.parse_known_args(argv)
    flag = EXPERIMENT_OPTIONS.get(args.param, f"--set {args.param}=")
    own = f"{args.param}="
    if any(a.startswith(own) for a in passthrough) or \
            any(a == flag or a.startswith(flag + "=") for a in passthrough) or \
            any(a in ("--out", "--seeds", "--seed") or a.startswith(("--out=", "--seeds=", "--seed="))
                for a in passthrough):
        parser.error(f"{flag}, --out and --seeds are set by the sweep itself")
    if len(set(args.values)) != len(args.values):
        parser.error("--values must differ from each other")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: List[Dict[str, Any]] = []
    runs: Dict[str, str] = {}
    first: Optional[Path] = None
    for value in args.values:
        run_dir = value_dir(out, args.param, value)
        results = run_dir / "results.json"
        reused = False
        if args.reuse and results.is_file():
            previous = json.loads(results.read_text())
            recorded = recorded_value(previous.get("config", {}), args.param)
            reused = previous.get("seeds") == list(args.seeds) and recorded is not None and \
                str(_number(recorded)) == str(_number(value))
        if not reused:
            if first is not None and args.param not in CHANGES_FLT_START:
                share_flt_start(first, run_dir, args.seeds)
            print(f"\n=== {args.param} = {value} ===", flush=True)
            code = slt_vs_flt.main(["--out", str(run_dir), "--seeds", *map(str, args.seeds),
                                    *knob_arguments(args.param, value), *passthrough])
            if code:
                print(f"error: slt_vs_flt failed for {args.param} = {value} (exit {code})", file=sys.stderr)
                return code
        first = first or run_dir
        rows.append(summarise_value(value, json.loads(results.read_text())))
        runs[value] = str(run_dir)

    table = format_sweep_table(args.param, rows)
    print(f"\nSweep of {args.param} over {args.values}, seeds {args.seeds} (test AO in %, means over seeds; "
          f"gain = SLT - FLT-continue, paired per seed)")
    print(table)
    summary = {"param": args.param, "values": [_number(v) for v in args.values], "seeds": args.seeds,
               "passthrough": passthrough, "rows": rows, "runs": runs, "table": table}
    text = json.dumps(summary, indent=2)
    (out / "sweep.json").write_text(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
