"""The test-double tracker slowed down, so a live view can be watched (and screenshotted)."""
from pytracking.utils.params import TrackerParams


def parameters() -> TrackerParams:
    return TrackerParams(search_factor=2.0, frame_delay=0.25)
