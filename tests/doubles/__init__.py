"""Test doubles: a tiny deterministic tracker and generated sequences.

Importing this package registers the tracker ``double`` (parameter sets in
``tests.doubles.parameter``), so the command-line tools reach it with
``--tracker-module tests.doubles``.
"""
from pytracking.tracker import register_tracker
from tests.doubles.tracker import BrightSpotTracker

register_tracker("double", BrightSpotTracker, "tests.doubles.parameter")

__all__ = ["BrightSpotTracker"]
