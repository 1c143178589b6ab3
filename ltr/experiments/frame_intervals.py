"""What frame-interval augmentation (SA) is for, as the paper's Table 6 shows it: the checkpoints of
an ``slt_vs_flt`` run tracked on its test split at frame intervals 1, 2, 3 (every I-th frame, so
the target moves I times as far between the frames the tracker sees).

    python ltr/run_experiment.py intervals --run workspace/slt_vs_flt [--intervals 1 2 3]
        [--arms ss_so slt] [--threads 1] [--json FILE]

``--run`` is the ``--out`` folder of a finished ``ltr/run_experiment.py slt_vs_flt`` run (with
``--ablation`` for the +SS+SO arm); its ``results.json`` names the tracker, the seeds and the test
split. Nothing is trained. The table lists AO per arm and interval (means over seeds) and, per
interval, the paired difference SLT (+SS+SO+SA) - +SS+SO with its standard error over seeds:
SA should help more the larger the interval.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ltr.admin.report import save_report, start_report
from ltr.experiments.slt_vs_flt import paired_difference, seed_workdirs

#: How this experiment is started (for the rerun command in its records).
SCRIPT = "ltr/run_experiment.py intervals"


def paired(values: Dict[int, Dict[str, float]], arm: str, base: str) -> Optional[Dict[str, Any]]:
    """Paired difference ``arm - base`` over seeds (:func:`paired_difference`; None if an arm is missing)."""
    if not all(arm in v and base in v for v in values.values()):
        return None
    return paired_difference([v[arm] - v[base] for v in values.values()])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="the --out folder of a finished slt_vs_flt run")
    parser.add_argument("--intervals", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--arms", nargs="+", default=["ss_so", "slt"], help="checkpoints/<arm>.pth to track")
    parser.add_argument("--threads", type=int, default=1, help="tracking processes (1: this process)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    run = Path(args.run)
    if not (run / "results.json").is_file():
        parser.error(f"--run {run}: no results.json there; pass the --out folder of a finished slt_vs_flt run")
    if any(i < 1 for i in args.intervals):
        parser.error(f"--intervals must be >= 1, got {args.intervals}")
    summary = json.loads((run / "results.json").read_text())
    tracker, seeds = summary["tracker"], summary["seeds"]
    machine, command = start_report(args, SCRIPT, argv)

    from pytracking.evaluation.checkpoint_eval import evaluate_checkpoint
    from pytracking.evaluation.datasets import get_dataset
    sequences = list(get_dataset("synthetic", root=str(run / "data")))
    scores: Dict[int, Dict[int, Dict[str, float]]] = {i: {} for i in args.intervals}  # interval -> seed -> arm
    for seed, folder in zip(seeds, seed_workdirs(run, seeds)):
        for arm in args.arms:
            checkpoint = folder / "checkpoints" / f"{arm}.pth"
            if not checkpoint.is_file():
                parser.error(f"{checkpoint}: missing; was the run made with --ablation (for ss_so)?")
            for interval in args.intervals:
                label = f"{arm} seed {seed} interval {interval}"
                print(f"Tracking the test split: {label}", flush=True)
                # interval 1 is what the run itself tracked: its result files are reused
                results = (folder / "results" / arm if interval == 1
                           else folder / "results_intervals" / f"{arm}_fi{interval}")
                result = evaluate_checkpoint(checkpoint, sequences, tracker, "tiny", results, label=label,
                                             threads=args.threads if args.threads > 1 else 0, device=args.device,
                                             reuse_results=True, frame_interval=interval)
                scores[interval].setdefault(seed, {})[arm] = result.summary["AO"]

    lines = [f"{'interval':>8s} " + " ".join(f"{arm:>8s}" for arm in args.arms) + "   SLT - +SS+SO (mean +- SE, per seed)"]
    comparisons = {}
    for interval in args.intervals:
        means = [np.mean([scores[interval][s][arm] for s in seeds]) for arm in args.arms]
        row = f"{interval:8d} " + " ".join(f"{m:8.2f}" for m in means)
        diff = paired(scores[interval], "slt", "ss_so")
        if diff is not None:
            se = "n/a" if diff["se"] is None else f"{diff['se']:.2f}"
            row += (f"   {diff['mean']:+.2f} +- {se}  ({', '.join(f'{d:+.2f}' for d in diff['per_seed'])})"
                    + ("  resolved" if diff["resolved"] else ""))
            comparisons[interval] = diff
        lines.append(row)
    table = "\n".join(lines)
    print(f"\n{tracker}, {len(sequences)} test videos, seeds {seeds} (AO in %, means over seeds)")
    print(table)
    save_report(args.json, {"experiment": "intervals", "machine": machine, "command": command, "run": str(run),
                            "tracker": tracker, "seeds": seeds, "intervals": args.intervals, "arms": args.arms,
                            "scores": {str(i): {str(s): v for s, v in per.items()} for i, per in scores.items()},
                            "slt_minus_ss_so": {str(i): d for i, d in comparisons.items()}, "table": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
