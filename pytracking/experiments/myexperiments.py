"""Named experiments for ``run_experiment.py myexperiments <function>``.

Each function takes no arguments and returns ``(trackers, dataset)``: a list of
:class:`pytracking.evaluation.Tracker` and a SequenceList. Add your own below; the functions only
describe runs, nothing is loaded until the run starts.

Parameter-set naming: every tracker ``<t>`` has its frame-level setting as parameter set ``<t>``
(as in the tracker's paper) and the sequence-level fine-tuned one as ``slt``.
"""
from __future__ import annotations

from typing import List, Tuple

from pytracking.evaluation.data import SequenceList
from pytracking.evaluation.tracker import Tracker, trackerlist

#: Trackers with both an FLT and an SLT parameter set. Only trackers built in pytracking/tracker/
#: belong here: every experiment below resolves all of them before it runs anything
#: (tests/test_experiments.py checks that each one resolves).
TRACKERS = ("siamrpnpp", "siamattn", "transt", "trdimp", "ostrack")


def _dataset(name: str) -> SequenceList:
    from pytracking.evaluation.datasets import get_dataset

    return get_dataset(name)


def _flt_and_slt(trackers=TRACKERS) -> List[Tracker]:
    runs: List[Tracker] = []
    for name in trackers:
        runs += trackerlist(name, name)   # frame-level training (FLT)
        runs += trackerlist(name, "slt")  # sequence-level training (SLT)
    return runs


def slt_vs_flt() -> Tuple[List[Tracker], SequenceList]:
    """Every tracker, FLT and SLT, on LaSOT test."""
    return _flt_and_slt(), _dataset("lasot")


def slt_vs_flt_got10k() -> Tuple[List[Tracker], SequenceList]:
    """Every tracker, FLT and SLT, on GOT-10k val."""
    return _flt_and_slt(), _dataset("got10k_val")


def trdimp_slt_runs() -> Tuple[List[Tracker], SequenceList]:
    """TrDiMP-SLT five times (run ids 0-4) on LaSOT, to measure run-to-run spread."""
    return trackerlist("trdimp", "slt", range(5)), _dataset("lasot")


def frame_interval_robustness() -> Tuple[List[Tracker], SequenceList]:
    """TrDiMP FLT vs SLT tracking every 1st, 2nd and 4th frame of LaSOT (faster apparent motion)."""
    runs = [Tracker("trdimp", param, frame_interval=interval)
            for param in ("trdimp", "slt") for interval in (1, 2, 4)]
    return runs, _dataset("lasot")


def synthetic_smoke() -> Tuple[List[Tracker], SequenceList]:
    """Every tracker, FLT and SLT, on the generated synthetic test split (quick CPU check)."""
    return _flt_and_slt(), _dataset("synthetic")
