"""Command line of ``pytracking/run_analysis.py`` (kept here so the analysis stays importable).

Example::

    python pytracking/run_analysis.py --dataset lasot --dataset-root /data/LaSOT \\
        --results-dir results/trdimp/trdimp --name FLT \\
        --results-dir results/trdimp/slt --name SLT --plot-dir plots/lasot --all-protocols
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence as SequenceT, Tuple

from pytracking.analysis.evaluate import (EvaluationError, ImageSizeUnknownError, TrackerEvaluation,
                                         evaluate_tracker)
from pytracking.analysis.report import all_protocols_table, standard_table
from pytracking.analysis.results_io import MissingResultsError, TrackerResults, load_tracker_results
from pytracking.analysis.textio import TableFormatError


class AnalysisError(RuntimeError):
    """A problem the user has to fix (printed without a traceback)."""


def build_parser() -> argparse.ArgumentParser:
    from pytracking.evaluation.datasets import list_datasets
    parser = argparse.ArgumentParser(
        prog="run_analysis.py",
        description="Evaluate tracking results (pytracking layout: <results-dir>/<sequence>.txt, one xywh box per "
                    "line) on an evaluation dataset and print AUC / Precision / NormPrecision (pytracking protocol) "
                    "and AO / SR50 / SR75 (GOT-10k toolkit protocol).")
    parser.add_argument("--dataset", required=True,
                        help=f"dataset name: {', '.join(list_datasets())} (aliases such as otb100 accepted)")
    parser.add_argument("--dataset-root", default=None,
                        help="dataset root (default: the *_dir field of ltr/admin/local.py or SLT_<FIELD>)")
    parser.add_argument("--results-dir", action="append", required=True, metavar="DIR",
                        help="folder with <sequence>.txt result files; repeat to compare trackers")
    parser.add_argument("--name", action="append", default=[], metavar="NAME",
                        help="display name of the matching --results-dir (in order; default: folder name)")
    parser.add_argument("--sequence-list", default=None, metavar="FILE",
                        help="evaluate only the sequences named in FILE (one per line, '#' comments)")
    parser.add_argument("--json", default=None, metavar="OUT.json",
                        help="write the scores (percent) as JSON")
    parser.add_argument("--plot-dir", default=None, metavar="DIR", help="write success/precision plots (PNG)")
    parser.add_argument("--all-protocols", action="store_true",
                        help="compare pytracking, GOT-10k toolkit and pysot toolkit conventions side by side")
    parser.add_argument("--skip-missing", action="store_true",
                        help="warn about missing result files and evaluate the sequences present in every folder")
    parser.add_argument("--frame-interval", type=int, default=1, metavar="I",
                        help="evaluate frames 0, I, 2I, ... only (result files may hold all frames or one box "
                             "per evaluated frame)")
    return parser


def read_sequence_list(path: str) -> List[str]:
    """Names from a sequence-list file (one per line; blank lines and '#' comments ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AnalysisError(f"cannot read sequence list {path}: {exc.strerror}") from None
    names = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    names = [n for n in names if n]
    if not names:
        raise AnalysisError(f"sequence list {path} names no sequence")
    return names


def _display_names(results_dirs: SequenceT[str], names: SequenceT[str]) -> List[str]:
    if len(names) > len(results_dirs):
        raise AnalysisError(f"{len(names)} --name values for {len(results_dirs)} --results-dir values")
    out = list(names) + [Path(d).resolve().name or str(d) for d in results_dirs[len(names):]]
    seen: Dict[str, int] = {}
    for i, n in enumerate(out):
        # Two folders with the same base name (e.g. .../a/default and .../b/default) must stay apart.
        if n in seen:
            seen[n] += 1
            out[i] = f"{n} ({seen[n]})"
        else:
            seen[n] = 1
    return out


def _json_safe(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def summary_record(result: TrackerEvaluation, dataset: str, results_dir: str) -> Dict:
    """The --json record of one tracker: the summary keys plus context."""
    record: Dict = dict(result.summary())
    if result.pytracking is not None:
        scores = result.pytracking.scores()
        record["OP50"], record["OP75"] = scores["OP50"], scores["OP75"]
    record.update({"name": result.name, "dataset": dataset, "results_dir": results_dir,
                   "sequence_names": list(result.sequences), "protocols": result.all_scores()})
    return _json_safe(record)


def load_sequences(args: argparse.Namespace, split: Optional[str] = None) -> Tuple[str, list]:
    """The canonical dataset name and its sequences for ``--dataset``/``--dataset-root``/``--sequence-list``.

    ``split`` selects a split of the synthetic dataset (other datasets have a fixed split here).
    Every lookup failure becomes an :class:`AnalysisError` so the command line reports one message.
    """
    # Imported here: the dataset modules pull in ltr, which the rest of this module does not need.
    from ltr.admin.environment import DatasetPathError
    from pytracking.evaluation.datasets import canonical_dataset_name, get_dataset

    try:
        dataset = canonical_dataset_name(args.dataset)
    except KeyError as exc:
        raise AnalysisError(str(exc.args[0])) from None
    kwargs = {"split": split} if split and dataset == "synthetic" else {}
    if args.sequence_list:
        kwargs["sequences"] = read_sequence_list(args.sequence_list)
    try:
        sequences = get_dataset(dataset, args.dataset_root, **kwargs)
    except (DatasetPathError, KeyError, TableFormatError) as exc:
        raise AnalysisError(str(exc.args[0]) if exc.args else str(exc)) from None
    return dataset, sequences


def load_results(args: argparse.Namespace, sequences: list, names: SequenceT[str],
                 err) -> Tuple[List[TrackerResults], list]:
    """Results of every ``--results-dir`` (shown as ``names``) and the sequences all of them cover.

    Loading warnings go to ``err``; unreadable results and an empty common set raise
    :class:`AnalysisError`.
    """
    loaded: List[TrackerResults] = []
    for results_dir, name in zip(args.results_dir, names):
        try:
            tracker = load_tracker_results(results_dir, sequences, name=name, skip_missing=args.skip_missing,
                                           frame_interval=args.frame_interval)
        except (MissingResultsError, FileNotFoundError, TableFormatError) as exc:
            raise AnalysisError(str(exc)) from None
        for warning in tracker.warnings:
            print(f"warning: {warning}", file=err)
        loaded.append(tracker)
    # Like pytracking, compare trackers on the sequences every one of them has results for.
    common = [s for s in sequences if all(s.name in t.boxes for t in loaded)]
    if not common:
        raise AnalysisError("no sequence has results in every results folder")
    return loaded, common


def run(args: argparse.Namespace, out=None, err=None) -> List[TrackerEvaluation]:
    """Execute the analysis described by parsed arguments; returns the evaluations.

    ``out`` / ``err`` default to the current ``sys.stdout`` / ``sys.stderr``.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if args.frame_interval < 1:
        raise AnalysisError("--frame-interval must be >= 1")
    dataset, sequences = load_sequences(args)
    loaded, common = load_results(args, sequences, _display_names(args.results_dir, args.name), err)
    if len(common) < len(sequences):
        print(f"warning: evaluating {len(common)} of {len(sequences)} sequences", file=err)

    protocols = ("pytracking", "got10k", "pysot") if args.all_protocols else ("pytracking", "got10k")
    results: List[TrackerEvaluation] = []
    for tracker in loaded:
        try:
            try:
                result = evaluate_tracker(common, tracker.boxes, name=tracker.name, protocols=protocols,
                                          frame_interval=args.frame_interval)
            except ImageSizeUnknownError as exc:
                # Frames not on this machine: the other protocols do not need them.
                print(f"warning: GOT-10k protocol skipped (AO/SR shown as n/a): {exc}", file=err)
                protocols = tuple(p for p in protocols if p != "got10k")
                result = evaluate_tracker(common, tracker.boxes, name=tracker.name, protocols=protocols,
                                          frame_interval=args.frame_interval)
            results.append(result)
        except EvaluationError as exc:
            raise AnalysisError(str(exc)) from None

    title = f"{dataset}: {len(common)} sequences"
    if args.frame_interval > 1:
        i = args.frame_interval
        title += f", frame interval {i} (frames 0, {i}, {2 * i}, ... only)"
    print(title, file=out)
    print(all_protocols_table(results) if args.all_protocols else standard_table(results), file=out)

    if args.json:
        if len(results) == 1:
            payload = summary_record(results[0], dataset, args.results_dir[0])
        else:
            payload = {r.name: summary_record(r, dataset, d) for r, d in zip(results, args.results_dir)}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=out)
    if args.plot_dir:
        from pytracking.analysis.plots import save_plots
        for path in save_plots(results, args.plot_dir, dataset):
            print(f"wrote {path}", file=out)
    return results


def main(argv: Optional[SequenceT[str]] = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 bad input, 2 bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
