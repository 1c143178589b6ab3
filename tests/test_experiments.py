"""Every named experiment in pytracking/experiments/myexperiments.py resolves its trackers.

``run_experiment.py`` resolves every tracker of an experiment before it tracks anything, so an
experiment naming a tracker that is not built fails at once. These tests do the same resolution
(tracker module, tracker class, parameter set) for each experiment without loading any data.
"""
from __future__ import annotations

import inspect
from typing import List

import pytest

from pytracking.evaluation.data import SequenceList
from pytracking.evaluation.datasets import canonical_dataset_name
from pytracking.evaluation.tracker import Tracker
from pytracking.experiments import myexperiments
from pytracking.run_experiment import load_experiment
from pytracking.tracker import list_trackers
from pytracking.tracker.base import BaseTracker
from pytracking.utils.params import TrackerParams


def experiment_names() -> List[str]:
    """Public functions defined in myexperiments (imported helpers such as trackerlist excluded)."""
    return sorted(name for name, value in vars(myexperiments).items()
                  if inspect.isfunction(value) and value.__module__ == myexperiments.__name__
                  and not name.startswith("_"))


@pytest.fixture
def no_dataset_loading(monkeypatch, tmp_path):
    """Replace the experiments' dataset loading by a record of the names asked for.

    Also keeps the settings file and result folders that Tracker() resolves out of the checkout.
    """
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local.py"))
    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path / "workspace"))
    requested: List[str] = []

    def record(name: str) -> SequenceList:
        requested.append(name)
        return SequenceList([])

    monkeypatch.setattr(myexperiments, "_dataset", record)
    return requested


def test_the_documented_experiments_exist():
    assert {"slt_vs_flt", "slt_vs_flt_got10k", "trdimp_slt_runs", "frame_interval_robustness",
            "synthetic_smoke"} <= set(experiment_names())


def test_experiment_trackers_are_built_trackers():
    assert set(myexperiments.TRACKERS) <= set(list_trackers()), (
        f"myexperiments.TRACKERS names trackers without a package in pytracking/tracker/: "
        f"{sorted(set(myexperiments.TRACKERS) - set(list_trackers()))}")


@pytest.mark.parametrize("name", experiment_names())
def test_experiment_resolves_every_tracker_and_parameter_set(name, no_dataset_loading):
    trackers, dataset = load_experiment("myexperiments", name)()
    assert isinstance(dataset, SequenceList)
    assert no_dataset_loading, f"{name} asked for no dataset"
    for dataset_name in no_dataset_loading:
        canonical_dataset_name(dataset_name)  # raises KeyError for a name get_dataset does not know
    assert trackers, f"{name} lists no trackers"
    for tracker in trackers:
        assert isinstance(tracker, Tracker)
        entry = tracker.entry  # what run_experiment.py does before running: raises for an unknown tracker
        assert issubclass(entry.tracker_class, BaseTracker), (tracker.display_name, entry.tracker_class)
        assert tracker.parameter_name in entry.parameter_sets(), (
            f"{name}: {tracker.name} has no parameter set '{tracker.parameter_name}'; "
            f"available: {entry.parameter_sets()}")
        params = tracker.get_parameters()
        assert isinstance(params, TrackerParams), tracker.display_name
    labels = [t.display_name for t in trackers]
    assert len(labels) == len(set(labels)), f"{name} has duplicate tracker runs: {labels}"
