"""Test-time parameter sets of TrDiMP: ``trdimp`` (official), ``trdimp_lasot`` (official, long-term
benchmarks) and ``tiny`` (the CPU-sized network with the same procedure)."""
