"""Test-time parameter sets of TransT: ``transt`` (paper size, official settings) and ``tiny``."""
