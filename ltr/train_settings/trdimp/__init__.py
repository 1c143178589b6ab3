"""TrDiMP training settings: ``trdimp`` (FLT, paper), ``tiny`` (FLT, CPU), ``slt`` and ``slt_tiny``.

The building blocks shared by all four live in ``common.py``; the settings only choose numbers
and data.
"""
