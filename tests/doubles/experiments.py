"""A dataset function and an experiment for the command-line tests (generated data, test-double tracker).

Data and results go where the environment variables say: ``SLT_DOUBLE_DATA`` (generated frames)
and ``SLT_RESULTS_DIR`` (the usual results root setting).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Tuple

import tests.doubles  # noqa: F401  (registers the 'double' tracker)
from pytracking.evaluation.data import SequenceList
from pytracking.evaluation.tracker import Tracker
from tests.doubles.sequences import make_sequence_list


def generated(root: Optional[str] = None) -> SequenceList:
    """Three small generated sequences under ``root`` (default ``$SLT_DOUBLE_DATA``), made on first use."""
    root = root or os.environ["SLT_DOUBLE_DATA"]
    return make_sequence_list(Path(root), count=3)


def double_two_params() -> Tuple[List[Tracker], SequenceList]:
    """The test double with two parameter sets on the generated sequences."""
    return [Tracker("double", "default"), Tracker("double", "default", run_id=1)], generated()
