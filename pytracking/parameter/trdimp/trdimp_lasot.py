"""TrDiMP for long-term benchmarks (LaSOT): the official set with the transformer memory frozen."""
from pytracking.parameter.trdimp.trdimp import official_values
from pytracking.utils.params import TrackerParams, default_device, network_file


def parameters() -> TrackerParams:
    values = official_values()
    # The reference disables memory updates with these two values ("do not update the
    # transformer memory in long-term benchmarks"); the core reads them as "never".
    values.update(transformer_skipping=0.1, transformer_memory_size=-1)
    return TrackerParams(name="trdimp_lasot", model_size="paper", checkpoint=network_file("trdimp.pth"), device=default_device(), **values)
