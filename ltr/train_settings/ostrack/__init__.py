"""OSTrack training settings: ``ostrack`` (FLT, paper), ``tiny`` (FLT, CPU), ``slt`` and ``slt_tiny``.

The fields, the recipes and the building blocks live in ``common.py``; the tiny settings only
change the numbers and the data.
"""
