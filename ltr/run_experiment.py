"""Run a training experiment: ``python ltr/run_experiment.py NAME [options]``.

    python ltr/run_experiment.py slt_vs_flt --tracker transt            # FLT-continue vs SLT
    python ltr/run_experiment.py slt_vs_flt --tracker siamrpnpp --ablation --seeds 0 1 2
    python ltr/run_experiment.py sweep --param num_frames --values 8 16 24
    python ltr/run_experiment.py signal --tracker siamrpnpp --checkpoint FLT_START.pth
    python ltr/run_experiment.py NAME --help

The experiments live in ltr/experiments/ (the registry is ``ltr.experiments.EXPERIMENTS``); this
mirrors ``pytracking/run_experiment.py``, which runs named tracking experiments.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ltr.experiments import EXPERIMENTS, get_experiment


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("Experiments:")
        for name, (_, help) in EXPERIMENTS.items():
            print(f"  {name:12s} {help}")
        return 0
    return int(get_experiment(argv[0]).main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
