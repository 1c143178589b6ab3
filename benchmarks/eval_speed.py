"""Evaluation speed against the got10k toolkit on LaSOT-scale data: whole processes and metrics.

    python benchmarks/eval_speed.py [--sequences 280] [--frames 2500] [--repeats 5]
                                    [--process-repeats 3] [--data-dir DIR] [--json FILE]

**Whole process** (what a user waits for): a fake LaSOT folder (annotations only:
``groundtruth.txt``, ``full_occlusion.txt``, ``out_of_view.txt``) and a results folder
(``%.4f`` comma-separated boxes, as the trackers here write them) are written to ``--data-dir``
(default: a temporary folder), then timed, best of ``--process-repeats`` (wall and CPU time):

* ``python pytracking/run_analysis.py --dataset lasot ...`` (AUC / Precision / NormPrecision;
  AO needs the image size, which an annotations-only folder lacks),
* the same with the annotation cache (``SLT_ANNOTATION_CACHE_DIR``) filled by a first run,
* ``benchmarks/toolkit_ao.py``: the got10k toolkit reading the same ground truth and result files
  with its own reader and computing AO (``--toolkit-python`` is a Python with ``got10k``; by
  default this one, where ``pip install -e .[test]`` installs it).

With ``--first-frames`` each sequence also gets its first frame (a black JPEG of the sequence's
image size), so both sides compute AO clipped to the image and the AOs are compared.

**Metrics** on in-memory arrays (``--skip-metrics`` leaves them out). Fake results are generated in memory (random-walk ground truth, noisy predictions with
off-image boxes, zero and negative sizes, cover labels and invisible frames), so no dataset
is needed. Timed on the same arrays:

* AO (GOT-10k protocol): ``got10k_ious`` vs the toolkit's per-sequence ``rect_iou`` with the
  image bound, cover filtering, pooling and ``ExperimentGOT10k._evaluate`` (what its report does
  after loading the files).
* AUC: ``pytracking_curves`` (success, precision and normalised precision curves) vs the
  toolkit's OTB-style per-sequence ``rect_iou`` + ``center_error`` + ``ExperimentOTB._calc_curves``.
* ``pysot_curves`` for reference (no toolkit counterpart).

Timings are the median of ``--repeats`` runs after one warm-up run, on one thread.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")  # the toolkit imports matplotlib

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import command_line, cpu_model, load_average, usable_cores  # noqa: E402
from pytracking.analysis.metrics import got10k_ious, pysot_curves, pytracking_curves  # noqa: E402


def make_data(sequences: int, frames: int, seed: int) -> Dict[str, List]:
    """LaSOT-scale fake ground truth and predictions (xywh), covers, visibility and image sizes."""
    rng = np.random.default_rng(seed)
    data: Dict[str, List] = {"gt": [], "pred": [], "cover": [], "visible": [], "image_wh": []}
    for _ in range(sequences):
        width, height = float(rng.integers(480, 1920)), float(rng.integers(360, 1080))
        size = np.exp(np.cumsum(rng.normal(0, 0.01, (frames, 2)), axis=0)) * rng.uniform(20, 200, 2)
        centre = np.cumsum(rng.normal(0, 3, (frames, 2)), axis=0) + [width / 2, height / 2]
        gt = np.c_[centre - size / 2, size]
        pred = gt + rng.normal(0, 0.1, (frames, 4)) * np.c_[size, size]
        lost = rng.random(frames) < 0.05
        pred[lost, :2] += rng.uniform(-500, 500, (int(lost.sum()), 2))
        pred[rng.random(frames) < 0.01, 2] = 0.0
        pred[rng.random(frames) < 0.005, 3] = -5.0
        cover = rng.integers(0, 9, frames)
        cover[0] = 8
        data["gt"].append(gt)
        data["pred"].append(pred)
        data["cover"].append(cover)
        data["visible"].append(cover > 0)
        data["image_wh"].append((width, height))
    return data


REPO = Path(__file__).resolve().parents[1]


def write_lasot_set(root: Path, sequences: int, frames: int, seed: int,
                    first_frames: bool = False) -> Dict[str, object]:
    """A fake LaSOT test folder and one tracker's results folder under ``root``.

    Sequence names are the official test names (so ``--dataset lasot`` finds them without a
    sequence list); ground truth is written as integers like LaSOT's, results with 4 decimals
    like :func:`pytracking.evaluation.results_io.format_boxes`. Returns the paths and names.
    """
    from pytracking.evaluation.lasotdataset import lasot_test_sequence_names

    names = lasot_test_sequence_names()
    if sequences > len(names):
        raise SystemExit(f"--sequences {sequences}: LaSOT's test set has {len(names)} sequence names")
    names = names[:sequences]
    data = make_data(sequences, frames, seed)
    rng = np.random.default_rng(seed + 1)
    dataset_root, results_dir = root / "lasot", root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    for name, gt, pred, visible, (width, height) in zip(names, data["gt"], data["pred"], data["visible"],
                                                        data["image_wh"]):
        seq_dir = dataset_root / name.rsplit("-", 1)[0] / name
        seq_dir.mkdir(parents=True, exist_ok=True)
        (seq_dir / "groundtruth.txt").write_text(
            "\n".join(",".join(str(int(v)) for v in row) for row in np.round(gt)) + "\n")
        out_of_view = rng.random(frames) < 0.02
        out_of_view[0] = False
        (seq_dir / "full_occlusion.txt").write_text(",".join(str(int(v)) for v in ~visible))
        (seq_dir / "out_of_view.txt").write_text(",".join(str(int(v)) for v in out_of_view) + "\n")
        (results_dir / f"{name}.txt").write_text(
            "\n".join(",".join(f"{v:.4f}" for v in row) for row in pred) + "\n")
        if first_frames:
            from PIL import Image
            (seq_dir / "img").mkdir(exist_ok=True)
            Image.new("RGB", (int(width), int(height))).save(seq_dir / "img" / "00000001.jpg", quality=50)
    # A subset needs naming (the full test set is the default list).
    sequence_list = root / "sequences.txt"
    sequence_list.write_text("\n".join(names) + "\n")
    return {"dataset_root": str(dataset_root), "results_dir": str(results_dir), "sequences": sequences,
            "sequence_list": str(sequence_list) if sequences < len(lasot_test_sequence_names()) else None,
            "frames_per_sequence": frames, "first_frames": first_frames}


def time_process(command: Sequence[str], repeats: int, env: Optional[Dict[str, str]] = None) -> Dict:
    """Best-of-``repeats`` wall and CPU (user + system) time of a command, and its last output.

    CPU time is the child's own (the change in this process's children rusage), which a busy
    machine inflates much less than wall time.
    """
    walls, cpus, stdout = [], [], ""
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(list(command), capture_output=True, env=env, cwd=str(REPO))
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        stdout = proc.stdout.decode()
    return {"wall_s": min(walls), "walls_s": walls, "cpu_s": min(cpus), "cpus_s": cpus, "stdout": stdout}


def toolkit_python(requested: Optional[str]) -> Optional[str]:
    """A Python that can import got10k: ``requested`` when given, else this one; None if it cannot."""
    python = requested or sys.executable
    if Path(python).exists() and subprocess.run(
            [python, "-c", "import got10k.experiments.got10k"], capture_output=True,
            env=dict(os.environ, MPLBACKEND="Agg")).returncode == 0:
        return python
    return None


def run_processes(args: argparse.Namespace) -> Dict:
    """The whole-process rows: ours (plain and with a warm annotation cache) and the toolkit's AO."""
    own_dir = args.data_dir is None
    root = Path(tempfile.mkdtemp(prefix="eval_speed_")) if own_dir else Path(args.data_dir)
    try:
        marker = root / "set.json"
        wanted = {"sequences": args.sequences, "frames_per_sequence": args.frames, "seed": args.seed,
                  "first_frames": args.first_frames}
        info = json.loads(marker.read_text()) if marker.is_file() else None
        if info is None or any(info.get(k) != v for k, v in wanted.items()):
            info = write_lasot_set(root, args.sequences, args.frames, args.seed, args.first_frames)
            info["seed"] = args.seed
            marker.write_text(json.dumps(info))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLT_ANNOTATION_CACHE")}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
        def ours(json_name: str) -> List[str]:
            command = [sys.executable, str(REPO / "pytracking" / "run_analysis.py"), "--dataset", "lasot",
                       "--dataset-root", info["dataset_root"], "--results-dir", info["results_dir"],
                       "--json", str(root / json_name)]
            return command + (["--sequence-list", info["sequence_list"]] if info.get("sequence_list") else [])

        cache_dir = root / "annotation_cache"
        shutil.rmtree(cache_dir, ignore_errors=True)
        cached_env = dict(env, SLT_ANNOTATION_CACHE_DIR=str(cache_dir))
        contenders = [
            ("run_analysis.py (pytracking protocol" + (" + AO)" if args.first_frames else ")"),
             ours("ours.json"), env, "ours.json"),
            ("run_analysis.py, annotation cache warm", ours("ours_cached.json"), cached_env, "ours_cached.json"),
        ]
        python = toolkit_python(args.toolkit_python)
        if python is not None:
            command = [python, str(REPO / "benchmarks" / "toolkit_ao.py"), info["dataset_root"], info["results_dir"]]
            if args.first_frames:
                command.append("--bound-from-first-frame")
            contenders.append(("got10k toolkit AO (benchmarks/toolkit_ao.py)", command, env, None))
        time_process(contenders[1][1], 1, cached_env)  # fills the cache
        # Rounds of one run each (a, b, c, a, b, c, ...): background load hits every side alike.
        runs = [[time_process(command, 1, run_env) for _, command, run_env, _ in contenders]
                for _ in range(args.process_repeats)]
        rows = []
        for i, (task, command, _, json_name) in enumerate(contenders):
            walls = [r[i]["wall_s"] for r in runs]
            cpus = [r[i]["cpu_s"] for r in runs]
            row = {"task": task, "command": " ".join(command[1:]), "wall_s": min(walls), "walls_s": walls,
                   "cpu_s": min(cpus), "cpus_s": cpus}
            if json_name is not None:
                scores = json.loads((root / json_name).read_text())
                row.update(AUC=scores.get("AUC"), AO=scores.get("AO"), protocols=scores.get("protocols"))
            else:
                row["AO"] = float(runs[-1][i]["stdout"].split()[-1])
                row["python"] = python
            rows.append(row)
        rows[1]["command"] = "SLT_ANNOTATION_CACHE_DIR=DIR " + rows[1]["command"]
        rows[1]["same_scores_as_uncached"] = rows[1].pop("protocols") == rows[0].pop("protocols")
        toolkit = rows[2] if python is not None else None
        if toolkit is not None:
            for row in rows[:2]:
                row["over_toolkit_wall"] = row["wall_s"] / toolkit["wall_s"]
                row["over_toolkit_cpu"] = row["cpu_s"] / toolkit["cpu_s"]
                if row.get("AO") is not None:
                    row["abs_diff_AO_points"] = abs(row["AO"] - toolkit["AO"])
        return {"data": {k: info[k] for k in ("sequences", "frames_per_sequence", "first_frames")},
                "repeats": args.process_repeats, "rows": rows,
                "toolkit": None if toolkit is None else python,
                "note": None if toolkit is not None else
                "got10k toolkit not found: pip install -e .[test] (or pip install got10k), or pass --toolkit-python PYTHON"}
    finally:
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)


def median_time(fn: Callable[[], object], repeats: int, prepare: Callable[[], object] = None) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs (after one warm-up); ``prepare`` runs untimed."""
    times = []
    for i in range(repeats + 1):
        arg = prepare() if prepare is not None else None
        start = time.perf_counter()
        fn() if arg is None else fn(arg)
        elapsed = time.perf_counter() - start
        if i > 0:
            times.append(elapsed)
    return float(np.median(times))


def machine_info() -> Dict[str, str]:
    """CPU model, cores and library versions of this machine."""
    cpu, usable = cpu_model("unknown"), usable_cores()
    try:
        from importlib.metadata import version
        got10k_version = version("got10k")
    except Exception:
        got10k_version = "not installed"
    return {"cpu": cpu, "cores": f"{os.cpu_count()} ({usable} usable)", "python": platform.python_version(),
            "numpy": np.__version__, "got10k": got10k_version, "platform": platform.platform(),
            "threads": os.environ.get("OMP_NUM_THREADS", "")}


def run(sequences: int, frames: int, repeats: int, seed: int) -> Dict:
    """Time every contender; returns a JSON-ready dict with rows and machine info."""
    data = make_data(sequences, frames, seed)
    gt, pred, cover, wh = data["gt"], data["pred"], data["cover"], data["image_wh"]
    rows = []

    ours_ao = lambda: got10k_ious(pred, gt, wh, covers=cover).scores()["AO"]  # noqa: E731
    ao_value = ours_ao()
    rows.append({"task": "AO (GOT-10k protocol)", "ours_s": median_time(ours_ao, repeats)})

    toolkit_ao_value = None
    try:
        from got10k.experiments.got10k import ExperimentGOT10k
        from got10k.experiments.otb import ExperimentOTB
        from got10k.utils.metrics import center_error, rect_iou
    except ImportError:
        rect_iou = None

    if rect_iou is not None:
        def copies():
            # rect_iou clips its inputs in place; fresh arrays stand in for the toolkit's file reads
            return [(p[1:].copy(), g[1:].copy()) for p, g in zip(pred, gt)]

        def toolkit_ao(pairs):
            ious = [rect_iou(p, g, bound=b)[c[1:] > 0] for (p, g), b, c in zip(pairs, wh, cover)]
            return ExperimentGOT10k._evaluate(None, np.concatenate(ious), np.array([]))[0]

        toolkit_ao_value = toolkit_ao(copies())
        rows[-1]["toolkit_s"] = median_time(toolkit_ao, repeats, prepare=copies)
        rows[-1]["abs_diff_points"] = abs(ao_value - 100 * toolkit_ao_value)

    ours_auc = lambda: pytracking_curves(pred, gt, target_visible=data["visible"], lasot_style=True).scores()  # noqa: E731
    rows.append({"task": "AUC+Prec+NormPrec (pytracking protocol)", "ours_s": median_time(ours_auc, repeats)})
    if rect_iou is not None:
        otb = types.SimpleNamespace(nbins_iou=21, nbins_ce=51)

        def toolkit_auc():
            curves = [ExperimentOTB._calc_curves(otb, rect_iou(p, g), center_error(p, g)) for p, g in zip(pred, gt)]
            return float(np.mean([c[0] for c in curves]))

        rows[-1]["toolkit_s"] = median_time(toolkit_auc, repeats)
        rows[-1]["note"] = "toolkit: OTB-style per-sequence curves (different protocol, same work)"

    ours_pysot = lambda: pysot_curves(pred, gt, visible=data["visible"]).scores()  # noqa: E731
    rows.append({"task": "AUC+Prec+NormPrec (pysot protocol)", "ours_s": median_time(ours_pysot, repeats)})

    for row in rows:
        if "toolkit_s" in row:
            row["speedup"] = row["toolkit_s"] / row["ours_s"]
    return {"sequences": sequences, "frames_per_sequence": frames, "repeats": repeats, "rows": rows,
            "AO_ours": ao_value, "AO_toolkit": None if toolkit_ao_value is None else 100 * toolkit_ao_value,
            "machine": machine_info()}


def format_process_report(process: Dict) -> str:
    """The whole-process table."""
    data = process["data"]
    lines = [f"Whole process: {data['sequences']} sequences x {data['frames_per_sequence']} frames "
             f"({'annotations, first frames' if data['first_frames'] else 'annotations only'}), "
             f"best of {process['repeats']}",
             f"{'process':<46} | {'wall [s]':>8} | {'CPU [s]':>7} | {'/toolkit wall':>13} | {'/toolkit CPU':>12} | "
             f"{'AUC':>7} | {'AO':>7} | {'|dAO| [pts]':>11}",
             "-" * 132]
    for row in process["rows"]:
        ratio_wall = f"{row['over_toolkit_wall']:.2f}" if "over_toolkit_wall" in row else "-"
        ratio_cpu = f"{row['over_toolkit_cpu']:.2f}" if "over_toolkit_cpu" in row else "-"
        auc = f"{row['AUC']:.3f}" if row.get("AUC") is not None else "-"
        ao = f"{row['AO']:.3f}" if row.get("AO") is not None else "n/a"
        diff = f"{row['abs_diff_AO_points']:.1e}" if "abs_diff_AO_points" in row else "-"
        lines.append(f"{row['task']:<46} | {row['wall_s']:>8.3f} | {row['cpu_s']:>7.3f} | {ratio_wall:>13} | "
                     f"{ratio_cpu:>12} | {auc:>7} | {ao:>7} | {diff:>11}")
    if process.get("note"):
        lines.append(f"note: {process['note']}")
    return "\n".join(lines)


def format_report(result: Dict) -> str:
    """The table printed by the script."""
    lines = [f"{result['sequences']} sequences x {result['frames_per_sequence']} frames, "
             f"median of {result['repeats']} runs",
             f"{'task':<42} | {'ours [s]':>9} | {'toolkit [s]':>11} | {'speed-up':>8} | {'|dAO| [pts]':>11}",
             "-" * 93]
    for row in result["rows"]:
        toolkit = f"{row['toolkit_s']:.4f}" if "toolkit_s" in row else "-"
        speedup = f"{row['speedup']:.2f}x" if "speedup" in row else "-"
        diff = f"{row['abs_diff_points']:.2e}" if "abs_diff_points" in row else "-"
        lines.append(f"{row['task']:<42} | {row['ours_s']:>9.4f} | {toolkit:>11} | {speedup:>8} | {diff:>11}")
    machine = result["machine"]
    lines.append("")
    lines.append(f"machine: {machine['cpu']}, {machine['cores']} cores, python {machine['python']}, "
                 f"numpy {machine['numpy']}, got10k {machine['got10k']}, OMP_NUM_THREADS={machine['threads']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=280)
    parser.add_argument("--frames", type=int, default=2500)
    parser.add_argument("--repeats", type=int, default=5, help="metric timings: median of this many runs")
    parser.add_argument("--process-repeats", type=int, default=3, help="whole processes: best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="where the fake LaSOT set is written (kept and reused); default: a temporary folder")
    parser.add_argument("--first-frames", action="store_true",
                        help="also write each sequence's first frame so both sides compute AO clipped to the image")
    parser.add_argument("--toolkit-python", default=None, metavar="PYTHON", help="a Python with got10k installed")
    parser.add_argument("--skip-metrics", action="store_true", help="time the whole processes only")
    parser.add_argument("--skip-process", action="store_true", help="time the in-memory metrics only")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    load_start = load_average()
    result: Dict = {"command": command_line("eval_speed.py", argv), "machine": machine_info()}
    if not args.skip_process:
        result["process"] = run_processes(args)
        print(format_process_report(result["process"]))
        print()
    if not args.skip_metrics:
        result.update(run(args.sequences, args.frames, args.repeats, args.seed))
        print(format_report(result))
    else:
        machine = result["machine"]
        print(f"machine: {machine['cpu']}, {machine['cores']} cores, python {machine['python']}, "
              f"numpy {machine['numpy']}, got10k {machine['got10k']}, OMP_NUM_THREADS={machine['threads']}")
    result["machine"]["load_average"] = load_start
    result["machine"]["load_average_end"] = load_average()
    print(f"load average: {load_start} at the start, {result['machine']['load_average_end']} at the end")
    print(f"command: {result['command']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
