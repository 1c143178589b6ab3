"""Tiny TrDiMP (CPU-sized network, 128 px samples: 8x8 features, 9x9 scores) with the official procedure."""
from pytracking.parameter.trdimp.trdimp import official_values
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    values = official_values()
    values.update(image_sample_size=128)
    return TrackerParams(name="tiny", model_size="tiny", checkpoint=None, device=default_device(), **values)
