"""Per-frame time of the test-time trackers, split into the network and everything else.

    python benchmarks/track_speed.py [--tracker NAME ...] [--sizes tiny paper] [--frames 30]
                                     [--repeats 3] [--device cpu] [--threads 1] [--json FILE]
                                     [--checkpoint TRACKER:SIZE=FILE ...] [--image-size H W]
                                     [--batch-sequences 1 4 16 [--sequences M]]

For every tracker and size it builds the online tracker of ``pytracking/tracker/<tracker>`` with
its test-time parameter set (``tiny`` for the tiny size, the set named after the tracker, e.g.
``siamrpnpp``, for the paper size), runs it on one synthetic video rendered before timing, and
times every ``track(frame)`` call. Inside each call, timers split the time into

``network``
    inside any forward of the tracker's network modules, or inside the core's
    ``run_network`` / ``compute_template_features`` (Siamese cores), which also covers
    functional ops between modules (outermost call only, no double counting);
``crop``
    inside ``ltr.data.crop``'s ``stack_images``, ``crop_square``, ``to_model_input``
    (pre-processing: frame to tensor, search-region crop, input normalisation);
``rest``
    everything else: post-processing of the scores (windows, penalties, box decoding, state
    update), online updates a tracker does outside its network, and Python overhead.

``pre_post_share`` is the median over frames of ``(frame - network) / frame``: the share of
the frame time that is not the network. Target: < 0.15 on CPU for the paper-size model.

Frames: ``--image-size`` (default 128 x 128 for tiny, 480 x 640 for paper, a VGA-sized frame as
in the common benchmarks). Weights: ``--checkpoint TRACKER:SIZE=FILE`` or random. A random
network regresses random box sizes, so its search regions grow to several times the frame and
the crops cost far more than a trained tracker's (one random box-size step is enough for a
tracker that predicts box sides directly, like TransT). With random weights the tracker is
therefore re-initialised on the ground truth of the previous frame before every ``track`` call
(``--reinit-every 1``, the default there; 0 never, the default with a checkpoint).
Re-initialisation is not timed; but a tracker with periodic online updates (TrDiMP) then always
tracks its first frame after initialisation, so pass a checkpoint for its faithful split. Each
row reports the region-to-crop side ratios it saw.

Each pass over the video starts with ``initialize`` (untimed); its first ``--warmup`` tracked
frames are not counted. ``--repeats`` passes are made; medians are over all counted frames.
Timers add a few microseconds per module call; ``frame_ms_untimed`` is the median frame time of
one extra pass without them. Threads default to 1: on a shared machine a second intra-op thread
that loses its core stalls every op.

Lockstep throughput (``--batch-sequences N [N ...]``): instead of the per-frame split, each
tracker and size tracks ``--sequences M`` synthetic sequences (default 2 x the largest N; lengths
``--frames`` +-2 so slots are refilled at different steps; frames rendered before timing) with
:func:`pytracking.evaluation.batched.run_sequences_batched`, N at a time, as
``run_tracker.py --batch-sequences N`` does (result files written to a temporary folder). Rows
give sequences/s and frames/s over the tracking time (the sum of the written per-frame times:
initialisations and steps, without building the network) and the speed-up over N = 1; a row
``--kernels oneDNN`` repeats the runs with torch's default CPU kernels instead of the
batch-invariant ones the runner uses, so the price of bit-identical batching shows. "same boxes"
compares every run's box files with the first run of its kernel set (always "yes" for
batch-invariant kernels; oneDNN's differ in the last bits with N).
Paper size: keep ``--frames`` small (e.g. 4) and ``--image-size`` small (e.g. 128 128).
Target: tiny SiamRPN++ on CPU >= 2.5x frames/s at N = 16 over N = 1.

JSON (``--json FILE``)::

    {"benchmark": "track_speed", "machine": {...}, "command": "...", "skipped": [...],
     "rows": [{"tracker", "size", "param_set", "device", "image_size", "frames", "repeats",
               "weights", "reinit_every", "frame_ms", "network_ms", "crop_ms", "rest_ms",
               "pre_post_ms", "pre_post_share", "pre_post_share_of_sums", "frame_ms_untimed",
               "fps", "crop_scale": {...}, "meets_target": bool | null, "frame_times_ms": [...]}]}

    with --batch-sequences: {"benchmark": "track_speed", "mode": "batch_sequences", ...,
     "rows": [{"tracker", "size", "device", "image_size", "batch_sequences", "kernels", "sequences",
               "frames", "tracking_s", "sequences_per_s", "frames_per_s", "speedup" (over N = 1, same
               kernels), "same_boxes",
               "meets_target": bool | null}]}
"""
from __future__ import annotations

import argparse
import io
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks._common import describe_machine, load_average, save_report, start_report  # noqa: E402
from benchmarks.slt_step import (KNOWN_TRACKERS, SIZES, PhaseTimer, format_table, median,  # noqa: E402
                                 networks_and_cores, parse_checkpoints, synchronize)

TARGET_PRE_POST_SHARE = 0.15
#: --batch-sequences target: frames/s at N = 16 over N = 1, tiny SiamRPN++ on CPU.
TARGET_BATCH_SPEEDUP = 2.5
TARGET_BATCH = ("siamrpnpp", "tiny", 16)
#: The target is stated for the paper-size model on CPU.
TARGET_SIZE = "paper"
DEFAULT_IMAGE_SIZE: Dict[str, Tuple[int, int]] = {"tiny": (128, 128), "paper": (480, 640)}


def parameter_set_name(tracker: str, size: str) -> str:
    """Test-time parameter set of a size: ``tiny``, or the set named after the tracker (paper)."""
    return "tiny" if size == "tiny" else tracker


def build_tracker(tracker: str, size: str, device: str, checkpoint: Optional[str]) -> Tuple[Optional[Any], str]:
    """The online tracker (random weights unless ``checkpoint``), or (None, why not)."""
    try:
        from pytracking.tracker import UnknownTrackerError, resolve_tracker
    except ImportError as error:
        return None, f"pytracking.tracker not importable: {error}"
    try:
        entry = resolve_tracker(tracker)
    except UnknownTrackerError:
        return None, f"no test-time tracker yet (pytracking/tracker/{tracker}/ missing)"
    except ImportError as error:
        return None, f"test-time tracker not importable: {error}"
    param_name = parameter_set_name(tracker, size)
    available = entry.parameter_sets()
    if param_name not in available:
        return None, f"no parameter set '{param_name}' (have: {', '.join(available) or 'none'})"
    params = entry.load_parameters(param_name)
    params.device = device
    params.debug = 0
    if checkpoint:
        params.checkpoint = checkpoint
    else:
        params.checkpoint = None
        params.allow_random_weights = True
    return entry.tracker_class(params), ""


def make_video(image_size: Tuple[int, int], num_frames: int, seed: int):
    """A synthetic test video with all frames rendered (rendering is not timed)."""
    from ltr.dataset.synthetic import SyntheticConfig, generate_video

    config = SyntheticConfig(image_size=tuple(image_size), num_frames=num_frames, texture_set="test")
    video = generate_video(seed, config)
    frames = video.frames
    boxes = video.clipped_boxes()
    usable = video.visible & (boxes[:, 2] > 4) & (boxes[:, 3] > 4)
    return frames, boxes, usable


def first_usable(usable: np.ndarray, start: int) -> int:
    """First frame at or after ``start`` whose target can be initialised on (-1 if none)."""
    hits = np.flatnonzero(usable[start:])
    return int(start + hits[0]) if hits.size else -1


def run_pass(tracker: Any, frames: np.ndarray, boxes: np.ndarray, usable: np.ndarray, reinit_every: int,
             timer: Optional[PhaseTimer], device: torch.device) -> List[Dict[str, float]]:
    """Track the video once; per tracked frame: total, network and crop seconds."""
    start = first_usable(usable, 0)
    if start < 0:
        raise RuntimeError("the synthetic video has no frame with a visible target")
    tracker.initialize(frames[start], {"init_bbox": [float(v) for v in boxes[start]]})
    since_init = 0
    records: List[Dict[str, float]] = []
    for t in range(start + 1, len(frames)):
        if reinit_every and since_init >= reinit_every and usable[t - 1]:
            # Restart from the ground truth of the previous frame (untimed), then track this one.
            tracker.initialize(frames[t - 1], {"init_bbox": [float(v) for v in boxes[t - 1]]})
            since_init = 0
        net0 = timer.seconds["network"] if timer else 0.0
        crop0 = timer.seconds["crop"] if timer else 0.0
        synchronize(device)
        tic = time.perf_counter()
        tracker.track(frames[t], {})
        synchronize(device)
        total = time.perf_counter() - tic
        since_init += 1
        records.append({"total": total,
                        "network": (timer.seconds["network"] - net0) if timer else float("nan"),
                        "crop": (timer.seconds["crop"] - crop0) if timer else float("nan")})
    return records


def measure_row(tracker_name: str, size: str, args: argparse.Namespace) -> Dict[str, Any]:
    """Build the tracker, render the video, run the timed passes and one untimed pass."""
    checkpoint = args.checkpoints.get((tracker_name, size))
    tracker, reason = build_tracker(tracker_name, size, args.device, checkpoint)
    if tracker is None:
        raise LookupError(reason)
    image_size = tuple(args.image_size) if args.image_size else DEFAULT_IMAGE_SIZE[size]
    reinit_every = args.reinit_every if args.reinit_every is not None else (0 if checkpoint else 1)
    # warm-up frames + counted frames; +1 for the initialisation frame
    frames, boxes, usable = make_video(image_size, args.frames + args.warmup + 1, args.seed)
    device = torch.device(args.device)
    nets, cores = networks_and_cores(tracker)
    if not nets:
        raise LookupError("found no network (nn.Module) on the tracker or its core")

    counted: List[Dict[str, float]] = []
    scales: List[float] = []
    with torch.no_grad():
        for _ in range(args.repeats):
            with PhaseTimer(nets, cores, device) as timer:
                records = run_pass(tracker, frames, boxes, usable, reinit_every, timer, device)
            counted += records[args.warmup:]
            scales += timer.crop_scales
        untimed = run_pass(tracker, frames, boxes, usable, reinit_every, None, device)[args.warmup:]

    total = np.array([r["total"] for r in counted])
    network = np.array([r["network"] for r in counted])
    crop = np.array([r["crop"] for r in counted])
    rest = total - network - crop
    share = (total - network) / np.maximum(total, 1e-12)
    summary = PhaseTimer([], [])
    summary.crop_scales = scales
    row: Dict[str, Any] = {
        "tracker": tracker_name, "size": size, "param_set": parameter_set_name(tracker_name, size),
        "device": args.device, "image_size": list(image_size), "frames": len(counted), "repeats": args.repeats,
        "weights": checkpoint or "random", "reinit_every": reinit_every,
        "frame_ms": 1e3 * median(total), "network_ms": 1e3 * median(network), "crop_ms": 1e3 * median(crop),
        "rest_ms": 1e3 * median(rest), "pre_post_ms": 1e3 * median(total - network),
        "pre_post_share": median(share),
        "pre_post_share_of_sums": float((total.sum() - network.sum()) / max(total.sum(), 1e-12)),
        "frame_ms_untimed": 1e3 * median([r["total"] for r in untimed]),
        "fps": 1.0 / max(median(total), 1e-12),
        "crop_scale": summary.crop_scale_summary(),
        "frame_times_ms": [round(1e3 * v, 3) for v in total.tolist()],
    }
    row["meets_target"] = (row["pre_post_share"] < TARGET_PRE_POST_SHARE) if size == TARGET_SIZE else None
    return row


def _benchmark_tracker_class():
    from pytracking.evaluation.tracker import Tracker

    class BenchmarkTracker(Tracker):
        """The size's parameter set on ``device`` with ``checkpoint`` or seeded random weights."""

        def __init__(self, *args: Any, device: str = "cpu", weights: Optional[str] = None, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.device, self.weights = device, weights

        def get_parameters(self):
            params = self.entry.load_parameters(self.parameter_name)
            params.device, params.debug, params.checkpoint = self.device, 0, self.weights
            params.allow_random_weights = self.weights is None
            return params

        def create_tracker(self, params):
            torch.manual_seed(0)  # the same random network for every N
            return super().create_tracker(params)

    return BenchmarkTracker


def make_sequences(count: int, frames: int, image_size: Tuple[int, int], seed: int) -> List[Any]:
    """``count`` in-memory sequences of ``frames`` +-2 rendered frames (rendering is not timed)."""
    from ltr.dataset.synthetic import SyntheticConfig, generate_video
    from pytracking.evaluation.data import Sequence

    sequences = []
    for i in range(count):
        length = max(2, frames + (i % 5) - 2)
        config = SyntheticConfig(image_size=tuple(image_size), num_frames=length, texture_set="test")
        video = generate_video(seed + i, config)
        boxes = video.clipped_boxes()
        sequences.append(Sequence(f"bench_{i:03d}", list(video.frames), "synthetic", boxes))
    return sequences


def measure_batch_rows(tracker_name: str, size: str, args: argparse.Namespace) -> List[Dict[str, Any]]:
    """Lockstep throughput of one tracker and size for every ``--batch-sequences`` N."""
    import contextlib
    import tempfile

    from pytracking.evaluation import results_io
    from pytracking.evaluation.batched import run_sequences_batched, supports_batching
    from pytracking.evaluation.kernels import batch_invariant_kernels
    from pytracking.tracker import UnknownTrackerError, resolve_tracker

    try:
        entry = resolve_tracker(tracker_name)
    except UnknownTrackerError:
        raise LookupError(f"no test-time tracker yet (pytracking/tracker/{tracker_name}/ missing)") from None
    param_name = parameter_set_name(tracker_name, size)
    if param_name not in entry.parameter_sets():
        raise LookupError(f"no parameter set '{param_name}'")
    image_size = tuple(args.image_size) if args.image_size else DEFAULT_IMAGE_SIZE[size]
    count = args.sequences or 2 * max(args.batch_sequences)
    sequences = make_sequences(count, args.frames, image_size, args.seed)
    checkpoint = args.checkpoints.get((tracker_name, size))
    cls = _benchmark_tracker_class()
    kernel_sets = args.kernels if args.device == "cpu" else ["batch-invariant"]
    runs = [(n, kernels) for kernels in kernel_sets for n in args.batch_sequences]
    rows: List[Dict[str, Any]] = []
    reference: Dict[str, Dict[str, bytes]] = {}  # kernels -> the first run's box files
    with tempfile.TemporaryDirectory() as tmp:
        for k, (n, kernels) in enumerate(runs):
            tracker = cls(tracker_name, param_name, results_dir=str(Path(tmp) / f"run{k}"),
                          device=args.device, weights=checkpoint)
            if not supports_batching(tracker) and n > 1:
                raise LookupError(f"{entry.tracker_class.__name__} has no batched core")
            tasks = [(i, seq, "") for i, seq in enumerate(sequences)]
            context = batch_invariant_kernels() if kernels == "batch-invariant" else contextlib.nullcontext()
            with context, contextlib.redirect_stdout(sys.stderr if args.verbose else io.StringIO()):
                outcomes = run_sequences_batched(tasks, tracker, n)
            failed = [r for _, r in outcomes if r.status != "done"]
            if failed:
                raise RuntimeError(f"{len(failed)} sequences failed, first: {failed[0].sequence}: {failed[0].error}")
            seconds = sum(float(results_io.read_times(tracker.results_dir, s.name).sum()) for s in sequences)
            frames = sum(len(s.frames) for s in sequences)
            boxes = {s.name: results_io.bbox_file(tracker.results_dir, s.name).read_bytes() for s in sequences}
            reference = reference or {kernels: boxes}
            reference.setdefault(kernels, boxes)
            rows.append({"tracker": tracker_name, "size": size, "device": args.device, "image_size": list(image_size),
                         "batch_sequences": n, "kernels": kernels, "sequences": len(sequences), "frames": frames,
                         "weights": checkpoint or "random", "tracking_s": seconds,
                         "sequences_per_s": len(sequences) / seconds, "frames_per_s": frames / seconds,
                         "same_boxes": boxes == reference[kernels]})
            print(f"  N = {n} ({kernels}): {frames / seconds:.1f} frames/s", flush=True)
    for row in rows:
        # Speed-up over N = 1 with the same kernels.
        base = next((r for r in rows if r["batch_sequences"] == 1 and r["kernels"] == row["kernels"]), None)
        row["speedup"] = row["frames_per_s"] / base["frames_per_s"] if base else float("nan")
        key = (row["tracker"], row["size"], row["batch_sequences"])
        row["meets_target"] = (row["speedup"] >= TARGET_BATCH_SPEEDUP
                               if key == TARGET_BATCH and args.device == "cpu" and base
                               and row["kernels"] == "batch-invariant" else None)
    return rows


def print_batch_table(rows: List[Dict[str, Any]]) -> None:
    headers = ["tracker", "size", "image", "weights", "N", "kernels", "sequences", "frames", "seconds", "seq/s",
               "frames/s", "speed-up", "same boxes"]
    print(format_table(headers, [[r["tracker"], r["size"], "x".join(map(str, r["image_size"])),
                                  "file" if r["weights"] != "random" else "random", r["batch_sequences"],
                                  r["kernels"], r["sequences"], r["frames"], r["tracking_s"], r["sequences_per_s"],
                                  r["frames_per_s"], r["speedup"],
                                  "yes" if r["same_boxes"] else "no"]
                                 for r in rows]))
    for row in rows:
        if row["meets_target"] is not None:
            verdict = "meets" if row["meets_target"] else "misses"
            print(f"{row['tracker']} {row['size']} N = {row['batch_sequences']}: {row['speedup']:.2f}x frames/s over "
                  f"N = 1, {verdict} the target >= {TARGET_BATCH_SPEEDUP}x")


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker", nargs="+", default=list(KNOWN_TRACKERS),
                        help="tracker names (default: all known; absent ones are skipped with a note)")
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES))
    parser.add_argument("--frames", type=int, default=30, help="counted frames per pass")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted frames at the start of each pass")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the video")
    parser.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"), dest="image_size",
                        help="frame size (default: 128 128 for tiny, 480 640 for paper)")
    parser.add_argument("--reinit-every", type=int, default=None, dest="reinit_every",
                        help="re-initialise on the ground truth every N frames (default: 1 with random "
                             "weights, 0 = never with a checkpoint)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1; 0 keeps torch's default)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="TRACKER:SIZE=FILE",
                        help="network weights of one tracker and size (repeatable; default: random)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic video seed")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--batch-sequences", type=int, nargs="+", default=None, metavar="N", dest="batch_sequences",
                        help="measure lockstep throughput for these N instead of the per-frame split")
    parser.add_argument("--sequences", type=int, default=None,
                        help="sequences per --batch-sequences run (default 2 x the largest N)")
    parser.add_argument("--kernels", nargs="+", choices=("batch-invariant", "oneDNN"), default=["batch-invariant"],
                        help="CPU convolution kernels of --batch-sequences runs: batch-invariant (what the runner "
                             "uses; boxes identical for every N) and/or oneDNN (torch's default; faster, but "
                             "boxes change in the last bits with N)")
    parser.add_argument("--verbose", action="store_true", help="show the runner's per-sequence lines")
    args = parser.parse_args(argv)
    if args.batch_sequences is not None and (min(args.batch_sequences) < 1 or 1 not in args.batch_sequences):
        parser.error("--batch-sequences needs N >= 1 and must include 1 (the speed-up is over N = 1)")
    if args.frames < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--frames and --repeats must be at least 1, --warmup at least 0")
    args.checkpoints = parse_checkpoints(parser, args.checkpoint)
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    machine, command = start_report(args, "track_speed.py", argv)

    rows: List[Dict[str, Any]] = []
    skipped: List[Dict[str, str]] = []
    failed = False
    for tracker in args.tracker:
        for size in args.sizes:
            print(f"Measuring {tracker} {size} ...", flush=True)
            try:
                if args.batch_sequences:
                    rows += measure_batch_rows(tracker, size, args)
                else:
                    rows.append(measure_row(tracker, size, args))
            except LookupError as missing:  # the tracker's pieces are not there (yet)
                print(f"note: skipping {tracker} {size}: {missing}", flush=True)
                skipped.append({"tracker": tracker, "size": size, "reason": str(missing)})
            except Exception as error:  # report and go on with the other rows
                traceback.print_exc()
                reason = f"failed: {type(error).__name__}: {error}"
                print(f"note: {tracker} {size} {reason}", flush=True)
                skipped.append({"tracker": tracker, "size": size, "reason": reason})
                failed = True
    machine["load_average_end"] = load_average()

    print()
    print(f"Machine: {describe_machine(machine)}; load average at the end {machine['load_average_end']}")
    print(f"Command: {command}")
    if args.batch_sequences:
        print_batch_table(rows)
        payload = {"benchmark": "track_speed", "mode": "batch_sequences", "machine": machine, "command": command,
                   "notes": ["synthetic sequences rendered before timing", "tracking time = sum of the written "
                             "per-frame times (initialisations and steps; network build excluded)"],
                   "target": {"speedup_min": TARGET_BATCH_SPEEDUP, "applies_to": list(TARGET_BATCH)},
                   "skipped": skipped, "rows": rows}
        save_report(args.json, payload)
        return 1 if failed else 0
    print(f"Per-frame medians over {args.repeats} pass(es); target: pre/post-processing < "
          f"{100 * TARGET_PRE_POST_SHARE:.0f}% of the frame for the {TARGET_SIZE} model on CPU.")
    headers = ["tracker", "size", "image", "weights", "frame ms", "network", "crop", "rest", "pre/post %",
               "untimed ms", "fps", "region/crop med", "max"]
    print(format_table(headers, [[r["tracker"], r["size"], "x".join(map(str, r["image_size"])),
                                  "file" if r["weights"] != "random" else f"random/reinit {r['reinit_every']}",
                                  r["frame_ms"], r["network_ms"], r["crop_ms"], r["rest_ms"],
                                  100 * r["pre_post_share"], r["frame_ms_untimed"], r["fps"],
                                  r["crop_scale"].get("median", float("nan")),
                                  r["crop_scale"].get("max", float("nan"))] for r in rows]))
    for row in rows:
        if row["meets_target"] is False:
            print(f"{row['tracker']} {row['size']}: pre/post-processing is {100 * row['pre_post_share']:.0f}% "
                  f"of the frame (target < {100 * TARGET_PRE_POST_SHARE:.0f}%): crop {row['crop_ms']:.1f} ms, "
                  f"rest {row['rest_ms']:.1f} ms per frame")

    payload = {"benchmark": "track_speed", "machine": machine, "command": command,
               "notes": ["synthetic video rendered before timing", "initialisation and re-initialisation untimed",
                         "medians over all counted frames of all passes"],
               "target": {"pre_post_share_max": TARGET_PRE_POST_SHARE, "applies_to_size": TARGET_SIZE},
               "skipped": skipped, "rows": rows}
    save_report(args.json, payload)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
