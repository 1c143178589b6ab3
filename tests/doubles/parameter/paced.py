"""The test-double tracker at about 20 frames per second, for tests that interact with a live run."""
from pytracking.utils.params import TrackerParams


def parameters() -> TrackerParams:
    return TrackerParams(search_factor=2.0, frame_delay=0.05)
