"""Plain-text comparison tables of evaluation results."""
from __future__ import annotations

import math
from typing import List, Sequence as SequenceT

from pytracking.analysis.evaluate import TrackerEvaluation

#: One line per protocol: what it does differently (printed under the --all-protocols table).
PROTOCOL_LEGEND = {
    "pytracking": ("frame 1 := ground truth; zero-size box -> previous box; GT valid if w,h > 0 (LaSOT: and "
                   "visible); invalid frames fail IoU and precision but pass normalised precision (not on LaSOT); "
                   "divided by valid frames (LaSOT: by all frames); 21 IoU thresholds (max AUC 95.2); "
                   "per-sequence curves averaged"),
    "GOT-10k toolkit": ("frame 1 skipped; frames with cover == 0 dropped (where labelled); both boxes clipped "
                        "to the image; IoUs of all frames pooled (long sequences weigh more); AO = mean IoU"),
    "pysot toolkit": ("predictions as written (frame 1 included); LaSOT invisible frames dropped but kept in the "
                      "divisor; precision counts frames whose GT centre has a coordinate <= 0 as hits; "
                      "21 IoU thresholds; per-sequence curves averaged"),
    "all": ("IoU is the same formula everywhere (x2 = x+w-1 with +1 sides equals x2 = x+w), and centres are "
            "xy + (wh-1)/2 everywhere; the numbers differ by frames, clipping, divisors and pooling"),
}


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def format_table(header_rows: SequenceT[SequenceT[str]], rows: SequenceT[SequenceT[str]]) -> str:
    """Align columns: first column left-aligned, the others right-aligned, '|' separated."""
    all_rows = [list(r) for r in header_rows] + [list(r) for r in rows]
    ncols = max(len(r) for r in all_rows)
    for r in all_rows:
        r.extend([""] * (ncols - len(r)))
    widths = [max(len(r[c]) for r in all_rows) for c in range(ncols)]

    def line(cells: List[str]) -> str:
        parts = [cells[0].ljust(widths[0])] + [cells[c].rjust(widths[c]) for c in range(1, ncols)]
        return " | ".join(parts)

    rule = "-+-".join("-" * w for w in widths)
    out = [line(r) for r in all_rows[:len(header_rows)]] + [rule] + [line(r) for r in all_rows[len(header_rows):]]
    return "\n".join(out)


def standard_table(results: SequenceT[TrackerEvaluation]) -> str:
    """pytracking AUC / OP50 / OP75 / Precision / NormPrecision and GOT-10k AO / SR50 / SR75 per tracker."""
    header = ["Tracker", "AUC", "OP50", "OP75", "Precision", "NormPrec", "AO", "SR50", "SR75", "Seqs"]
    rows = []
    for r in results:
        pyt = r.pytracking.scores() if r.pytracking is not None else {}
        got = r.got10k.scores() if r.got10k is not None else {}
        rows.append([r.name] + [_fmt(pyt.get(k, float("nan"))) for k in ("AUC", "OP50", "OP75", "Precision",
                                                                          "NormPrecision")]
                    + [_fmt(got.get(k, float("nan"))) for k in ("AO", "SR50", "SR75")] + [str(len(r.sequences))])
    return format_table([header], rows)


def all_protocols_table(results: SequenceT[TrackerEvaluation]) -> str:
    """One row per tracker, the three protocols' columns side by side, with a legend of what differs."""
    protocol_row = ["", "pytracking", "pytracking", "pytracking", "GOT-10k toolkit", "GOT-10k toolkit",
                    "GOT-10k toolkit", "pysot toolkit", "pysot toolkit", "pysot toolkit", ""]
    differs_row = ["", "1st=GT,per-seq", "/valid frames", "invalid GT=hit", "skip 1st,clip", "cover>0 only",
                   "frame-pooled", "raw 1st,per-seq", "GTctr<=0=hit", "/all frames", ""]
    metric_row = ["Tracker", "AUC", "Prec@20", "NPrec@0.2", "AO", "SR50", "SR75", "AUC", "Prec@20", "NPrec@0.2",
                  "Seqs"]
    rows = []
    for r in results:
        pyt = r.pytracking.scores() if r.pytracking is not None else {}
        got = r.got10k.scores() if r.got10k is not None else {}
        pys = r.pysot.scores() if r.pysot is not None else {}
        nan = float("nan")
        rows.append([r.name,
                     _fmt(pyt.get("AUC", nan)), _fmt(pyt.get("Precision", nan)), _fmt(pyt.get("NormPrecision", nan)),
                     _fmt(got.get("AO", nan)), _fmt(got.get("SR50", nan)), _fmt(got.get("SR75", nan)),
                     _fmt(pys.get("AUC", nan)), _fmt(pys.get("Precision", nan)), _fmt(pys.get("NormPrecision", nan)),
                     str(len(r.sequences))])
    table = format_table([protocol_row, differs_row, metric_row], rows)
    legend = "\n".join(f"  {name}: {text}" for name, text in PROTOCOL_LEGEND.items())
    return f"{table}\n\nConventions (scores in %):\n{legend}"
