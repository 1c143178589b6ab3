"""Run a named experiment: a function returning ``(trackers, dataset)``.

    python pytracking/run_experiment.py MODULE FUNCTION [--threads N] [--batch-sequences N] [--debug N]
    python -m pytracking.run_experiment myexperiments slt_vs_flt --threads 4

MODULE is a file in pytracking/experiments/ (``myexperiments`` -> ``pytracking.experiments.myexperiments``);
a dotted name (``mypkg.my_experiments``) is imported as it is, so experiments can live outside the
checkout. FUNCTION takes no arguments and returns ``(list of Tracker, SequenceList)``.
Exit status: 0 when every sequence ran (or was already done), 1 when any failed, 2 for a usage error.
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Started as a file: make the checkout importable, and keep pytracking/ itself off sys.path.
    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == _here:
        sys.path.pop(0)
    sys.path.insert(0, os.path.dirname(_here))

import argparse
import importlib
from typing import Callable, List, Optional

from pytracking.run_tracker import add_common_arguments, import_tracker_modules, open_visualisation


def load_experiment(module: str, function: str) -> Callable:
    """The experiment function ``function`` of ``pytracking.experiments.<module>`` (or dotted ``module``)."""
    module_name = module if "." in module else f"pytracking.experiments.{module}"
    try:
        mod = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise ModuleNotFoundError(f"No experiment module '{module_name}' (pytracking/experiments/{module}.py)") from None
    fn = getattr(mod, function, None)
    if fn is None or not callable(fn):
        public = sorted(n for n, v in vars(mod).items() if callable(v) and not n.startswith("_")
                        and getattr(v, "__module__", None) == mod.__name__)
        raise AttributeError(f"Experiment module {module_name} has no function '{function}'; functions: {public}")
    return fn


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="run_experiment.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", help="experiment module in pytracking/experiments/ (or a dotted module path)")
    parser.add_argument("function", help="function in that module returning (trackers, dataset)")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    if args.batch_sequences < 1:
        parser.error(f"--batch-sequences must be at least 1, got {args.batch_sequences}")

    from pytracking.evaluation.running import run_dataset

    try:
        import_tracker_modules(args.tracker_module)
        trackers, dataset = load_experiment(args.module, args.function)()
        for tracker in trackers:
            _ = tracker.entry  # an unknown tracker is a usage error, reported before any work
    except (ModuleNotFoundError, AttributeError, FileNotFoundError, LookupError, ValueError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")

    visdom = open_visualisation(args)
    try:
        summary = run_dataset(dataset, trackers, threads=args.threads, debug=args.debug, visdom=visdom,
                              batch_sequences=args.batch_sequences, invariant_kernels=not args.fast_cpu_kernels)
    finally:
        if visdom is not None:
            visdom.shutdown()
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
