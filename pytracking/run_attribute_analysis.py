"""Attribute-wise analysis (SLT paper, Fig. 3): per-attribute AUC of trackers and the gain of one over another.

    python pytracking/run_attribute_analysis.py --dataset lasot --dataset-root /data/LaSOT \\
        --results-dir results/transt/transt --name FLT --results-dir results/transt/slt --name SLT \\
        --gain SLT:FLT --plot gain.png --json attributes.json
    python pytracking/run_attribute_analysis.py --dataset synthetic --dataset-root DIR --results-dir A ...

LaSOT attributes come from the official toolkit's ``annos/att/<sequence>.txt`` files (copy the
folder to ``<LaSOT root>/annos/att`` or pass ``--attributes-dir``); synthetic ones from
``<root>/<split>/attributes.json``. See :mod:`pytracking.analysis.attributes`.
"""
import os
import sys

if __package__ in (None, ""):
    # Started as a file: make the checkout importable, and keep pytracking/ itself off sys.path so
    # its sub-packages (utils, analysis, ...) cannot shadow top-level modules of the same name.
    _here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == _here:
        sys.path.pop(0)
    sys.path.insert(0, os.path.dirname(_here))

from pytracking.analysis.attributes import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
