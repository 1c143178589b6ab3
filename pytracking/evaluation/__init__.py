"""Evaluation: sequences and datasets, tracker configurations, running and result files."""
from pytracking.evaluation.data import BaseDataset, Sequence, SequenceList
from pytracking.evaluation.datasets import get_dataset, list_datasets

__all__ = ["BaseDataset", "Sequence", "SequenceList", "get_dataset", "list_datasets", "Tracker", "trackerlist"]


def __getattr__(name: str):
    # Tracker pulls in the tracker registry (entry points, parameter sets); analysis, which
    # imports this package for the datasets only, starts faster without it.
    if name in ("Tracker", "trackerlist"):
        from pytracking.evaluation import tracker
        return getattr(tracker, name)
    raise AttributeError(f"module 'pytracking.evaluation' has no attribute {name!r}")
