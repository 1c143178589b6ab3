"""Attribute-wise analysis: AUC per attribute subset, tables, and the gain of one tracker over another.

This is the analysis behind the SLT paper's Fig. 3 (per-attribute gain of SLT over FLT on LaSOT).
A sequence *has* an attribute when its flag is true; the score of a tracker on an attribute is the
pytracking-protocol score (AUC by default) over the sequences that have it. Because pytracking
averages per-sequence curves, the score of a subset is the mean of its sequences' scores, so for
every attribute ``n_with * AUC_with + n_without * AUC_without = n * AUC_all``.

Attribute sources
-----------------
LaSOT
    The official evaluation toolkit (``LaSOT_Evaluation_Toolkit``) ships one file per sequence,
    ``annos/att/<sequence>.txt``: a single comma-separated line of 14 flags (0/1), in the order of
    :data:`LASOT_ATTRIBUTES` (the toolkit's ``att_name`` / ``att_fig_name`` lists in
    ``run_tracker_performance_evaluation.m``; a sequence is in an attribute's subset when its flag
    is > 0). The dataset download itself does not contain them; copy the toolkit's ``annos/att``
    folder under the LaSOT root (``<root>/annos/att``) or point ``--attributes-dir`` at it.
synthetic
    ``<root>/<split>/attributes.json`` written by ``ltr/util_scripts/make_synthetic.py``
    (``Sequence.attributes``); :data:`SYNTHETIC_ATTRIBUTES` are shown by default.
anything else
    ``Sequence.attributes`` of the dataset, or a JSON file ``{sequence: {attribute: bool}}`` /
    ``{sequence: [attribute, ...]}`` given with ``--attributes-file``.

Command line: ``python pytracking/run_attribute_analysis.py`` (see :func:`build_parser`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence as SequenceT, Tuple

import numpy as np

from pytracking.analysis.evaluate import TrackerEvaluation
from pytracking.analysis.metrics import CurveSet

#: The 14 LaSOT attributes in the order of the toolkit's ``annos/att/<sequence>.txt`` columns:
#: (abbreviation, name). The toolkit spells the last one "Aspect Ration Change".
LASOT_ATTRIBUTES: Tuple[Tuple[str, str], ...] = (
    ("IV", "Illumination Variation"), ("POC", "Partial Occlusion"), ("DEF", "Deformation"),
    ("MB", "Motion Blur"), ("CM", "Camera Motion"), ("ROT", "Rotation"), ("BC", "Background Clutter"),
    ("VC", "Viewpoint Change"), ("SV", "Scale Variation"), ("FOC", "Full Occlusion"), ("FM", "Fast Motion"),
    ("OV", "Out-of-View"), ("LR", "Low Resolution"), ("ARC", "Aspect Ratio Change"),
)

#: Attributes of the synthetic videos shown by default (attributes.json holds a few more:
#: full_occlusion, cut_by_image, aspect_change).
SYNTHETIC_ATTRIBUTES: Tuple[str, ...] = ("occlusion", "distractors", "fast_motion", "scale_change",
                                         "out_of_view", "camera_motion")

#: Scores an attribute table can show (pytracking protocol, percent).
METRICS = ("AUC", "Precision", "NormPrecision")

#: Where the LaSOT attribute files are looked for, relative to the dataset root (first match wins).
LASOT_ATTRIBUTE_DIRS = ("annos/att", "att", "LaSOT_Evaluation_Toolkit/annos/att",
                        "../LaSOT_Evaluation_Toolkit/annos/att")


class AttributeDataError(ValueError):
    """Attribute annotations are missing or malformed; the message names the file and the fix."""


# ------------------------------------------------------------------------------------ loading
def find_lasot_attribute_dir(root: Optional[str], explicit: Optional[str] = None) -> Path:
    """The folder with LaSOT's ``<sequence>.txt`` attribute files.

    Args:
        root: the LaSOT root (``<root>/<class>/<class>-<n>/...``).
        explicit: a folder given by the user (``--attributes-dir``); used as it is.
    Raises:
        AttributeDataError listing the places searched.
    """
    if explicit:
        folder = Path(explicit).expanduser()
        if not folder.is_dir():
            raise AttributeDataError(f"--attributes-dir {folder} is not a folder")
        return folder
    searched = []
    if root:
        for relative in LASOT_ATTRIBUTE_DIRS:
            folder = (Path(root).expanduser() / relative).resolve()
            searched.append(str(folder))
            if folder.is_dir():
                return folder
    raise AttributeDataError(
        "LaSOT attribute annotations not found (searched: " + (", ".join(searched) or "no dataset root") + "). "
        "They come with the official LaSOT evaluation toolkit (LaSOT_Evaluation_Toolkit, folder annos/att, one "
        "<sequence>.txt with 14 comma-separated 0/1 flags each): copy that folder to <LaSOT root>/annos/att or pass "
        "--attributes-dir DIR.")


def read_lasot_attribute_file(path: Path) -> np.ndarray:
    """The 14 flags of one ``annos/att/<sequence>.txt`` as a bool array (flag > 0, as the toolkit)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AttributeDataError(f"cannot read LaSOT attribute file {path}: {exc.strerror}") from None
    tokens = [t for t in text.replace(",", " ").replace("\t", " ").split() if t]
    try:
        values = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        raise AttributeDataError(f"{path}: expected 14 comma-separated numbers, got {text.strip()[:80]!r}") from None
    if len(values) != len(LASOT_ATTRIBUTES):
        raise AttributeDataError(f"{path}: {len(values)} values, but LaSOT has {len(LASOT_ATTRIBUTES)} attributes "
                                 f"({', '.join(a for a, _ in LASOT_ATTRIBUTES)})")
    return values > 0


def load_lasot_attributes(folder: Path, sequence_names: Iterable[str]) -> Dict[str, Dict[str, bool]]:
    """``{sequence: {abbreviation: flag}}`` for the given sequences from the toolkit's attribute folder."""
    folder = Path(folder)
    names = list(sequence_names)
    missing = [n for n in names if not (folder / f"{n}.txt").is_file()]
    if missing:
        raise AttributeDataError(f"{folder}: no attribute file for {len(missing)} of {len(names)} sequences "
                                 f"(e.g. {', '.join(m + '.txt' for m in missing[:5])})")
    out: Dict[str, Dict[str, bool]] = {}
    for name in names:
        flags = read_lasot_attribute_file(folder / f"{name}.txt")
        out[name] = {abbr: bool(flag) for (abbr, _), flag in zip(LASOT_ATTRIBUTES, flags)}
    return out


def load_attribute_json(path: str) -> Dict[str, Dict[str, bool]]:
    """``{sequence: {attribute: bool}}`` from a JSON file of flag dicts or of attribute-name lists."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AttributeDataError(f"cannot read attributes file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise AttributeDataError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise AttributeDataError(f"{path}: expected an object {{sequence: {{attribute: bool}}}}")
    out: Dict[str, Dict[str, bool]] = {}
    for name, value in raw.items():
        if isinstance(value, dict):
            out[str(name)] = {str(k): bool(v) for k, v in value.items()}
        elif isinstance(value, (list, tuple)):
            out[str(name)] = {str(k): True for k in value}
        else:
            raise AttributeDataError(f"{path}: attributes of {name} must be an object or a list")
    return out


def attributes_from_sequences(sequences: Iterable) -> Dict[str, Dict[str, bool]]:
    """``Sequence.attributes`` of every sequence (numbers count as flags when non-zero)."""
    return {s.name: {str(k): bool(v) for k, v in (getattr(s, "attributes", None) or {}).items()} for s in sequences}


# -------------------------------------------------------------------------------------- table
def _subset(curves: CurveSet, mask: np.ndarray) -> CurveSet:
    names = [n for n, m in zip(curves.sequences, mask) if m]
    return CurveSet(protocol=curves.protocol, sequences=names, success=curves.success[mask],
                    precision=curves.precision[mask], norm_precision=curves.norm_precision[mask])


def subset_score(curves: CurveSet, mask: np.ndarray, metric: str = "AUC") -> float:
    """``metric`` (percent) over the sequences where ``mask`` is true; NaN for an empty subset."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return float("nan")
    return float(_subset(curves, mask).scores()[metric])


@dataclasses.dataclass
class AttributeTable:
    """Per-attribute scores of several trackers on the same sequences.

    Attributes:
        metric: ``'AUC'``, ``'Precision'`` or ``'NormPrecision'`` (pytracking protocol, percent).
        attributes: attribute keys, in display order.
        labels: attribute key -> display label (e.g. ``'POC'`` -> ``'Partial Occlusion'``).
        trackers: tracker names, in order.
        sequences: the evaluated sequence names.
        counts: attribute -> number of sequences that have it.
        overall: tracker -> score over all sequences.
        with_attribute / without_attribute: tracker -> attribute -> score of that subset (NaN if empty).
    """

    metric: str
    attributes: List[str]
    labels: Dict[str, str]
    trackers: List[str]
    sequences: List[str]
    counts: Dict[str, int]
    overall: Dict[str, float]
    with_attribute: Dict[str, Dict[str, float]]
    without_attribute: Dict[str, Dict[str, float]]

    def gain(self, better: str, base: str) -> Dict[str, float]:
        """attribute -> score(better) - score(base), plus ``'ALL'`` for the whole set."""
        for name in (better, base):
            if name not in self.with_attribute:
                raise KeyError(f"no tracker named '{name}' (known: {', '.join(self.trackers)})")
        out = {a: self.with_attribute[better][a] - self.with_attribute[base][a] for a in self.attributes}
        out["ALL"] = self.overall[better] - self.overall[base]
        return out


def attribute_table(evaluations: SequenceT[TrackerEvaluation], attributes: Mapping[str, Mapping[str, bool]],
                    attribute_names: Optional[SequenceT[str]] = None, metric: str = "AUC",
                    labels: Optional[Mapping[str, str]] = None) -> AttributeTable:
    """Score every tracker on every attribute subset (pytracking protocol curves).

    Args:
        evaluations: results of :func:`pytracking.analysis.evaluate.evaluate_tracker` with the
            pytracking protocol, all on the same sequences.
        attributes: sequence -> attribute -> flag; a sequence without an entry for an attribute
            does not have it.
        attribute_names: attributes to show (default: every attribute that occurs, sorted).
        metric: one of :data:`METRICS`.
        labels: optional display labels.
    Raises:
        ValueError: no pytracking curves, trackers on different sequences, unknown metric, or
            sequences without attribute annotations.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)}")
    if not evaluations:
        raise ValueError("no tracker to analyse")
    for ev in evaluations:
        if ev.pytracking is None:
            raise ValueError(f"{ev.name}: attribute analysis needs the pytracking protocol's per-sequence curves")
    sequences = list(evaluations[0].pytracking.sequences)
    for ev in evaluations[1:]:
        if list(ev.pytracking.sequences) != sequences:
            raise ValueError(f"{ev.name} was evaluated on other sequences than {evaluations[0].name}")
    unannotated = [s for s in sequences if s not in attributes]
    if unannotated:
        raise ValueError(f"{len(unannotated)} sequence(s) have no attribute annotation, e.g. {unannotated[:5]}")
    if attribute_names is None:
        attribute_names = sorted({a for s in sequences for a in attributes[s]})
    names = list(attribute_names)
    masks = {a: np.array([bool(attributes[s].get(a, False)) for s in sequences]) for a in names}
    table = AttributeTable(metric=metric, attributes=names, labels={a: (labels or {}).get(a, a) for a in names},
                           trackers=[ev.name for ev in evaluations], sequences=sequences,
                           counts={a: int(m.sum()) for a, m in masks.items()}, overall={},
                           with_attribute={}, without_attribute={})
    everything = np.ones(len(sequences), dtype=bool)
    for ev in evaluations:
        curves = ev.pytracking
        table.overall[ev.name] = subset_score(curves, everything, metric)
        table.with_attribute[ev.name] = {a: subset_score(curves, m, metric) for a, m in masks.items()}
        table.without_attribute[ev.name] = {a: subset_score(curves, ~m, metric) for a, m in masks.items()}
    return table


def _fmt(value: float, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def format_attribute_table(table: AttributeTable, gains: SequenceT[Tuple[str, str]] = ()) -> str:
    """Plain-text table: one row per attribute (and ALL), one column per tracker, then the gains."""
    from pytracking.analysis.report import format_table

    header = ["Attribute", "Seqs"] + [f"{t} {table.metric}" for t in table.trackers] + \
             [f"{b} - {a}" for b, a in gains]
    gain_values = [table.gain(b, a) for b, a in gains]
    rows = []
    for attr in table.attributes:
        label = table.labels.get(attr, attr)
        name = attr if label == attr else f"{label} ({attr})"
        rows.append([name, str(table.counts[attr])] + [_fmt(table.with_attribute[t][attr]) for t in table.trackers]
                    + [_fmt(g[attr], signed=True) for g in gain_values])
    rows.append(["ALL", str(len(table.sequences))] + [_fmt(table.overall[t]) for t in table.trackers]
                + [_fmt(g["ALL"], signed=True) for g in gain_values])
    return format_table([header], rows)


def table_to_json(table: AttributeTable, gains: SequenceT[Tuple[str, str]] = (), dataset: str = "") -> Dict:
    """JSON-ready dict of the table (NaN becomes null)."""
    def clean(value: float):
        return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value

    return {
        "dataset": dataset, "metric": table.metric, "trackers": table.trackers, "sequences": len(table.sequences),
        "overall": {t: clean(v) for t, v in table.overall.items()},
        "attributes": [
            {"attribute": a, "label": table.labels.get(a, a), "sequences": table.counts[a],
             "with": {t: clean(table.with_attribute[t][a]) for t in table.trackers},
             "without": {t: clean(table.without_attribute[t][a]) for t in table.trackers},
             "gains": {f"{b}-{base}": clean(table.gain(b, base)[a]) for b, base in gains}}
            for a in table.attributes],
        "gains_overall": {f"{b}-{base}": clean(table.gain(b, base)["ALL"]) for b, base in gains},
    }


def plot_gain(table: AttributeTable, gains: SequenceT[Tuple[str, str]], out_path: str, title: str = "") -> str:
    """Bar plot of the per-attribute gain ``score(B) - score(A)`` (the paper's Fig. 3); saves a PNG.

    One group of bars per attribute (one bar per gain pair), the overall gain as a dashed line;
    each bar is labelled with its value and each attribute with its sequence count.
    """
    import matplotlib
    matplotlib.use("Agg", force=True)  # file output only; never needs a display
    import matplotlib.pyplot as plt

    if not gains:
        raise ValueError("plot_gain needs at least one (better, base) pair")
    attrs = table.attributes
    x = np.arange(len(attrs), dtype=np.float64)
    width = 0.8 / len(gains)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(attrs) + 2.0), 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (better, base) in enumerate(gains):
        values = table.gain(better, base)
        heights = np.array([values[a] for a in attrs], dtype=np.float64)
        offset = (k - (len(gains) - 1) / 2) * width
        colour = colours[k % len(colours)]
        bars = ax.bar(x + offset, np.nan_to_num(heights), width * 0.9, color=colour,
                      label=f"{better} - {base} (all: {values['ALL']:+.2f})")
        for bar, h in zip(bars, heights):
            if math.isfinite(h):
                ax.annotate(f"{h:+.1f}", (bar.get_x() + bar.get_width() / 2, h), ha="center",
                            va="bottom" if h >= 0 else "top", fontsize=7,
                            xytext=(0, 2 if h >= 0 else -2), textcoords="offset points")
        ax.axhline(values["ALL"], color=colour, linestyle="--", linewidth=1)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([f"{table.labels.get(a, a) if len(attrs) <= 8 else a}\n({table.counts[a]})" for a in attrs],
                       rotation=0 if len(attrs) <= 8 else 45, fontsize=8)
    ax.set_ylabel(f"{table.metric} gain [points]")
    ax.set_title(title or f"{table.metric} gain per attribute ({len(table.sequences)} sequences)")
    ax.grid(True, axis="y", linestyle=":")
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(out_path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return str(out_path)


# ------------------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_attribute_analysis.py",
        description="Per-attribute scores (pytracking protocol AUC by default) of one or more trackers, and the "
                    "gain of one tracker over another per attribute (table and bar plot).",
        epilog="Example: run_attribute_analysis.py --dataset lasot --dataset-root /data/LaSOT "
               "--results-dir results/transt/transt --name FLT --results-dir results/transt/slt --name SLT "
               "--gain SLT:FLT --plot gain.png")
    parser.add_argument("--dataset", required=True, help="lasot, synthetic, or another dataset name whose sequences "
                                                         "carry attributes (or use --attributes-file)")
    parser.add_argument("--dataset-root", default=None, help="dataset root (default: the environment setting)")
    parser.add_argument("--split", default=None, help="synthetic split (default: test)")
    parser.add_argument("--results-dir", action="append", required=True, metavar="DIR",
                        help="folder with <sequence>.txt result files; repeat for several trackers")
    parser.add_argument("--name", action="append", default=[], metavar="NAME",
                        help="display name of the matching --results-dir (default: folder name)")
    parser.add_argument("--gain", action="append", default=[], metavar="B:A",
                        help="add the column / bars score(B) - score(A) (names as given by --name); repeatable. "
                             "Default with --plot and several trackers: LAST:FIRST")
    parser.add_argument("--metric", default="AUC", choices=METRICS)
    parser.add_argument("--attributes", default=None, metavar="A,B,...",
                        help="attributes to show (default: LaSOT's 14, the 6 main synthetic ones, else all)")
    parser.add_argument("--attributes-dir", default=None, metavar="DIR",
                        help="LaSOT: the toolkit's annos/att folder (default: searched under the dataset root)")
    parser.add_argument("--attributes-file", default=None, metavar="JSON",
                        help="attributes as {sequence: {attribute: bool}} (overrides the dataset's own)")
    parser.add_argument("--sequence-list", default=None, metavar="FILE",
                        help="analyse only the sequences named in FILE (one per line, '#' comments)")
    parser.add_argument("--frame-interval", type=int, default=1, metavar="I",
                        help="results of the every-I-th-frame protocol: score frames 0, I, 2I, ... only")
    parser.add_argument("--skip-missing", action="store_true",
                        help="evaluate the sequences every results folder has, instead of failing")
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="bar plot of the gain(s)")
    parser.add_argument("--json", default=None, metavar="FILE.json", help="write the table as JSON")
    return parser


def _parse_gains(specs: SequenceT[str], names: SequenceT[str]) -> List[Tuple[str, str]]:
    pairs = []
    for spec in specs:
        if ":" not in spec:
            raise AttributeDataError(f"--gain {spec}: expected B:A (two tracker names)")
        better, base = spec.split(":", 1)
        for n in (better, base):
            if n not in names:
                raise AttributeDataError(f"--gain {spec}: no tracker named '{n}' (names: {', '.join(names)})")
        pairs.append((better, base))
    return pairs


def run(args: argparse.Namespace, out=None, err=None) -> AttributeTable:
    """Execute the analysis described by parsed arguments; returns the table."""
    from pytracking.analysis.cli import AnalysisError, _display_names, load_results, load_sequences
    from pytracking.analysis.evaluate import EvaluationError, evaluate_tracker

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if args.frame_interval < 1:
        raise AnalysisError("--frame-interval must be >= 1")
    dataset, sequences = load_sequences(args, split=args.split)

    # Attributes first: a missing annotation is cheaper to report before evaluating anything.
    labels: Dict[str, str] = {}
    default_names: Optional[List[str]] = None
    if args.attributes_file:
        attributes = load_attribute_json(args.attributes_file)
    elif dataset == "lasot":
        root = args.dataset_root
        if root is None:
            from ltr.admin.environment import env_settings
            root = env_settings().lasot_dir
        folder = find_lasot_attribute_dir(root, args.attributes_dir)
        attributes = load_lasot_attributes(folder, [s.name for s in sequences])
        labels = dict(LASOT_ATTRIBUTES)
        default_names = [a for a, _ in LASOT_ATTRIBUTES]
        print(f"LaSOT attributes from {folder}", file=err)
    else:
        attributes = attributes_from_sequences(sequences)
        if not any(attributes.values()):
            raise AttributeDataError(f"the {dataset} sequences carry no attributes (synthetic: <root>/<split>/"
                                     f"attributes.json); pass --attributes-file JSON")
        present = {a for flags in attributes.values() for a in flags}
        if dataset == "synthetic" and set(SYNTHETIC_ATTRIBUTES) <= present:
            default_names = list(SYNTHETIC_ATTRIBUTES)
    names_to_show = [a.strip() for a in args.attributes.split(",") if a.strip()] if args.attributes else default_names

    display = _display_names(args.results_dir, args.name)
    gains = _parse_gains(args.gain, display)
    if not gains and args.plot and len(display) >= 2:
        gains = [(display[-1], display[0])]
    loaded, common = load_results(args, sequences, display, err)
    try:
        evaluations = [evaluate_tracker(common, t.boxes, name=t.name, protocols=("pytracking",),
                                        frame_interval=args.frame_interval) for t in loaded]
        table = attribute_table(evaluations, attributes, names_to_show, metric=args.metric, labels=labels)
    except (EvaluationError, ValueError) as exc:
        raise AnalysisError(str(exc)) from None

    print(f"{dataset}: {len(common)} sequences, {table.metric} per attribute (pytracking protocol, %)", file=out)
    print(format_attribute_table(table, gains), file=out)
    if args.json:
        Path(args.json).expanduser().parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(table_to_json(table, gains, dataset), indent=2) + "\n",
                                   encoding="utf-8")
        print(f"wrote {args.json}", file=out)
    if args.plot:
        if not gains:
            raise AnalysisError("--plot shows gains: give two trackers (and optionally --gain B:A)")
        title = f"{table.metric} gain per attribute on {dataset} ({len(common)} sequences)"
        print(f"wrote {plot_gain(table, gains, args.plot, title=title)}", file=out)
    return table


def main(argv: Optional[SequenceT[str]] = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 bad input, 2 bad arguments)."""
    from pytracking.analysis.cli import AnalysisError

    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (AnalysisError, AttributeDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["LASOT_ATTRIBUTES", "SYNTHETIC_ATTRIBUTES", "METRICS", "AttributeDataError", "AttributeTable",
           "attribute_table", "subset_score", "format_attribute_table", "table_to_json", "plot_gain",
           "find_lasot_attribute_dir", "read_lasot_attribute_file", "load_lasot_attributes",
           "load_attribute_json", "attributes_from_sequences", "build_parser", "run", "main"]
