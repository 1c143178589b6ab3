"""OSTrack tracker package (``get_tracker_class`` is the lookup convention of pytracking.tracker)."""


def get_tracker_class():
    from pytracking.tracker.ostrack.ostrack import OSTrack
    return OSTrack
