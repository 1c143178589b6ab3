"""TrDiMP tracker package (``get_tracker_class`` is the lookup convention of pytracking.tracker)."""


def get_tracker_class():
    from pytracking.tracker.trdimp.trdimp import TrDiMP
    return TrDiMP
