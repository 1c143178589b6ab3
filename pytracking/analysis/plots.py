"""Success and precision plots (PNG, matplotlib's Agg backend, no display needed)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Sequence as SequenceT

import numpy as np

from pytracking.analysis.evaluate import TrackerEvaluation
from pytracking.analysis.metrics import (CENTER_THRESHOLDS, GOT10K_CURVE_THRESHOLDS, NORM_CENTER_THRESHOLDS,
                                         OVERLAP_THRESHOLDS)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg", force=True)  # file output only; never needs a display
    import matplotlib.pyplot as plt
    return plt


def plot_curves(x: np.ndarray, curves: Dict[str, np.ndarray], scores: Dict[str, float], out_path: str,
                title: str, xlabel: str, ylabel: str, legend_loc: str, score_label: str) -> str:
    """Draw one line per tracker, best score first in the legend as ``name [score_label score]``; save PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    order = sorted(curves, key=lambda n: -np.nan_to_num(scores.get(n, np.nan), nan=-np.inf))
    for name in order:
        ax.plot(x, curves[name], linewidth=2, label=f"{name} [{score_label} {scores[name]:.1f}]")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xlim=(float(x[0]), float(x[-1])), ylim=(0, 100))
    ax.grid(True, linestyle="-.")
    ax.legend(loc=legend_loc, fontsize=9)
    fig.tight_layout()
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return str(out_path)


def save_plots(results: SequenceT[TrackerEvaluation], plot_dir: str, dataset_name: str = "") -> List[str]:
    """Write success / precision / normalised-precision plots (pytracking protocol), plus the GOT-10k
    and pysot success plots where those protocols were computed. Returns the written paths."""
    os.makedirs(plot_dir, exist_ok=True)
    suffix = f" on {dataset_name}" if dataset_name else ""
    written: List[str] = []
    pyt = [r for r in results if r.pytracking is not None]
    if pyt:
        written.append(plot_curves(
            OVERLAP_THRESHOLDS, {r.name: r.pytracking.success_curve() for r in pyt},
            {r.name: r.pytracking.scores()["AUC"] for r in pyt}, os.path.join(plot_dir, "success_plot.png"),
            f"Success plot{suffix}", "Overlap threshold", "Overlap precision [%]", "lower left", "AUC"))
        written.append(plot_curves(
            CENTER_THRESHOLDS, {r.name: r.pytracking.precision_curve() for r in pyt},
            {r.name: r.pytracking.scores()["Precision"] for r in pyt}, os.path.join(plot_dir, "precision_plot.png"),
            f"Precision plot{suffix}", "Location error threshold [pixels]", "Distance precision [%]",
            "lower right", "P@20"))
        written.append(plot_curves(
            NORM_CENTER_THRESHOLDS, {r.name: r.pytracking.norm_precision_curve() for r in pyt},
            {r.name: r.pytracking.scores()["NormPrecision"] for r in pyt},
            os.path.join(plot_dir, "norm_precision_plot.png"), f"Normalized precision plot{suffix}",
            "Normalized location error threshold", "Distance precision [%]", "lower right", "NP@0.2"))
    got = [r for r in results if r.got10k is not None and len(r.got10k.ious)]
    if got:
        written.append(plot_curves(
            GOT10K_CURVE_THRESHOLDS, {r.name: r.got10k.success_curve() for r in got},
            {r.name: r.got10k.scores()["AO"] for r in got}, os.path.join(plot_dir, "got10k_success_plot.png"),
            f"Success plot, GOT-10k protocol{suffix}", "Overlap threshold", "Success rate [%]", "lower left", "AO"))
    pys = [r for r in results if r.pysot is not None]
    if pys:
        written.append(plot_curves(
            OVERLAP_THRESHOLDS, {r.name: r.pysot.success_curve() for r in pys},
            {r.name: r.pysot.scores()["AUC"] for r in pys}, os.path.join(plot_dir, "pysot_success_plot.png"),
            f"Success plot, pysot protocol{suffix}", "Overlap threshold", "Success rate [%]", "lower left", "AUC"))
    return written
