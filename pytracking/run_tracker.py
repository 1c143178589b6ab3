"""Run one tracker configuration on a dataset (or one of its sequences) and write the result files.

    python pytracking/run_tracker.py TRACKER PARAM DATASET [options]
    python -m pytracking.run_tracker TRACKER PARAM DATASET [options]

Examples::

    python pytracking/run_tracker.py trdimp slt lasot --threads 4
    python pytracking/run_tracker.py trdimp slt lasot --threads 2 --batch-sequences 16   # 2 workers x 16 in lockstep
    python pytracking/run_tracker.py trdimp slt lasot --sequence airplane-1 --debug 1   # live view
    python pytracking/run_tracker.py mytracker default otb --tracker-module mypkg.trackers

DATASET is a name known to ``pytracking.evaluation.datasets.get_dataset`` or ``MODULE:FUNCTION``
naming a function that returns a SequenceList (called with ``root=`` when ``--dataset-root`` is given).

``--tracker-module MODULE`` (repeatable) imports MODULE first so that trackers it registers with
``pytracking.tracker.register_tracker`` can be named (trackers outside pytracking/tracker/ that are
not installed with a ``pytracking.trackers`` entry point).

Results go to ``<results root>/<TRACKER>/<PARAM>[_<run id:03d>][_fi<I>]/<sequence>.txt`` (plus
``<sequence>_time.txt``); sequences already finished there are skipped. Exit status: 0 when every
sequence ran (or was already done), 1 when any failed, 2 for a usage error.
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Started as a file: make the checkout importable, and keep pytracking/ itself off sys.path so
    # its sub-packages (utils, analysis, ...) cannot shadow top-level modules of the same name.
    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == _here:
        sys.path.pop(0)
    sys.path.insert(0, os.path.dirname(_here))

import argparse
import importlib
from typing import List, Optional

from pytracking.utils.visdom import DEFAULT_ENV, DEFAULT_HOST, DEFAULT_PORT


def import_tracker_modules(modules: Optional[List[str]]) -> None:
    """Import the ``--tracker-module`` modules (their import registers trackers)."""
    for name in modules or []:
        importlib.import_module(name)


def load_dataset(spec: str, root: Optional[str] = None):
    """The SequenceList for ``spec``: a dataset name for ``get_dataset``, or ``MODULE:FUNCTION``.

    ``MODULE:FUNCTION`` names a function returning a SequenceList (called with ``root=ROOT`` when
    ``--dataset-root`` is given), for datasets that live outside pytracking/evaluation/.
    """
    if ":" in spec:
        module_name, function_name = spec.split(":", 1)
        function = getattr(importlib.import_module(module_name), function_name, None)
        if function is None:
            raise ValueError(f"Dataset '{spec}': module {module_name} has no function '{function_name}'")
        return function(root=root) if root is not None else function()
    from pytracking.evaluation.datasets import get_dataset

    return get_dataset(spec, root=root)


def select_sequences(dataset, sequence: Optional[str]):
    """The whole dataset, or the one sequence named (or indexed) by ``--sequence``."""
    from pytracking.evaluation.data import SequenceList

    if sequence is None:
        return dataset
    if sequence.lstrip("-").isdigit():
        index = int(sequence)
        if not -len(dataset) <= index < len(dataset):
            raise IndexError(f"--sequence {index}: the dataset has {len(dataset)} sequences")
        return SequenceList([dataset[index]])
    return SequenceList([dataset[sequence]])


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by run_tracker and run_experiment."""
    parser.add_argument("--threads", type=int, default=0,
                        help="worker processes (0 = run in this process; needed for --debug visualisation)")
    parser.add_argument("--batch-sequences", type=int, default=1, metavar="N", dest="batch_sequences",
                        help="track N sequences in lockstep, one network call per frame step (default 1); "
                             "with --threads each worker batches its share")
    parser.add_argument("--fast-cpu-kernels", action="store_true", dest="fast_cpu_kernels",
                        help="use torch's default (oneDNN) CPU convolutions: faster, but the boxes then change "
                             "in the last bits with --batch-sequences (default: batch-invariant kernels)")
    parser.add_argument("--debug", type=int, default=0,
                        help="debug level; >= 1 streams every frame to visdom and re-runs finished sequences")
    parser.add_argument("--visdom-host", default=DEFAULT_HOST, help=f"visdom server host (default {DEFAULT_HOST})")
    parser.add_argument("--visdom-port", type=int, default=DEFAULT_PORT,
                        help=f"visdom server port (default {DEFAULT_PORT})")
    parser.add_argument("--visdom-env", default=DEFAULT_ENV, help=f"visdom environment (default {DEFAULT_ENV})")
    parser.add_argument("--tracker-module", action="append", metavar="MODULE",
                        help="import MODULE first so the trackers it registers can be named (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_tracker.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tracker", help="tracker name, e.g. trdimp")
    parser.add_argument("param", help="parameter set, e.g. slt")
    parser.add_argument("dataset", help="dataset: lasot, got10k_val, got10k_test, trackingnet, otb, synthetic, "
                                        "or MODULE:FUNCTION returning a SequenceList")
    parser.add_argument("--sequence", help="run only this sequence (name or index)")
    parser.add_argument("--run-id", type=int, default=None, help="run number, results folder suffix _NNN")
    parser.add_argument("--checkpoint", help="network weights, overriding the parameter set's checkpoint")
    parser.add_argument("--dataset-root", help="dataset root, overriding the environment settings")
    parser.add_argument("--results-dir", help="results root replacing the environment's results_dir "
                                              "(the <tracker>/<param>... layout below it is kept)")
    parser.add_argument("--frame-interval", type=int, default=1,
                        help="track only every I-th frame; results go to a separate _fi<I> folder")
    add_common_arguments(parser)
    return parser


def open_visualisation(args: argparse.Namespace):
    """A connected visdom client when ``--debug`` > 0, ``--threads 0`` and a server answers."""
    if args.debug <= 0:
        return None
    if args.threads > 0:
        print("WARNING: --debug visualisation needs --threads 0; running without it", file=sys.stderr, flush=True)
        return None
    from pytracking.utils.visdom import open_visdom

    return open_visdom(args.debug, host=args.visdom_host, port=args.visdom_port, env=args.visdom_env)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_sequences < 1:
        parser.error(f"--batch-sequences must be at least 1, got {args.batch_sequences}")

    from ltr.admin.host_memory import keep_freed_host_memory
    keep_freed_host_memory()
    from pytracking.evaluation.running import run_dataset
    from pytracking.evaluation.tracker import Tracker
    from pytracking.tracker import UnknownTrackerError
    from pytracking.parameter import UnknownParameterSetError

    try:
        import_tracker_modules(args.tracker_module)
        tracker = Tracker(args.tracker, args.param, run_id=args.run_id, checkpoint=args.checkpoint,
                          results_root=args.results_dir, frame_interval=args.frame_interval)
        _ = tracker.entry  # an unknown tracker is a usage error, reported before any dataset is read
        tracker.get_parameters()  # the same for an unknown parameter set or a missing --checkpoint
        dataset = load_dataset(args.dataset, root=args.dataset_root)
        dataset = select_sequences(dataset, args.sequence)
    except (UnknownTrackerError, UnknownParameterSetError, FileNotFoundError, IndexError, KeyError,
            ValueError, ModuleNotFoundError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")

    visdom = open_visualisation(args)
    try:
        summary = run_dataset(dataset, [tracker], threads=args.threads, debug=args.debug, visdom=visdom,
                              batch_sequences=args.batch_sequences, invariant_kernels=not args.fast_cpu_kernels)
    finally:
        if visdom is not None:
            visdom.shutdown()
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
