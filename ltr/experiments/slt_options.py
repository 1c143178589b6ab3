"""The self-critical term's options side by side: +SS+SO with each option vs the plain recipe.

    python ltr/run_experiment.py slt_options --tracker siamrpnpp --seeds 0 1 2 --out DIR
        [--options plain local_maxima s3_mean k16_lr_half] [--start-from EXP_DIR] [--signal DIR]
        [--json FILE] [--reuse] [--summarise-only] [any slt_vs_flt option, e.g. --threads 1 --test-videos 120]

Every option (:data:`OPTIONS`) is one ``slt_vs_flt`` run per seed into ``<out>/<option>/seed<S>/``
(single-seed layout) from the same FLT start and test split: ``plain`` trains the +SS and +SS+SO
arms of the official recipe, every other option the +SS+SO arm with its ``--set`` overrides. The
FLT start (checkpoint, recipe, its tracked results) and the test split come from ``--start-from``
(a ``slt_vs_flt`` output folder with ``seed<S>/`` sub-folders, e.g. an earlier ablation) or from
the first option's run, and are copied, never written back.

The table lists per option the +SS+SO AO (mean over seeds), the paired difference to the plain
+SS+SO and to +SS (the SCST term with the option) with its standard error, and the iterations the
arm made in its wall-time budget. ``--signal DIR`` adds the gradient signal-to-noise rho of each
option from ``DIR/<tracker>_<option>.json`` (``ltr/run_experiment.py signal`` reports; the
``--set`` overrides of each option are in :data:`OPTIONS`).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ltr.experiments import slt_vs_flt
from ltr.experiments.sweep import FLT_START_FILES, restamp_results

SCRIPT = "ltr/run_experiment.py slt_options"

#: Option name -> (label, slt_vs_flt arguments). ``plain`` is the reference (official recipe).
OPTIONS: Dict[str, Tuple[str, List[str]]] = {
    "plain": ("plain recipe (k 8, S 1, argmax baseline, all candidates)", ["--arms", "ss", "ss_so"]),
    "local_maxima": ("candidate set: top-5 local maxima",
                     ["--arms", "ss_so", "--set", "candidate_set=local_maxima", "--set", "candidate_top_k=5"]),
    "s3_mean": ("3 samples per episode, mean baseline",
                ["--arms", "ss_so", "--set", "samples_per_episode=3", "--set", "scst_baseline=mean"]),
    "k16_lr_half": ("16 episodes per update, half the lr",
                    ["--arms", "ss_so", "--set", "episodes_per_batch=16", "--slt-lr", "5e-5"]),
}

#: The ``signal`` overrides of each option (the lr does not enter the gradient signal).
SIGNAL_SETS: Dict[str, List[str]] = {
    "plain": [],
    "local_maxima": ["candidate_set=local_maxima", "candidate_top_k=5"],
    "s3_mean": ["samples_per_episode=3", "scst_baseline=mean"],
    "k16_lr_half": ["episodes_per_batch=16"],
}


def copy_start(source: Path, target: Path) -> bool:
    """Copy an FLT start (checkpoint, recipe, stats, tracked results) and the test split from the
    single-seed folder ``source`` to ``target``; False when ``source`` has none. The test split is
    copied from ``source/data`` or, for a multi-seed run, from ``source/../data``."""
    ckpt = source / "checkpoints"
    if not all((ckpt / name).is_file() for name in FLT_START_FILES):
        return False
    (target / "checkpoints").mkdir(parents=True, exist_ok=True)
    for name in FLT_START_FILES:
        shutil.copy2(ckpt / name, target / "checkpoints" / name)  # copy2 keeps the mtime results are stamped with
    results = source / "results" / "flt_start"
    if results.is_dir() and not (target / "results" / "flt_start").exists():
        shutil.copytree(results, target / "results" / "flt_start")
        restamp_results(target / "checkpoints" / "flt_start.pth", target / "results" / "flt_start")
    data = next((d for d in (source / "data", source.parent / "data") if d.is_dir()), None)
    if data is not None and not (target / "data").exists():
        shutil.copytree(data, target / "data")
    return True


def seed_scores(run_dir: Path) -> Dict[str, Any]:
    """AO and iterations per arm of one single-seed slt_vs_flt results.json."""
    record = json.loads((run_dir / "results.json").read_text())["records"][0]
    return {"AO": {arm: s["AO"] for arm, s in record["scores"].items()},
            "iterations": {arm: a["iterations"] for arm, a in record["arms"].items()}}


def summarise(out: Path, options: Sequence[str], seeds: Sequence[int]) -> List[Dict[str, Any]]:
    """One row per option: mean AO of its +SS+SO arm and the paired differences to plain +SS+SO and +SS."""
    plain = {s: seed_scores(out / "plain" / f"seed{s}") for s in seeds
             if (out / "plain" / f"seed{s}" / "results.json").is_file()}
    rows = []
    for option in options:
        runs = {s: seed_scores(out / option / f"seed{s}") for s in seeds
                if (out / option / f"seed{s}" / "results.json").is_file()}
        paired = [s for s in runs if s in plain]
        row: Dict[str, Any] = {"option": option, "label": OPTIONS[option][0], "seeds": sorted(runs),
                               "AO": float(np.mean([r["AO"]["ss_so"] for r in runs.values()])) if runs else None,
                               "AO_per_seed": {s: r["AO"]["ss_so"] for s, r in runs.items()},
                               "iterations": float(np.mean([r["iterations"]["ss_so"] for r in runs.values()]))
                               if runs else None}
        if paired:
            row["minus_plain_ss_so"] = slt_vs_flt.paired_difference(
                [runs[s]["AO"]["ss_so"] - plain[s]["AO"]["ss_so"] for s in paired])
            row["minus_ss"] = slt_vs_flt.paired_difference(
                [runs[s]["AO"]["ss_so"] - plain[s]["AO"]["ss"] for s in paired])
        rows.append(row)
    return rows


def signal_rows(directory: Optional[Path], tracker: str, options: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """rho and explore statistics per option from ``<directory>/<tracker>_<option>.json``."""
    rows: Dict[str, Dict[str, float]] = {}
    for option in options:
        path = directory / f"{tracker}_{option}.json" if directory else None
        if path is None or not path.is_file():
            continue
        report = json.loads(path.read_text())
        rows[option] = {"rho_scst": report["terms"]["scst"]["snr"], "rho_frame": report["terms"]["frame"]["snr"],
                        "scst_grad_norm": report["terms"]["scst"]["mean_norm"],
                        "episodes": report["config"]["episodes"],
                        "samples_per_episode": report["config"]["samples_per_episode"],
                        "seconds": report["seconds"], **report["explore"]}
    return rows


def _diff(d: Optional[Dict[str, Any]]) -> str:
    if not d:
        return "n/a"
    se = "n/a" if d["se"] is None else f"{d['se']:.2f}"
    return f"{d['mean']:+.2f} +- {se} ({'resolved' if d['resolved'] else 'not resolved'})"


def format_table(rows: Sequence[Dict[str, Any]], signal: Dict[str, Dict[str, float]]) -> str:
    head = (f"{'option':14s} {'seeds':>7s} {'+SS+SO AO':>9s} {'iters':>6s}  {'- plain +SS+SO':>28s}  "
            f"{'- +SS (SCST term)':>28s}  {'rho scst':>9s} {'differs':>7s}")
    lines = [head, "-" * len(head)]
    for row in rows:
        sig = signal.get(row["option"], {})
        rho = f"{sig['rho_scst']:9.4f}" if sig else f"{'n/a':>9s}"
        differs = f"{sig['actions/sample_differs']:7.3f}" if sig else f"{'n/a':>7s}"
        ao = f"{row['AO']:9.2f}" if row["AO"] is not None else f"{'n/a':>9s}"
        iters = f"{row['iterations']:6.0f}" if row["iterations"] is not None else f"{'n/a':>6s}"
        minus_plain = "(reference)" if row["option"] == "plain" else _diff(row.get("minus_plain_ss_so"))
        lines.append(f"{row['option']:14s} {','.join(map(str, row['seeds'])):>7s} {ao} {iters}  "
                     f"{minus_plain:>28s}  {_diff(row.get('minus_ss')):>28s}  {rho} {differs}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker", default="siamrpnpp")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=list(OPTIONS))
    parser.add_argument("--out", default="workspace/slt_options")
    parser.add_argument("--start-from", default=None, dest="start_from",
                        help="slt_vs_flt output folder whose seed<S>/ FLT starts and test split to copy")
    parser.add_argument("--signal", default=None, help="folder of signal reports <tracker>_<option>.json")
    parser.add_argument("--reuse", action="store_true", help="keep runs whose results.json exists")
    parser.add_argument("--summarise-only", action="store_true", dest="summarise_only",
                        help="run nothing: tabulate the runs already under --out (e.g. runs still going)")
    parser.add_argument("--json", default=None)
    args, passthrough = parser.parse_known_args(argv)
    if "plain" not in args.options:
        args.options = ["plain", *args.options]
    out = Path(args.out)
    for seed in ([] if args.summarise_only else args.seeds):
        for option in args.options:
            run_dir = out / option / f"seed{seed}"
            if args.reuse and (run_dir / "results.json").is_file():
                continue
            source = Path(args.start_from) / f"seed{seed}" if args.start_from else out / "plain" / f"seed{seed}"
            if source != run_dir:
                copy_start(source, run_dir)
            print(f"\n=== {args.tracker} seed {seed}: {OPTIONS[option][0]} ===", flush=True)
            code = slt_vs_flt.main(["--tracker", args.tracker, "--seeds", str(seed), "--out", str(run_dir),
                                    *OPTIONS[option][1], *passthrough])
            if code:
                return code
    rows = summarise(out, args.options, args.seeds)
    signal = signal_rows(Path(args.signal) if args.signal else None, args.tracker, args.options)
    table = format_table(rows, signal)
    print(f"\n{args.tracker}: +SS+SO with each option vs the plain recipe (AO in %; paired over seeds "
          f"{args.seeds}; 'resolved' when |mean| > 2 SE)")
    print(table)
    summary = {"tracker": args.tracker, "seeds": args.seeds, "options": {o: OPTIONS[o] for o in args.options},
               "signal_sets": {o: SIGNAL_SETS[o] for o in args.options}, "passthrough": passthrough,
               "rows": rows, "signal": signal, "table": table}
    text = json.dumps(summary, indent=2, default=float)
    out.mkdir(parents=True, exist_ok=True)
    (out / "options.json").write_text(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
