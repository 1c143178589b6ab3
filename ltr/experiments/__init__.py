"""Training experiments: FLT vs SLT (the paper's Table 5 arms), sweeps of one knob (Tables 7
and 8) and the gradient-signal diagnostic, run as

    python ltr/run_experiment.py NAME [options]      # NAME in EXPERIMENTS; --help per experiment

Each experiment is a module with ``main(argv) -> int``; :data:`EXPERIMENTS` is the registry
``ltr/run_experiment.py`` reads. Records of earlier runs are in ``ltr/experiments/results/`` and
their tables in ``ltr/experiments/README.md``.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Dict

__all__ = ["EXPERIMENTS", "get_experiment"]

#: Experiment name -> (module under ltr.experiments, one line for the listing).
EXPERIMENTS: Dict[str, tuple] = {
    "slt_vs_flt": ("slt_vs_flt", "FLT-continue vs SLT of a tiny tracker from one FLT start (--ablation: Table 5)"),
    "sweep": ("sweep", "one knob of slt_vs_flt over several values (Tables 7 and 8)"),
    "signal": ("gradient_signal", "per-batch gradient signal-to-noise of the SLT loss terms at a checkpoint"),
    "motion": ("motion", "per-frame target motion of the SLT episodes (SA on/off) vs the test split at intervals 1-3"),
    "slt_options": ("slt_options", "+SS+SO with the self-critical term's options (candidate set, samples, batch) vs plain"),
    "intervals": ("frame_intervals", "an slt_vs_flt run's checkpoints tracked at frame intervals 1, 2, 3 (Table 6)"),
}


def get_experiment(name: str) -> ModuleType:
    """The module of experiment ``name``; SystemExit listing the known ones otherwise."""
    if name not in EXPERIMENTS:
        known = "\n".join(f"  {n:12s} {help}" for n, (_, help) in EXPERIMENTS.items())
        raise SystemExit(f"No experiment {name!r}. Known experiments:\n{known}")
    return importlib.import_module(f"ltr.experiments.{EXPERIMENTS[name][0]}")
