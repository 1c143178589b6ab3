"""The main job: frame-level vs sequence-level training of a tiny tracker on synthetic videos.

    python ltr/run_experiment.py slt_vs_flt --tracker siamrpnpp [--seeds 0 1 2] [--out DIR] [--ablation]
    python ltr/run_experiment.py slt_vs_flt --tracker transt --set temperature=2 --set samples_per_episode=3

Steps (each cached where it can be, so reruns are cheap):
 1. write the held-out synthetic test split in GOT-10k layout (``<out>/data/test``);
 2. frame-level train the tiny tracker from scratch for ``--flt-iterations`` (the FLT start,
    ``checkpoints/flt_start.pth``; reused when it exists with the same recipe);
 3. from that checkpoint, run the arms one after the other, each with the same wall-time budget
    on the same threads: (a) more FLT, (b) SLT; ``--ablation`` adds the paper's Table 5 arms
    (:data:`ARMS`: +SS, the frame-level objective on the sampling rollout's crops; +SS+SO, the
    self-critical term in place of the classification loss; +SS+SO+SA, frame-interval
    augmentation on, which is the full SLT arm);
 4. track the held-out test split with each checkpoint through the shared checkpoint evaluator
    (:func:`pytracking.evaluation.checkpoint_eval.evaluate_checkpoint`) and print AO / SR50 /
    SR75 / AUC.

Every field of the arms' training settings can be changed with ``--set FIELD=VALUE`` (as for
``ltr/run_training.py``): it applies to every arm whose setting has the field (``temperature``
to the SLT arms, ``synthetic_train_overrides`` to all); an arm's own overrides win (+SS keeps its
SCST weight 0).

Outputs under ``--out``: ``checkpoints/<arm>.pth`` (project format), ``results/<arm>/`` result
files, ``results.json`` and ``success_plot.png``; with several seeds, one ``seed<S>/`` folder each
and the paired summary in ``results.json``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
from tqdm import tqdm

from ltr.admin import config
from ltr.admin.config import ConfigError
from ltr.admin.report import describe_machine, start_report
from ltr.admin.seeding import seed_everything
from ltr.admin.settings import Settings

#: How this experiment is started (for the rerun command in its records).
SCRIPT = "ltr/run_experiment.py slt_vs_flt"


@dataclass(frozen=True)
class Arm:
    """One arm of Table 5: the kind of training setting it runs (``'flt'``: the tracker's ``tiny``
    setting, ``'slt'``: its ``slt_tiny``) and the fields it changes there (``--set`` style)."""

    kind: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""


#: The arms, in the order they run. The loss each SLT arm trains is the tracker's loss table
#: (docs/slt.md): SCST weight 0 is +SS, the frame-level objective on the sampled crops.
ARMS: Dict[str, Arm] = {
    "flt_more": Arm("flt", {}, "FLT-continue"),
    "ss": Arm("slt", {"scst_weight": 0.0, "interval_prob": 0.0}, "+SS"),
    "ss_so": Arm("slt", {"interval_prob": 0.0}, "+SS+SO"),
    "slt": Arm("slt", {}, "SLT (+SS+SO+SA)"),
}
#: The setting each kind of arm runs.
ARM_SETTINGS = {"flt": "tiny", "slt": "slt_tiny"}
#: Final factor of the FLT start's cosine schedule for recipes that do not name one.
DEFAULT_FINAL_LR_FACTOR = 0.05
#: FLT start length per tracker (iterations of its tiny FLT recipe), unless --flt-iterations.
FLT_START_ITERATIONS = {"siamrpnpp": 1200, "siamattn": 600, "transt": 1200, "trdimp": 600, "ostrack": 1200}
ARM_LABELS = {"flt_start": "FLT start", "flt_equal_frames": "FLT-continue, equal frames with grad",
              **{name: arm.label for name, arm in ARMS.items()}}


def setting_module(tracker: str, name: str):
    try:
        return importlib.import_module(f"ltr.train_settings.{tracker}.{name}")
    except ModuleNotFoundError as error:
        raise SystemExit(f"Tracker '{tracker}' has no '{name}' training setting "
                         f"(ltr/train_settings/{tracker}/{name}.py): {error}")


def make_settings(module, project: str, workdir: Path, seed: int, checkpoint: Optional[str],
                  assignments: Sequence[str] = (), overrides: Optional[Mapping[str, Any]] = None) -> Settings:
    """Settings of one training run of setting ``module``, after seeding the global generators
    with ``seed`` (the random initial weights and any global draws while the trainer is built
    follow it).

    ``assignments`` (``FIELD=VALUE``) apply where the setting has the field (source 'command
    line'); ``overrides`` (an arm's table) are set last and win.
    """
    seed_everything(seed)
    settings = Settings(schema=module.FIELDS)
    settings.env.checkpoints_dir = str(workdir / "train")
    settings.module_name, settings.script_name = module.__name__.split(".")[-2:]
    settings.project_path = project
    settings.seed = seed
    settings.device = "cpu"
    settings.checkpoint = checkpoint
    settings.resume = False
    settings.apply_assignments([a for a in assignments if a.partition("=")[0].strip() in settings])
    for name, value in (overrides or {}).items():
        settings.set(name, value, config.CODE)
    module.configure(settings)
    return settings


def make_arm_settings(args, arm: str, workdir: Path, seed: int, start: Path) -> Settings:
    """Settings of one arm: every arm of a seed starts from the FLT start ``start`` under one arm
    seed (``seed + 1000``, so the arms train on other synthetic videos than the FLT start did)."""
    spec = ARMS.get(arm, Arm("flt"))
    module = setting_module(args.tracker, ARM_SETTINGS[spec.kind])
    return make_settings(module, arm, workdir, seed + 1000, str(start), args.assignments, spec.overrides)


def check_assignments(parser: argparse.ArgumentParser, tracker: str, assignments: Sequence[str]) -> None:
    """Every ``--set`` names a field of at least one arm's setting and parses there (else exit 2)."""
    schemas = {kind: setting_module(tracker, name).FIELDS for kind, name in ARM_SETTINGS.items()}
    union = {**schemas["flt"], **schemas["slt"]}
    try:
        for text in assignments:
            name = text.partition("=")[0].strip()
            config.parse_assignment(text, schemas["slt"] if name in schemas["slt"] else union)
    except ConfigError as error:
        parser.error(str(error))


def cosine(final_factor: float):
    return lambda p: final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * p))


def warmup_final_factor(flt_settings: Settings) -> float:
    """Where the FLT start's cosine schedule ends, relative to the FLT recipe's learning rates."""
    value = getattr(flt_settings, "final_lr_factor", None)
    return float(DEFAULT_FINAL_LR_FACTOR if value is None else value)


def arm_lr_factor(args, kind: str, settings: Settings) -> float:
    """Factor on the recipe's learning rates (all parameter groups) for an arm.

    FLT arms continue at the FLT start's final rates (``--flt-lr`` names the base rate instead);
    SLT arms use the SLT recipe's rates (``--slt-lr`` names the base rate instead).
    """
    wanted = args.flt_lr if kind == "flt" else args.slt_lr
    if wanted is not None:
        return wanted / settings.lr
    return warmup_final_factor(settings) if kind == "flt" else 1.0


#: What an arm's ``--budget-s`` counts (``--budget-clock``): wall seconds, or the seconds of CPU
#: time this process spends (equal to wall seconds on an otherwise idle core, and unchanged when
#: other jobs share the cores, so arms trained at different times get the same compute).
BUDGET_CLOCKS = {"wall": time.perf_counter, "process": time.process_time}


def train_with_bar(trainer, desc: str, time_budget_s: Optional[float] = None, max_iterations: Optional[int] = None,
                   lr_schedule=None, marks: Optional[Dict[float, Path]] = None,
                   clock=time.perf_counter) -> Dict[str, Any]:
    """Train with a progress bar; ``marks`` maps budget seconds (as ``clock`` counts them) to
    checkpoint paths written when the run passes them (learning curves inside one budget)."""
    pending = sorted((marks or {}).items())
    total = time_budget_s if time_budget_s is not None else max_iterations
    unit = "s" if time_budget_s is not None else "it"
    bar = tqdm(total=round(total), desc=desc, unit=unit, leave=False, dynamic_ncols=True)
    state = {"shown": 0}

    def hook(elapsed: float, iterations: int) -> None:
        while pending and elapsed >= pending[0][0]:
            export_checkpoint(trainer, pending.pop(0)[1])
        value = elapsed if time_budget_s is not None else iterations
        step = int(min(value, total)) - state["shown"]
        if step > 0:
            bar.update(step)
            state["shown"] += step
        if iterations % 10 == 0:
            bar.set_postfix({k: f"{v:.3f}" for k, v in trainer.stats.averages().items()
                             if k in ("Loss/total", "reward/argmax", "reward/sample")})

    summary = trainer.train(10 ** 6, time_budget_s=time_budget_s, max_iterations=max_iterations,
                            lr_schedule=lr_schedule, progress_hook=hook, clock=clock)
    bar.close()
    return summary


def flt_frames_per_iteration(settings) -> int:
    """Search frames that get gradients in one FLT iteration: batch size x search frames per sample
    (TrDiMP trains on 3 search frames per sample, the Siamese trackers on 1)."""
    return settings.batch_size * int(settings.as_dict().get("num_search_frames", 1))


def export_checkpoint(trainer, path: Path) -> None:
    trainer.save_checkpoint()
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(trainer.checkpoint_dir / "latest.pth", path)


def ensure_test_data(args, data_root: Path) -> None:
    """The held-out test split, generated once (atomically) and reused while its settings hold."""
    from ltr.dataset.synthetic import SyntheticConfig
    from ltr.util_scripts.make_synthetic import ensure_got10k_layout
    ensure_got10k_layout(data_root, "test", num_videos=args.test_videos, frames=args.test_frames,
                         seed=args.data_seed, config=SyntheticConfig(num_frames=args.test_frames))


def evaluate(args, checkpoint: Path, results_dir: Path, label: str, sequences) -> Dict[str, Any]:
    """Track the test split with ``checkpoint`` (one process per thread: the tiny network is too
    small to gain from intra-op threads); results already written for this checkpoint are reused."""
    from pytracking.evaluation.checkpoint_eval import evaluate_checkpoint

    print(f"Tracking the test split with {label} ({len(sequences)} videos, {args.threads} processes)", flush=True)
    result = evaluate_checkpoint(checkpoint, sequences, args.tracker, "tiny", results_dir, label=label,
                                 threads=args.threads if args.threads > 1 else 0, reuse_results=True)
    if result.failed:
        print(f"warning: {label}: tracking failed on {result.failed} videos; they are left out of the scores")
    return {"evaluation": result.evaluation, "summary": result.summary}


def selected_arms(args) -> List[str]:
    """The arms to train, in the order they run: ``--arms`` when given, else FLT-continue and SLT
    (with the +SS and +SS+SO arms between them under ``--ablation``)."""
    if args.arms:
        return [arm for arm in ARMS if arm in args.arms]
    return ["flt_more"] + (["ss", "ss_so"] if args.ablation else []) + ["slt"]


def run_seed(args, seed: int, workdir: Path, sequences) -> Dict[str, Any]:
    flt_mod = setting_module(args.tracker, ARM_SETTINGS["flt"])
    ckpt_dir = workdir / "checkpoints"
    record: Dict[str, Any] = {"seed": seed, "arms": {}}

    # 2. FLT start (cached with its recipe)
    start = ckpt_dir / "flt_start.pth"
    recipe = {"tracker": args.tracker, "seed": seed, "flt_iterations": args.flt_iterations}
    recipe_file = ckpt_dir / "flt_start.json"
    if not (start.exists() and recipe_file.exists() and json.loads(recipe_file.read_text()) == recipe):
        settings = make_settings(flt_mod, "flt_start", workdir, seed, None)
        trainer = flt_mod.build_trainer(settings, quiet=True)
        tic = time.perf_counter()
        summary = train_with_bar(trainer, f"seed {seed}: FLT start", max_iterations=args.flt_iterations,
                                 lr_schedule=cosine(warmup_final_factor(settings)))
        export_checkpoint(trainer, start)
        recipe_file.write_text(json.dumps(recipe))
        (ckpt_dir / "flt_start_stats.json").write_text(json.dumps({**summary, "seconds": time.perf_counter() - tic}))
    record["flt_start"] = json.loads((ckpt_dir / "flt_start_stats.json").read_text()) \
        if (ckpt_dir / "flt_start_stats.json").exists() else {}

    # 3. arms, one after the other, same wall-time budget and threads
    for arm in selected_arms(args):
        kind = ARMS[arm].kind
        module = setting_module(args.tracker, ARM_SETTINGS[kind])
        settings = make_arm_settings(args, arm, workdir, seed, start)
        trainer = module.build_trainer(settings, quiet=True)
        # Each arm continues at its recipe's learning rates, annealed to 0.1x over the same budget:
        # FLT where the FLT start's schedule ended, SLT at the SLT recipe's rates.
        trainer.scale_learning_rates(arm_lr_factor(args, kind, settings))
        marks = {m: ckpt_dir / f"{arm}@{m:g}s.pth" for m in args.marks}
        summary = train_with_bar(trainer, f"seed {seed}: {ARM_LABELS[arm]}", time_budget_s=args.budget_s,
                                 lr_schedule=cosine(0.1), marks=marks, clock=BUDGET_CLOCKS[args.budget_clock])
        export_checkpoint(trainer, ckpt_dir / f"{arm}.pth")
        record["arms"][arm] = {"iterations": summary["iterations"], "seconds": summary["seconds"],
                               "frames_grad": summary.get("frames_grad", 0.0),
                               "frames_nograd": summary.get("frames_nograd", 0.0),
                               "train_stats": trainer.history[-1] if trainer.history else {}}
        if arm == "slt" and args.equal_frames:
            flt_settings = make_arm_settings(args, "flt_equal_frames", workdir, seed, start)
            flt_trainer = flt_mod.build_trainer(flt_settings, quiet=True)
            flt_trainer.scale_learning_rates(arm_lr_factor(args, "flt", flt_settings))
            iterations = max(1, round(summary.get("frames_grad", 0.0) / flt_frames_per_iteration(flt_settings)))
            eq = train_with_bar(flt_trainer, f"seed {seed}: FLT equal frames", max_iterations=iterations,
                                lr_schedule=cosine(0.1))
            export_checkpoint(flt_trainer, ckpt_dir / "flt_equal_frames.pth")
            record["arms"]["flt_equal_frames"] = {"iterations": eq["iterations"], "seconds": eq["seconds"],
                                                  "frames_grad": eq.get("frames_grad", 0.0), "frames_nograd": 0.0}

    # 4. evaluation on the held-out test split
    evaluations = []
    for arm in ["flt_start"] + list(record["arms"]):
        result = evaluate(args, ckpt_dir / f"{arm}.pth", workdir / "results" / arm, ARM_LABELS[arm], sequences)
        record.setdefault("scores", {})[arm] = result["summary"]
        evaluations.append(result["evaluation"])
        for mark in (args.marks if arm in ARMS else []):
            name = f"{arm}@{mark:g}s"
            curve = evaluate(args, ckpt_dir / f"{name}.pth", workdir / "results" / name,
                             f"{ARM_LABELS[arm]} at {mark:g} s", sequences)
            record.setdefault("curves", {}).setdefault(arm, {})[f"{mark:g}"] = curve["summary"]
    try:
        from pytracking.analysis.plots import save_plots
        paths = save_plots(evaluations, str(workdir / "plots"), dataset_name="synthetic test")
        success = [p for p in paths if "success" in os.path.basename(p)]
        if success:
            shutil.copyfile(success[0], workdir / "success_plot.png")
    except Exception as error:  # a plot is a convenience; the numbers are in results.json
        print(f"warning: could not write plots: {error}")
    return record


#: The paired comparisons of Table 5 (name, arm, baseline arm).
COMPARISONS = (("SLT - FLT-continue", "slt", "flt_more"), ("+SS - FLT-continue", "ss", "flt_more"),
               ("+SS+SO - +SS (the SCST term)", "ss_so", "ss"), ("SLT - +SS+SO (the SA term)", "slt", "ss_so"),
               ("SLT - FLT equal frames", "slt", "flt_equal_frames"))


def seed_workdirs(out: Path, seeds: Sequence[int]) -> List[Path]:
    """Where a run puts each seed's files: the run folder itself for one seed, else ``seed<S>/``."""
    return [out] if len(seeds) == 1 else [out / f"seed{s}" for s in seeds]


def paired_difference(diffs: Sequence[float]) -> Dict[str, Any]:
    """Per-seed paired differences -> their mean, its standard error (std / sqrt(n); None for
    n < 2), n, and ``resolved`` (|mean| > 2 SE)."""
    values = np.asarray(diffs, dtype=float)
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    return {"per_seed": values.tolist(), "mean": float(values.mean()), "se": se, "n": len(values),
            "resolved": bool(se is not None and abs(values.mean()) > 2 * se)}


def paired_comparisons(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """:func:`paired_difference` of the AO of each comparison whose arms every seed ran."""
    rows = []
    for name, arm, base in COMPARISONS:
        if not all(arm in r["scores"] and base in r["scores"] for r in records):
            continue
        diffs = [r["scores"][arm]["AO"] - r["scores"][base]["AO"] for r in records]
        rows.append({"name": name, "arm": arm, "baseline": base, **paired_difference(diffs)})
    return rows


def format_table(records: List[Dict[str, Any]]) -> str:
    arms = list(records[0]["scores"])
    lines = [f"{'arm':38s} {'AO':>6s} {'SR50':>6s} {'SR75':>6s} {'AUC':>6s} {'iters':>6s} {'frames+grad':>11s} {'frames-grad':>11s}"]
    for arm in arms:
        scores = np.array([[r["scores"][arm][k] for k in ("AO", "SR50", "SR75", "AUC")] for r in records])
        mean = scores.mean(0)
        info = [r["arms"].get(arm, {}) for r in records]
        iters = np.mean([i.get("iterations", 0) for i in info])
        fg = np.mean([i.get("frames_grad", 0) for i in info])
        fng = np.mean([i.get("frames_nograd", 0) for i in info])
        lines.append(f"{ARM_LABELS[arm]:38s} {mean[0]:6.2f} {mean[1]:6.2f} {mean[2]:6.2f} {mean[3]:6.2f} "
                     f"{iters:6.0f} {fg:11.0f} {fng:11.0f}")
    if "slt" in arms and "flt_more" in arms:
        gains = [r["scores"]["slt"]["AO"] - r["scores"]["flt_more"]["AO"] for r in records]
        lines.append(f"SLT - FLT-continue AO per seed: {', '.join(f'{g:+.2f}' for g in gains)}  "
                     f"(mean {np.mean(gains):+.2f})")
    curves = [r.get("curves", {}) for r in records]
    for arm in curves[0]:
        for mark in curves[0][arm]:
            ao = np.mean([c[arm][mark]["AO"] for c in curves])
            lines.append(f"{ARM_LABELS[arm] + ' at ' + mark + ' s':38s} {ao:6.2f}")
    if "ss" in arms and "ss_so" in arms:
        gains = [r["scores"]["ss_so"]["AO"] - r["scores"]["ss"]["AO"] for r in records]
        lines.append(f"SCST term (+SS+SO - +SS) AO per seed: {', '.join(f'{g:+.2f}' for g in gains)}  "
                     f"(mean {np.mean(gains):+.2f})")
    comparisons = paired_comparisons(records)
    if comparisons:
        lines.append("Paired AO differences over seeds (mean +- standard error; 'resolved' when |mean| > 2 SE):")
        for row in comparisons:
            se = "n/a" if row["se"] is None else f"{row['se']:.2f}"
            verdict = "resolved" if row["resolved"] else "not resolved"
            lines.append(f"  {row['name']:34s} {row['mean']:+6.2f} +- {se:>5s}  (n={row['n']}, {verdict})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker", default="siamrpnpp")
    parser.add_argument("--seed", type=int, default=None, help="one seed (same as --seeds S)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="paired seeds (default: 0)")
    parser.add_argument("--out", default="workspace/slt_vs_flt")
    parser.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument("--flt-iterations", type=int, default=None, dest="flt_iterations",
                        help="FLT warm-up iterations of the FLT start (Table 8 knob; default per tracker: "
                             + ", ".join(f"{k} {v}" for k, v in FLT_START_ITERATIONS.items()) + ")")
    parser.add_argument("--budget-s", type=float, default=150.0, dest="budget_s",
                        help="time budget of each arm in seconds (of the --budget-clock)")
    parser.add_argument("--budget-clock", choices=list(BUDGET_CLOCKS), default="wall", dest="budget_clock",
                        help="what --budget-s counts: wall time (default) or this process's CPU time "
                             "('process': arms get equal compute when other jobs share the cores; "
                             "use it with one thread per run and no data-loader workers, whose CPU "
                             "time it does not count)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="assignments",
                        help="change a field of the arms' training settings (repeatable; see ltr/run_training.py "
                             "--print-config), e.g. --set temperature=2 --set num_frames=24 --set "
                             "\"synthetic_train_overrides={'num_distractors': (2, 4)}\"; applies to every arm "
                             "whose setting has the field, the FLT start keeps its recipe, an arm's own "
                             "overrides win")
    parser.add_argument("--flt-lr", type=float, default=None, dest="flt_lr",
                        help="base learning rate of the FLT-continue arm (default: where the FLT start's "
                             "schedule ended; other parameter groups keep their ratio to it)")
    parser.add_argument("--slt-lr", type=float, default=None, dest="slt_lr",
                        help="base learning rate of the SLT arms (default: the tracker's slt_tiny recipe)")
    parser.add_argument("--marks", type=float, nargs="*", default=[],
                        help="also checkpoint and evaluate every arm at these seconds of its budget "
                             "(learning curves; the lr schedule still spans the whole budget)")
    parser.add_argument("--ablation", action="store_true", help="add the +SS and +SS+SO arms (Table 5)")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=None,
                        help="train only these arms (e.g. long learning curves of a few arms); overrides "
                             "--ablation's choice")
    parser.add_argument("--equal-frames", action="store_true", dest="equal_frames",
                        help="add an FLT arm with as many frames with gradients as the SLT arm")
    parser.add_argument("--test-videos", type=int, default=40, dest="test_videos")
    parser.add_argument("--test-frames", type=int, default=48, dest="test_frames")
    parser.add_argument("--data-seed", type=int, default=12345, dest="data_seed")
    parser.add_argument("--json", default=None, help="also write the summary JSON here")
    args = parser.parse_args(argv)
    check_assignments(parser, args.tracker, args.assignments)
    seeds = args.seeds if args.seeds is not None else [args.seed if args.seed is not None else 0]
    if args.flt_iterations is None:
        args.flt_iterations = FLT_START_ITERATIONS.get(args.tracker, 1200)
    args.marks = sorted(m for m in args.marks if m < args.budget_s)  # a mark at or past the end is the final checkpoint
    args.device = "cpu"
    # threads, kept host memory, and the machine and rerun command printed once, as every report does
    machine, command = start_report(args, SCRIPT, argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_root = out / "data"
    ensure_test_data(args, data_root)
    from pytracking.evaluation.datasets import get_dataset
    sequences = list(get_dataset("synthetic", root=str(data_root)))

    records = [run_seed(args, seed, workdir, sequences)
               for seed, workdir in zip(seeds, seed_workdirs(out, seeds))]
    table = format_table(records)
    print(f"\nHeld-out synthetic test split: {len(sequences)} videos x {args.test_frames} frames, "
          f"seeds {seeds}, {args.budget_s:.0f} s ({args.budget_clock} clock) per arm on {args.threads} threads")
    print(table)
    summary = {"machine": describe_machine(machine), "command": command,
               "tracker": args.tracker, "seeds": seeds,
               "config": {k: v for k, v in vars(args).items() if k not in ("json",)},
               "keep_freed_host_memory": machine["keep_freed_host_memory"],
               "records": records, "comparisons": paired_comparisons(records), "table": table}
    text = json.dumps(summary, indent=2, default=float)
    tmp = out / ".results.json.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "results.json")
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
