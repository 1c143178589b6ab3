"""Evaluate tracking results on an evaluation dataset (see docs/evaluation.md).

    python pytracking/run_analysis.py --dataset lasot --results-dir DIR [--name NAME] ...
    python -m pytracking.run_analysis --dataset got10k_val --results-dir DIR --json out.json
"""
import os
import sys

if __package__ in (None, ""):
    # Run as a file from the checkout: make the repository importable without installation.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pytracking.analysis.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
