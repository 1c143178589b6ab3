"""Default parameters of the test-double tracker."""
from pytracking.utils.params import TrackerParams


def parameters() -> TrackerParams:
    return TrackerParams(search_factor=2.0, frame_delay=0.0)
