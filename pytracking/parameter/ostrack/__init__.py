"""Test-time parameter sets of OSTrack: ``ostrack`` (256), ``ostrack384``, ``slt`` and ``tiny``."""
