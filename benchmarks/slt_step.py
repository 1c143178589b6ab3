"""Cost of one sequence-level training (SLT) iteration against one frame-level (FLT) iteration.

    python benchmarks/slt_step.py [--tracker NAME ...] [--sizes tiny paper] [--k 8] [--T 24]
                                  [--repeats N] [--device cpu] [--threads 1] [--json FILE]
                                  [--checkpoint TRACKER:SIZE=FILE ...] [--profile auto|always|never]

For every tracker and model size it builds the tracker's real FLT and SLT trainers (its
``ltr/train_settings/<tracker>/`` settings, synthetic data, the same random start weights for
both) and measures:

``slt_over_flt``
    median time of one SLT iteration (``SLTTrainer.train_step``: explore of k (1 + S) rollouts in
    lockstep without gradients, rewards, replay of the k S sampling rollouts with gradients and
    backward, gradient clipping, optimizer step) divided by the median time of one FLT iteration
    (``LTRTrainer.train_step``: forward, backward, clipping, optimizer step) on a batch holding
    ``k S T'`` search frames, where ``T'`` is the number of tracked frames per episode (T - 1 with
    the official start on the first search frame's ground truth): k S T' (template, search) pairs
    for the Siamese trackers, ceil(k S T' / m) samples for trackers whose FLT samples carry m
    search (test) frames each (TrDiMP), m read from the actor's ``frames_grad`` statistic. Both
    iterations therefore back-propagate through the same number of search crops (when ceil rounds
    up, the ratio is taken per search frame); SLT additionally tracks the episodes forward-only.
    Target: <= 2.0.
``batched_speedup``
    median time of ``SLTActor.explore_sequential`` (the k (1 + S) rollouts one after the other,
    B = 1 per network call) divided by that of ``SLTActor.explore`` (all rollouts in lockstep, one
    network call per frame) on the same episodes and seeds. Target: >= 3 for the tiny model with
    k = 8.

Data loading is excluded: the k episodes and the FLT batch are drawn from the synthetic video
stream once, before timing, and reused by every repetition (so the FLT crops, cut by the data
pipeline, cost nothing here, while the SLT explore crops its search regions itself, as it must).
Start weights: ``--checkpoint TRACKER:SIZE=FILE`` (the same file for both trainers), random
otherwise. Random weights regress random box sizes, so rollouts' search regions drift to several
times the frame size; the crop op (roi_align with ceil(region / crop)^2 samples per output pixel)
then costs more than with a trained tracker. Each row reports the region-to-crop side ratios seen
during explore, so such inflation is visible.

Measurements are interleaved (SLT, FLT, SLT, FLT, ...) after one untimed warm-up of each, and
each reported time is the median over ``--repeats``, so load from other processes on a shared
machine hits both sides alike. The machine, its load average before and after, and the command
are printed and stored in the JSON. With ``--profile auto`` (default) a row that misses a target
is profiled with cProfile and the time is split into network forward, crop op, backward,
optimizer and the rest (post-processing and Python overhead).

Default episode sizes: tiny k = 8, T = 24 (the SLT recipe's k and the paper's T); paper k = 2,
T = 24: the paper's episode length, because the per-episode costs (template, and for TrDiMP the
first-frame target-model fit) are shared by T - 1 tracked frames and a short T misstates the
ratio (TrDiMP: 7.1 at T = 4, 1.3 at T = 24); only 2 episodes, because a paper-size iteration at
k = 8 back-propagates ResNet-50 through 184 crops, minutes on a CPU. ``--k``/``--T`` set both
sizes; ``--paper-k``/``--paper-T`` only the paper size. Every row records its k and T. Repeats:
5 (tiny) and 3 (paper) unless ``--repeats``.

JSON (``--json FILE``)::

    {"benchmark": "slt_step", "machine": {...}, "command": "...", "notes": [...],
     "skipped": [{"tracker", "size", "reason"}],
     "rows": [{"tracker", "size": "tiny"|"paper", "slt_over_flt", "batched_speedup", "k", "T",
               "device", "samples_per_episode", "tracked_frames", "frames_grad", "frames_nograd",
               "flt_batch", "flt_search_frames", "slt_ms", "flt_ms", "explore_ms", "replay_ms", "step_ms",
               "explore_batched_ms", "explore_sequential_ms", "same_actions", "repeats",
               "frame_size", "weights", "meets_targets": {...},
               "explore_phases_ms": {"batched"|"sequential": {"total_ms", "network_ms", "crop_ms",
                                     "rest_ms", "network_calls", "crop_scale": {...}}},
               "times_s": {...}, "profile": {...} | null}]}
"""
from __future__ import annotations

import argparse
import cProfile
import importlib
import importlib.util
import os
import pstats
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

# The machine, command and JSON helpers live in benchmarks/_common.py; they stay importable from
# here for callers that import them from this module.
from benchmarks._common import (command_line, describe_machine, json_ready, load_average,  # noqa: E402,F401
                                machine_info, save_report, start_report, write_json)

SIZES = ("tiny", "paper")
#: (k, T) per model size when --k / --T are not given (see the module docstring).
DEFAULT_KT: Dict[str, Tuple[int, int]] = {"tiny": (8, 24), "paper": (2, 24)}
# A paper-size row at T = 24 takes minutes per repetition on a CPU.
DEFAULT_REPEATS: Dict[str, int] = {"tiny": 5, "paper": 3}
TARGET_SLT_OVER_FLT = 2.0
TARGET_BATCHED_SPEEDUP = 3.0
#: The batched-speedup target is stated for the tiny model with k = 8 episodes.
SPEEDUP_TARGET_SIZE, SPEEDUP_TARGET_K = "tiny", 8
KNOWN_TRACKERS = ("siamrpnpp", "siamattn", "transt", "trdimp", "ostrack")


# ----------------------------------------------------------------------------------------------
# helpers shared with benchmarks/track_speed.py
# ----------------------------------------------------------------------------------------------

def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock timers measure it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_times(fns: Dict[str, Callable[[], Any]], repeats: int, device: torch.device,
                      warmup: int = 1) -> Dict[str, List[float]]:
    """Wall times (s) of every function, run in turn ``repeats`` times after ``warmup`` untimed rounds.

    Interleaving (a, b, a, b, ...) rather than (a, a, ..., b, b, ...) exposes both sides to the same
    background load, which matters on a shared machine.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
            synchronize(device)
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(device)
            tic = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - tic)
    return times


def median(values: Sequence[float]) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64))) if len(values) else float("nan")


def module_available(name: str) -> bool:
    """True if ``name`` can be imported (False also when a parent package is missing)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain fixed-width table."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


#: Crop entry points of ltr.data.crop; wrapped wherever a module imported them by name.
CROP_FUNCTIONS = ("stack_images", "crop_square", "to_model_input", "crop_list")
#: Core methods that run the network; wrapped where a core has them (the Siamese cores do).
NETWORK_METHODS = ("run_network", "compute_template_features")


class PhaseTimer:
    """Wall time spent in the network and in the crop op while it is active (a context manager).

    ``network``: inside any forward of the given networks' modules (hooks on every module, so
    trackers that call sub-modules directly are covered too) or inside the cores'
    :data:`NETWORK_METHODS` (which also covers functional ops between modules, e.g. a Siamese
    cross-correlation). ``crop``: inside the :data:`CROP_FUNCTIONS` of :mod:`ltr.data.crop`,
    patched in every loaded module that imported them. Only the outermost call of a phase counts,
    and a crop inside a network call (or the reverse) stays in the outer phase, so the phases never
    overlap. GPU work is synchronised at phase boundaries so asynchronous kernels land in the
    phase that queued them.

    Hooks cost a few microseconds per module call; compare ``total`` with an unhooked run.
    """

    def __init__(self, nets: Sequence[torch.nn.Module], cores: Sequence[Any] = (),
                 device: torch.device = torch.device("cpu")):
        self.nets = list(nets)
        self.cores = list(cores)
        self.device = device
        self.seconds: Dict[str, float] = {"network": 0.0, "crop": 0.0}
        self.calls: Dict[str, int] = {"network": 0, "crop": 0}
        self._phase: Optional[str] = None
        self._depth = 0
        self._tic = 0.0
        self._undo: List[Callable[[], None]] = []
        #: region side / output side of every crop_square region: roi_align's adaptive sampling
        #: takes ceil(ratio)^2 samples per output pixel, so this says what the crops cost.
        self.crop_scales: List[float] = []

    def crop_scale_summary(self) -> Dict[str, float]:
        """Median and maximum region-side / crop-side ratio, and the mean samples per output pixel."""
        if not self.crop_scales:
            return {}
        scales = np.asarray(self.crop_scales)
        finite = scales[np.isfinite(scales)]
        # A diverged tracker (e.g. random weights regressing huge boxes) can carry NaN regions.
        summary: Dict[str, float] = {"non_finite": int(scales.size - finite.size)}
        if finite.size:
            summary.update({"median": float(np.median(finite)), "max": float(finite.max()),
                            "samples_per_pixel": float(np.mean(np.ceil(np.maximum(finite, 1e-9)) ** 2))})
        return summary

    def _record_crop(self, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        sizes = kwargs.get("sizes", args[3] if len(args) > 3 else None)
        out = kwargs.get("out_size", args[4] if len(args) > 4 else None)
        if isinstance(sizes, torch.Tensor) and out:
            self.crop_scales.extend((sizes.detach().double().cpu().reshape(-1) / float(out)).tolist())

    # phase bookkeeping --------------------------------------------------------------------
    def _enter(self, phase: str) -> None:
        if self._depth == 0:
            synchronize(self.device)
            self._phase = phase
            self._tic = time.perf_counter()
        self._depth += 1

    def _exit(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._phase is not None:
            synchronize(self.device)
            self.seconds[self._phase] += time.perf_counter() - self._tic
            self.calls[self._phase] += 1
            self._phase = None

    def _wrap(self, fn: Callable[..., Any], phase: str) -> Callable[..., Any]:
        record = getattr(fn, "__name__", "") == "crop_square"

        def timed(*args: Any, **kwargs: Any) -> Any:
            if record:
                self._record_crop(args, kwargs)
            self._enter(phase)
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit()
        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed

    # installing and removing ----------------------------------------------------------------
    def __enter__(self) -> "PhaseTimer":
        seen: set = set()
        for net in self.nets:
            for module in net.modules():
                if id(module) in seen:
                    continue
                seen.add(id(module))
                pre = module.register_forward_pre_hook(lambda *_: self._enter("network"))
                post = module.register_forward_hook(lambda *_: self._exit(), always_call=True)
                self._undo += [pre.remove, post.remove]
        for core in self.cores:
            for name in NETWORK_METHODS:
                method = getattr(core, name, None)
                if callable(method):
                    had_own = name in vars(core)
                    setattr(core, name, self._wrap(method, "network"))
                    self._undo.append(self._restore_attr(core, name, method, had_own))
        import ltr.data.crop as crop_module
        originals = {name: getattr(crop_module, name) for name in CROP_FUNCTIONS if hasattr(crop_module, name)}
        for module in list(sys.modules.values()):
            if module is None or not getattr(module, "__name__", "").startswith(("ltr", "pytracking", "slt_plugins")):
                continue
            for name, fn in originals.items():
                if getattr(module, name, None) is fn:
                    setattr(module, name, self._wrap(fn, "crop"))
                    self._undo.append(self._restore_attr(module, name, fn, True))
        return self

    @staticmethod
    def _restore_attr(owner: Any, name: str, original: Any, had_own: bool) -> Callable[[], None]:
        def restore() -> None:
            if had_own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
        return restore

    def __exit__(self, *exc: Any) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def networks_and_cores(*owners: Any) -> Tuple[List[torch.nn.Module], List[Any]]:
    """The networks and tracker cores reachable from trackers/adapters/actors (one level of attributes).

    Looks at the owners themselves, their ``core``, ``adapter`` and ``net`` attributes and any
    attribute that is an ``nn.Module``; DDP wrappers are looked through.
    """
    nets: List[torch.nn.Module] = []
    cores: List[Any] = []
    todo = list(owners)
    seen: set = set()
    while todo:
        obj = todo.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module):
            nets.append(getattr(obj, "module", obj) if isinstance(obj, torch.nn.parallel.DistributedDataParallel)
                        else obj)
            continue
        if any(callable(getattr(obj, name, None)) for name in NETWORK_METHODS) or hasattr(obj, "search"):
            cores.append(obj)
        for name in ("core", "adapter", "net"):
            todo.append(getattr(obj, name, None))
        for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
            if isinstance(value, torch.nn.Module):
                todo.append(value)
    return nets, cores


# ----------------------------------------------------------------------------------------------
# building the two trainers of one tracker and size
# ----------------------------------------------------------------------------------------------

@dataclass
class SettingModules:
    """Where a tracker's training settings live.

    The tiny modules build trainers on the synthetic stream; for the paper size the paper
    recipes (``<tracker>.py``, ``slt.py``) fill the fields first and the tiny modules' builders,
    which only fill what is still unset, then build on synthetic data (the paper datasets are
    not needed for timing).
    """

    flt_builder: str
    slt_builder: str
    flt_recipe: Optional[str]
    slt_recipe: Optional[str]


def find_setting_modules(tracker: str, size: str) -> Tuple[Optional[SettingModules], str]:
    """The setting modules of ``tracker``/``size``, or (None, why not)."""
    base = f"ltr.train_settings.{tracker}"
    if not module_available(base):
        return None, f"no training settings yet (ltr/train_settings/{tracker}/ missing)"
    flt, slt = f"{base}.tiny", f"{base}.slt_tiny"
    missing = [m for m in (flt, slt) if not module_available(m)]
    flt_recipe = slt_recipe = None
    if size == "paper":
        flt_recipe, slt_recipe = f"{base}.{tracker}", f"{base}.slt"
        missing += [m for m in (flt_recipe, slt_recipe) if not module_available(m)]
    if missing:
        return None, "missing setting modules: " + ", ".join(m.replace(".", "/") + ".py" for m in missing)
    try:
        from ltr.models.registry import network_builder
        network_builder(tracker)
    except (KeyError, ImportError, AttributeError) as error:
        return None, f"no network builder: {error}"
    return SettingModules(flt, slt, flt_recipe, slt_recipe), ""


def _settings(tracker: str, project: str, workdir: Path, device: str, seed: int, checkpoint: str,
              **fields: Any):
    from ltr.admin.settings import Settings

    settings = Settings()
    settings.env.checkpoints_dir = str(workdir)
    settings.module_name, settings.script_name = tracker, project
    settings.project_path = project
    settings.device = device
    settings.seed = seed
    settings.checkpoint = checkpoint
    settings.resume = False
    # No loader is used (batches are pre-drawn); one iteration per epoch keeps samplers small.
    settings.num_workers = 0
    settings.iterations_per_epoch = 1
    settings.epochs = 1
    settings.print_interval = 0
    for key, value in fields.items():
        setattr(settings, key, value)
    return settings


def _build(builder: str, recipe: Optional[str], settings) -> Any:
    if recipe is not None:
        importlib.import_module(recipe).configure(settings)
    return importlib.import_module(builder).build_trainer(settings, quiet=True)


def resize_episode(episode: Any, frame_hw: Tuple[int, int]) -> Any:
    """The same episode with all frames resized to ``frame_hw`` and the boxes scaled with them."""
    import cv2

    h, w = frame_hw

    def resize(image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR))

    def scale(boxes: torch.Tensor, image: np.ndarray) -> torch.Tensor:
        sx, sy = w / image.shape[1], h / image.shape[0]
        return boxes * torch.tensor([sx, sy, sx, sy], dtype=boxes.dtype)

    template_box = scale(episode.template_box_xywh, episode.template_frame)
    boxes = torch.stack([scale(b, f) for b, f in zip(episode.boxes_xywh, episode.frames)])
    episode.template_frame = resize(episode.template_frame)
    episode.template_box_xywh = template_box
    episode.frames = [resize(f) for f in episode.frames]
    episode.boxes_xywh = boxes
    return episode


@dataclass
class Workload:
    """Both trainers of one row and their pre-drawn inputs."""

    slt: Any
    flt: Any
    episodes: List[Any]
    flt_batch: Any
    flt_samples: int
    flt_search_frames: int
    samples_per_episode: int
    tracked_frames: int


def build_workload(tracker: str, size: str, modules: SettingModules, k: int, T: int, device: str, seed: int,
                   workdir: Path, frame_size: Optional[Tuple[int, int]],
                   checkpoint: Optional[str] = None) -> Workload:
    """Both trainers from the same start weights, k episodes and an FLT batch of equal size.

    The start weights come from ``checkpoint`` (a project checkpoint of this tracker and size) or
    are random.
    """
    from ltr.admin.checkpoint import save_checkpoint
    from ltr.models.registry import build_network

    if checkpoint is not None:
        start = Path(checkpoint)
    else:
        torch.manual_seed(seed)
        start = workdir / f"{tracker}_{size}_start.pth"
        save_checkpoint(start, build_network(tracker, size).state_dict(), tracker=tracker, size=size)

    slt_settings = _settings(tracker, f"slt_step_{tracker}_{size}_slt", workdir, device, seed, str(start),
                             episodes_per_batch=k, num_frames=T)
    slt = _build(modules.slt_builder, modules.slt_recipe, slt_settings)
    S = int(slt.actor.num_samples)
    tracked = T - (1 if getattr(slt.actor, "start", "first_frame") == "first_frame" else 0)
    # The FLT batch holds as many (template, search) pairs as the SLT replay has search crops.
    flt_settings = _settings(tracker, f"slt_step_{tracker}_{size}_flt", workdir, device, seed, str(start),
                             batch_size=k * S * tracked)
    flt = _build(modules.flt_builder, modules.flt_recipe, flt_settings)

    slt.dataset.set_epoch(0)
    episodes = [slt.dataset[i] for i in range(k)]
    if frame_size is not None:
        episodes = [resize_episode(ep, frame_size) for ep in episodes]
    if hasattr(flt.dataset, "set_epoch"):
        flt.dataset.set_epoch(0)
    # An FLT sample may hold several search frames (TrDiMP: its test frames); the actors report
    # them as 'frames_grad'. Probe one sample to size the batch in search frames, not samples.
    with torch.no_grad():
        _, probe_stats = flt.actor(flt.collate_fn([flt.dataset[0]]))
    per_sample = max(1, int(round(float(probe_stats.get("frames_grad", 1.0)))))
    num_samples = -(-flt_settings.batch_size // per_sample)  # ceil: at least as many frames as SLT
    batch = flt.collate_fn([flt.dataset[i] for i in range(num_samples)])
    # Training modes as the trainers set them at the start of an epoch (for SLT: the actor's).
    flt.set_training_mode()
    slt.set_training_mode()
    return Workload(slt=slt, flt=flt, episodes=episodes, flt_batch=batch, samples_per_episode=S,
                    tracked_frames=tracked, flt_samples=num_samples, flt_search_frames=num_samples * per_sample)


# ----------------------------------------------------------------------------------------------
# profiling
# ----------------------------------------------------------------------------------------------

#: (category, file suffix, function names) whose cumulative time makes the category. cProfile
#: counts a recursive function's time once (outermost call), so nested module calls add up right.
PROFILE_CATEGORIES: List[Tuple[str, str, Tuple[str, ...]]] = [
    ("network forward", "torch/nn/modules/module.py", ("_call_impl",)),
    ("crop op", "ltr/data/crop.py", ("stack_images", "crop_square", "to_model_input", "boxes_to_crop_frame")),
    # 'grad' too: trackers with online optimisation (TrDiMP) differentiate inside explore
    ("backward", "torch/autograd/__init__.py", ("backward", "grad")),
    ("optimizer step", "torch/optim/optimizer.py", ("wrapper",)),
    ("gradient clipping", "torch/nn/utils/clip_grad.py", ("clip_grad_norm_", "_clip_grads_with_norm_",
                                                          "_get_total_norm")),
]


def profile_call(fn: Callable[[], Any], top: int = 12) -> Dict[str, Any]:
    """cProfile one call; split its time into :data:`PROFILE_CATEGORIES` and the rest."""
    profiler = cProfile.Profile()
    tic = time.perf_counter()
    profiler.enable()
    fn()
    profiler.disable()
    wall = time.perf_counter() - tic
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = max(sum(v[2] for v in entries.values()), 1e-12)  # sum of own times = profiled time
    categories: Dict[str, float] = {}
    for name, suffix, functions in PROFILE_CATEGORIES:
        seconds = 0.0
        for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in entries.items():
            if func in functions and filename.replace(os.sep, "/").endswith(suffix):
                seconds = max(seconds, ct) if func == "_call_impl" else seconds + ct
        if seconds > 0:
            categories[name] = seconds
    # Categories are disjoint in practice (no crop inside a module, no module inside backward).
    categories["rest (post-processing, records, Python)"] = max(total - sum(categories.values()), 0.0)
    rows = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    top_functions = [{"function": f"{Path(fn_).name}:{line}({func})", "calls": int(v[1]),
                      "tottime_s": round(v[2], 4), "cumtime_s": round(v[3], 4)}
                     for (fn_, line, func), v in rows]
    return {"wall_s": wall, "profiled_s": total,
            "categories_s": {k: round(v, 4) for k, v in categories.items()},
            "categories_share": {k: round(v / total, 3) for k, v in categories.items()},
            "top_tottime": top_functions}


def profile_workload(work: Workload, seed: int) -> Dict[str, Any]:
    """Where the time of one SLT iteration (explore, replay + step), sequential explore and FLT goes."""
    actor, slt = work.slt.actor, work.slt

    def replay_and_step() -> None:
        slt.optimizer.zero_grad(set_to_none=True)
        actor.replay(rollouts)
        slt.clip_and_step()

    rollouts = actor.explore(work.episodes, torch.Generator().manual_seed(seed))
    result = {"explore": profile_call(lambda: actor.explore(work.episodes, torch.Generator().manual_seed(seed))),
              "replay_and_step": profile_call(replay_and_step),
              "explore_sequential": profile_call(
                  lambda: actor.explore_sequential(work.episodes, torch.Generator().manual_seed(seed))),
              "flt_step": profile_call(lambda: work.flt.train_step(work.flt_batch))}
    return result


# ----------------------------------------------------------------------------------------------
# one row
# ----------------------------------------------------------------------------------------------

def measure_row(tracker: str, size: str, modules: SettingModules, k: int, T: int, device: str, repeats: int,
                seed: int, workdir: Path, frame_size: Optional[Tuple[int, int]], profile: str,
                checkpoint: Optional[str] = None) -> Dict[str, Any]:
    """Build, time and (if asked or a target is missed) profile one tracker/size."""
    work = build_workload(tracker, size, modules, k, T, device, seed, workdir, frame_size, checkpoint)
    dev = torch.device(device)
    slt_stats: List[Dict[str, float]] = []

    def slt_step() -> None:
        slt_stats.append(work.slt.train_step(work.episodes))

    def flt_step() -> None:
        work.flt.train_step(work.flt_batch)

    step_times = interleaved_times({"slt": slt_step, "flt": flt_step}, repeats, dev)
    timed_stats = slt_stats[-repeats:]  # drop the warm-up

    actor = work.slt.actor
    actions: Dict[str, torch.Tensor] = {}

    def batched() -> None:
        actions["batched"] = actor.explore(work.episodes, torch.Generator().manual_seed(seed)).actions

    def sequential() -> None:
        actions["sequential"] = actor.explore_sequential(work.episodes, torch.Generator().manual_seed(seed)).actions

    explore_times = interleaved_times({"batched": batched, "sequential": sequential}, repeats, dev)

    phases = explore_phases(actor, {"batched": batched, "sequential": sequential}, repeats, dev)

    slt_s, flt_s = median(step_times["slt"]), median(step_times["flt"])
    explore_s = median([s.get("time/explore", float("nan")) for s in timed_stats])
    replay_s = median([s.get("time/replay", float("nan")) for s in timed_stats])
    batched_s, sequential_s = median(explore_times["batched"]), median(explore_times["sequential"])
    S, tracked = work.samples_per_episode, work.tracked_frames
    row: Dict[str, Any] = {
        "tracker": tracker, "size": size, "k": k, "T": T, "device": device,
        # per search frame with gradients; equals the plain ratio when the FLT batch holds exactly
        # k S T' search frames (it can hold a few more when its samples carry several)
        "slt_over_flt": (slt_s / (k * S * tracked)) / (flt_s / work.flt_search_frames),
        "batched_speedup": sequential_s / batched_s,
        "samples_per_episode": S, "tracked_frames": tracked,
        "frames_grad": k * S * tracked, "frames_nograd": k * (1 + S) * tracked,
        "flt_batch": work.flt_samples, "flt_search_frames": work.flt_search_frames,
        "slt_ms": 1e3 * slt_s, "flt_ms": 1e3 * flt_s,
        "explore_ms": 1e3 * explore_s, "replay_ms": 1e3 * replay_s,
        # clipping, optimizer step and bookkeeping: what the iteration adds to explore + replay
        "step_ms": 1e3 * median([t - s.get("time/explore", 0.0) - s.get("time/replay", 0.0)
                                 for t, s in zip(step_times["slt"], timed_stats)]),
        "explore_batched_ms": 1e3 * batched_s, "explore_sequential_ms": 1e3 * sequential_s,
        # Batched and one-by-one rollouts draw the same random numbers; they differ only where
        # batched and single network evaluations round differently and an argmax flips.
        "same_actions": float((actions["batched"] == actions["sequential"]).float().mean()),
        "repeats": repeats, "frame_size": list(frame_size) if frame_size else "native",
        "weights": checkpoint or "random",
        "explore_phases_ms": phases,
        "times_s": {"slt": step_times["slt"], "flt": step_times["flt"],
                    "explore_batched": explore_times["batched"], "explore_sequential": explore_times["sequential"]},
    }
    meets = {"slt_over_flt<=2": row["slt_over_flt"] <= TARGET_SLT_OVER_FLT}
    if size == SPEEDUP_TARGET_SIZE and k == SPEEDUP_TARGET_K:
        meets["batched_speedup>=3"] = row["batched_speedup"] >= TARGET_BATCHED_SPEEDUP
    row["meets_targets"] = meets
    want_profile = profile == "always" or (profile == "auto" and not all(meets.values()))
    row["profile"] = profile_workload(work, seed) if want_profile else None
    return row


def explore_phases(actor: Any, fns: Dict[str, Callable[[], Any]], repeats: int,
                   device: torch.device) -> Dict[str, Dict[str, float]]:
    """Median network / crop / rest split (ms) of each explore variant, from separate hooked runs."""
    nets, cores = networks_and_cores(actor)
    result: Dict[str, Dict[str, float]] = {}
    for name, fn in fns.items():
        runs: List[Dict[str, float]] = []
        for _ in range(repeats):
            with PhaseTimer(nets, cores, device) as timer:
                synchronize(device)
                tic = time.perf_counter()
                fn()
                synchronize(device)
                total = time.perf_counter() - tic
            runs.append({"total": total, "network": timer.seconds["network"], "crop": timer.seconds["crop"],
                         "rest": total - timer.seconds["network"] - timer.seconds["crop"]})
        result[name] = {f"{key}_ms": 1e3 * median([r[key] for r in runs]) for key in runs[0]}
        result[name]["network_calls"] = timer.calls["network"]
        result[name]["crop_scale"] = timer.crop_scale_summary()
    return result


def print_profile(row: Dict[str, Any]) -> None:
    prof = row.get("profile")
    if not prof:
        return
    print(f"\nProfile of {row['tracker']} {row['size']} (cProfile, one call each; cProfile slows "
          f"Python-heavy code, so 'rest' is an upper bound):")
    for part, data in prof.items():
        shares = ", ".join(f"{name} {1e3 * data['categories_s'][name]:.0f} ms ({100 * share:.0f}%)"
                           for name, share in data["categories_share"].items())
        print(f"  {part}: {1e3 * data['profiled_s']:.0f} ms profiled: {shares}")
        for entry in data["top_tottime"][:6]:
            print(f"      {entry['tottime_s'] * 1e3:8.1f} ms own  {entry['calls']:7d} calls  {entry['function']}")


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------

def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker", nargs="+", default=list(KNOWN_TRACKERS),
                        help="tracker names (default: all known; absent ones are skipped with a note)")
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES))
    parser.add_argument("--k", type=int, default=None, help="episodes per iteration (all sizes)")
    parser.add_argument("--T", type=int, default=None, help="search frames per episode (all sizes)")
    parser.add_argument("--paper-k", type=int, default=None, dest="paper_k",
                        help=f"episodes for the paper size only (default {DEFAULT_KT['paper'][0]})")
    parser.add_argument("--paper-T", type=int, default=None, dest="paper_T",
                        help=f"frames for the paper size only (default {DEFAULT_KT['paper'][1]})")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repetitions per measurement, median reported (default: tiny "
                             f"{DEFAULT_REPEATS['tiny']}, paper {DEFAULT_REPEATS['paper']})")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: on a busy machine a second thread that "
                             "loses its core stalls every op; 0 keeps torch's default)")
    parser.add_argument("--frame-size", type=int, nargs=2, default=None, metavar=("H", "W"), dest="frame_size",
                        help="resize the episodes' frames (default: the synthetic videos' native size)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="TRACKER:SIZE=FILE",
                        help="start weights of one tracker and size (repeatable; default: random weights, "
                             "whose drifting boxes make crop regions, and so crop costs, larger than a "
                             "trained tracker's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="cProfile a row: always, never, or when it misses a target (default)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.checkpoints = parse_checkpoints(parser, args.checkpoint)
    return args


def parse_checkpoints(parser: argparse.ArgumentParser, specs: Sequence[str]) -> Dict[Tuple[str, str], str]:
    """``TRACKER:SIZE=FILE`` options -> {(tracker, size): file}."""
    result: Dict[Tuple[str, str], str] = {}
    for spec in specs:
        key, sep, path = spec.partition("=")
        tracker, colon, size = key.partition(":")
        if not (sep and colon and tracker and size in SIZES and path):
            parser.error(f"--checkpoint expects TRACKER:SIZE=FILE with SIZE in {SIZES}, got {spec!r}")
        if not Path(path).is_file():
            parser.error(f"--checkpoint {spec}: no such file {path!r}")
        result[(tracker, size)] = path
    return result


def row_kt(args: argparse.Namespace, size: str) -> Tuple[int, int]:
    k, T = DEFAULT_KT[size]
    k = args.k if args.k is not None else k
    T = args.T if args.T is not None else T
    if size == "paper":
        k = args.paper_k if args.paper_k is not None else k
        T = args.paper_T if args.paper_T is not None else T
    return k, T


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    machine, command = start_report(args, "slt_step.py", argv)

    rows: List[Dict[str, Any]] = []
    skipped: List[Dict[str, str]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="slt_step_") as tmp:
        for tracker in args.tracker:
            for size in args.sizes:
                modules, reason = find_setting_modules(tracker, size)
                if modules is None:
                    print(f"note: skipping {tracker} {size}: {reason}", flush=True)
                    skipped.append({"tracker": tracker, "size": size, "reason": reason})
                    continue
                k, T = row_kt(args, size)
                repeats = args.repeats if args.repeats is not None else DEFAULT_REPEATS[size]
                print(f"Measuring {tracker} {size} (k={k}, T={T}, {repeats} repeats) ...", flush=True)
                try:
                    row = measure_row(tracker, size, modules, k, T, args.device, repeats, args.seed,
                                      Path(tmp), tuple(args.frame_size) if args.frame_size else None, args.profile,
                                      args.checkpoints.get((tracker, size)))
                except Exception as error:  # report and go on with the other rows
                    traceback.print_exc()
                    reason = f"failed: {type(error).__name__}: {error}"
                    print(f"note: {tracker} {size} {reason}", flush=True)
                    skipped.append({"tracker": tracker, "size": size, "reason": reason})
                    failed = True
                    continue
                rows.append(row)
    machine["load_average_end"] = load_average()

    headers = ["tracker", "size", "k", "T", "SLT ms", "explore", "replay", "step", "FLT ms", "SLT/FLT",
               "batched ms", "one-by-one ms", "speedup", "same act."]
    table = format_table(headers, [[r["tracker"], r["size"], r["k"], r["T"], r["slt_ms"], r["explore_ms"],
                                    r["replay_ms"], r["step_ms"], r["flt_ms"], r["slt_over_flt"],
                                    r["explore_batched_ms"], r["explore_sequential_ms"], r["batched_speedup"],
                                    r["same_actions"]] for r in rows])
    print()
    print(f"Machine: {describe_machine(machine)}; load average at the end {machine['load_average_end']}")
    print(f"Command: {command}")
    print("Episodes and the FLT batch are pre-drawn from the synthetic stream: data loading is excluded.")
    print("FLT batch = k*S*T' search frames (as many as the SLT replay's crops); times are medians of "
          "interleaved runs (repeats per row in the JSON).")
    print(f"Targets: SLT/FLT <= {TARGET_SLT_OVER_FLT}; batched explore speedup >= {TARGET_BATCHED_SPEEDUP} "
          f"({SPEEDUP_TARGET_SIZE}, k={SPEEDUP_TARGET_K}).")
    print(table)
    if rows:
        print("\nExplore split (separate runs with timers around network calls and crop ops; 'rest' is "
              "post-processing, sampling, records and Python overhead), ms:")
        phase_rows = []
        for r in rows:
            for variant in ("batched", "sequential"):
                p = r["explore_phases_ms"][variant]
                scale = p.get("crop_scale") or {}
                phase_rows.append([r["tracker"], r["size"], variant, p["total_ms"], p["network_ms"], p["crop_ms"],
                                   p["rest_ms"], int(p["network_calls"]), scale.get("median", float("nan")),
                                   scale.get("max", float("nan")), scale.get("samples_per_pixel", float("nan"))])
        print(format_table(["tracker", "size", "explore", "total", "network", "crop", "rest", "net calls",
                            "region/crop median", "max", "samples/px"], phase_rows))
    for row in rows:
        diverged = max(int((row["explore_phases_ms"][v].get("crop_scale") or {}).get("non_finite", 0))
                       for v in ("batched", "sequential"))
        if diverged:
            print(f"{row['tracker']} {row['size']}: {diverged} crop regions were NaN/inf (diverged rollouts, "
                  f"typical of random weights); pass --checkpoint for representative crop costs")
        missed = [name for name, ok in row["meets_targets"].items() if not ok]
        if missed:
            print(f"{row['tracker']} {row['size']}: misses {', '.join(missed)}")
        print_profile(row)

    payload = {"benchmark": "slt_step", "machine": machine, "command": command,
               "notes": ["episodes and FLT batch pre-drawn from the synthetic stream (data loading excluded)",
                         "SLT and FLT trainers start from the same weights (row 'weights': a file or random)",
                         "times are medians of interleaved repetitions after one warm-up"],
               "targets": {"slt_over_flt_max": TARGET_SLT_OVER_FLT, "batched_speedup_min": TARGET_BATCHED_SPEEDUP,
                           "batched_speedup_applies_to": {"size": SPEEDUP_TARGET_SIZE, "k": SPEEDUP_TARGET_K}},
               "skipped": skipped, "rows": rows}
    save_report(args.json, payload)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
