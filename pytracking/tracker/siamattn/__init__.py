"""SiamAttn tracker package (``get_tracker_class`` is the lookup convention of pytracking.tracker)."""


def get_tracker_class():
    from pytracking.tracker.siamattn.siamattn import SiamAttnTracker
    return SiamAttnTracker
