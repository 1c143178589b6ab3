"""Evaluation: sequences and datasets, tracker configurations, running and result files."""
from pytracking.evaluation.data import BaseDataset, Sequence, SequenceList
from pytracking.evaluation.datasets import get_dataset, list_datasets
from pytracking.evaluation.tracker import Tracker, trackerlist

__all__ = ["BaseDataset", "Sequence", "SequenceList", "get_dataset", "list_datasets", "Tracker", "trackerlist"]
