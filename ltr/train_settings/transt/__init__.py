"""TransT training settings: ``transt`` (FLT, paper), ``tiny`` (FLT, CPU), ``slt`` and ``slt_tiny``.

``transt.py`` also holds the frame-level building blocks and ``slt.py`` the sequence-level ones;
the tiny settings only change the numbers and the data.
"""
