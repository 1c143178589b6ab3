"""How far the target moves per frame in the SLT training episodes and in the held-out test videos:
a check of frame-interval augmentation (SA) against the synthetic data.

    python ltr/run_experiment.py motion [--tracker siamrpnpp] [--setting slt_tiny] [--episodes 2000]
        [--test-videos 40] [--max-intervals 2 3 4 5] [--set FIELD=VALUE ...] [--seed 1000] [--json FILE]

Per-frame displacement, in target sizes, of one step from box ``b_{t-1}`` to box ``b_t`` (both
``xywh`` in image pixels, x and y the top-left corner):

    d_t = |c_t - c_{t-1}| / sqrt(w_{t-1} h_{t-1}),   c = (x + w / 2, y + h / 2)

A step is two consecutive *visible* frames of the frame sequence a tracker is shown: where the
target is hidden in between, the step runs from the last frame it was seen to the next one (the
motion a tracker has to bridge), which is also how the SLT sampler picks its next frame.

Sources:

* ``test@k`` (k in :data:`TEST_INTERVALS`): the held-out synthetic test split the main job
  (``slt_vs_flt``) builds, ``--test-videos`` videos of 48 frames from data seed ``--data-seed``,
  tracked at frame interval k (frames phase, phase + k, ... for every phase 0..k-1, so every frame
  contributes; the paper's Table 6 tracks the test split at intervals 1, 2, 3). The boxes are the
  image-clipped boxes of ``groundtruth.txt``, planned by the generator without rendering a pixel
  (:class:`ltr.dataset.synthetic.SyntheticVideoDataset` gives the same video as sequence i + 1 of
  the written split).
* ``SA off`` / ``SA on`` / ``interval mode``: ``--episodes`` episodes of the setting's
  :class:`slt_plugins.sampler.SequenceSampler`, built from the setting's fields as
  ``assemble_slt_trainer`` builds it, over the synthetic training stream the setting fine-tunes on,
  with ``interval_prob`` 0, the recipe's value, and 1 (the interval-mode episodes alone). Episode i
  draws the same video and template in the three sources; only the search frames differ. Steps are
  between consecutive search frames (the trackers start from the first search frame's box, so the
  template-to-first-frame gap is not tracked). The sampler runs its own code on a view of the
  dataset whose frames are 1x1 placeholders, so no image is rendered.
* ``SA on, max_interval=m`` for each ``--max-intervals`` value: the recipe's ``interval_prob`` with
  that largest interval, to find which ``max_interval`` keeps the episodes' 99th percentile within
  the test split's at interval 2 or 3.

The table and ``--json`` hold per source the number of steps, the median, 90th and 99th
percentile and maximum displacement, the share of steps above 0.5 and 1.0 target sizes and the
mean frame gap of a step (the JSON also counts the steps per gap), and for each source the test
interval whose 90th percentile is closest to its own. Recipe defaults are not changed; ``--set``
changes a field of the setting for every training source (the sources' own ``interval_prob`` /
``max_interval`` win).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ltr.admin import config
from ltr.admin.config import ConfigError
from ltr.admin.report import save_report, start_report

#: How this experiment is started (for the rerun command in its records).
SCRIPT = "ltr/run_experiment.py motion"
#: Frame intervals the test split is measured at (the paper's Table 6).
TEST_INTERVALS: Tuple[int, ...] = (1, 2, 3)
#: Displacements (target sizes) whose exceedance share is reported.
THRESHOLDS: Tuple[float, ...] = (0.5, 1.0)
#: The test split of the main job (ltr/experiments/slt_vs_flt.py ensure_test_data).
TEST_FRAMES = 48
#: Training sources: name -> settings overrides (None: the recipe's value).
TRAIN_SOURCES: Dict[str, Dict[str, Any]] = {
    "SA off": {"interval_prob": 0.0},
    "SA on": {},
    "interval mode": {"interval_prob": 1.0},
}


def displacements(boxes_xywh: np.ndarray, visible: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-step target displacement in target sizes along one frame sequence.

    Args:
        boxes_xywh: (N, 4) boxes ``x, y, w, h`` in pixels (x, y the top-left corner), in the order
            the frames are shown.
        visible: (N,) bool, target visible; None: all visible. Hidden frames are skipped, so a
            step joins consecutive visible frames.

    Returns:
        (M,) float64, ``|c_t - c_{t-1}| / sqrt(w_{t-1} h_{t-1})`` for each step between consecutive
        visible frames whose earlier box has a positive area (M <= N - 1).
    """
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    if visible is not None:
        boxes = boxes[np.asarray(visible, dtype=bool).reshape(-1)]
    if len(boxes) < 2:
        return np.zeros(0)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    step = np.hypot(*(centres[1:] - centres[:-1]).T)
    area = boxes[:-1, 2] * boxes[:-1, 3]
    # a zero-size box (target fully outside the image, GOT-10k style) has no size to measure in
    ok = area > 0
    return step[ok] / np.sqrt(area[ok])


def visible_gaps(frame_ids: Sequence[int], visible: Optional[np.ndarray] = None) -> np.ndarray:
    """Frame-number gaps of the steps :func:`displacements` measures (same order and pairs, before
    its zero-area filter, which never applies to visible synthetic boxes)."""
    ids = np.asarray(frame_ids, dtype=np.int64)
    if visible is not None:
        ids = ids[np.asarray(visible, dtype=bool).reshape(-1)]
    return np.diff(ids)


def summarise(values: np.ndarray, gaps: np.ndarray) -> Dict[str, Any]:
    """Median, 90th / 99th percentile, max, exceedance shares (``above_<t>``), mean frame gap and
    the steps per frame gap (``gap_counts``) of one source's displacements ``values``."""
    values = np.asarray(values, dtype=np.float64)
    row: Dict[str, Any] = {"steps": int(len(values))}
    if len(values) == 0:
        row.update({k: float("nan") for k in ("median", "p90", "p99", "max", "mean_gap")})
        row.update({f"above_{t:g}": float("nan") for t in THRESHOLDS}, gap_counts={})
        return row
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    row.update({"median": float(p50), "p90": float(p90), "p99": float(p99), "max": float(values.max())})
    row.update({f"above_{t:g}": float((values > t).mean()) for t in THRESHOLDS})
    row["mean_gap"] = float(np.mean(gaps)) if len(gaps) else float("nan")
    sizes, counts = np.unique(np.asarray(gaps, dtype=np.int64), return_counts=True)
    row["gap_counts"] = {int(g): int(c) for g, c in zip(sizes, counts)}
    return row


# ------------------------------------------------------------------------------------- test split
def heldout_dataset(num_videos: int, data_seed: int):
    """The held-out test split as a dataset: video i is sequence i + 1 of the split that
    ``slt_vs_flt`` writes with ``ensure_got10k_layout(..., 'test', num_videos, 48, data_seed)``."""
    from ltr.dataset.synthetic import SyntheticConfig, SyntheticVideoDataset

    return SyntheticVideoDataset("test", num_sequences=num_videos, seed=data_seed,
                                 config=SyntheticConfig(num_frames=TEST_FRAMES))


def heldout_steps(dataset, interval: int) -> Tuple[np.ndarray, np.ndarray]:
    """Displacements and frame gaps of every video of ``dataset`` tracked at frame ``interval``,
    over every phase of the subsampling."""
    values: List[np.ndarray] = []
    gaps: List[np.ndarray] = []
    for seq_id in range(dataset.get_num_sequences()):
        info = dataset.get_sequence_info(seq_id)
        boxes, visible = info["bbox"].numpy(), info["visible"].numpy()
        frames = np.arange(len(boxes))
        for phase in range(interval):
            shown = frames[phase::interval]
            values.append(displacements(boxes[shown], visible[shown]))
            gaps.append(visible_gaps(shown, visible[shown]))
    return np.concatenate(values), np.concatenate(gaps)


# -------------------------------------------------------------------------------- training episodes
class BoxesOnly:
    """A video dataset seen through a window that returns 1x1 placeholder frames: the sampler's
    frame choice and boxes are its own, and no pixel is rendered."""

    def __init__(self, dataset: Any):
        if not dataset.is_video_sequence():
            # image datasets become episodes by warping the pixels, which a placeholder cannot stand in for
            raise ValueError(f"{dataset.get_name()} is an image dataset; its episodes need rendered frames")
        self._dataset = dataset

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)

    def __len__(self) -> int:  # special methods bypass __getattr__; the sampler weighs datasets by it
        return len(self._dataset)

    def get_frames(self, seq_id: int, frame_ids: Sequence[int], anno: Optional[Mapping[str, Any]] = None):
        """Placeholder frames with the real annotations of ``frame_ids``."""
        if anno is None:
            anno = self._dataset.get_sequence_info(seq_id)
        frames = [np.zeros((1, 1, 3), dtype=np.uint8) for _ in frame_ids]
        anno_frames = {key: [value[int(f), ...].clone() for f in frame_ids] for key, value in anno.items()}
        return frames, anno_frames, {}


def episode_sampler(settings, datasets: Sequence[Any], num_episodes: int):
    """The SequenceSampler ``assemble_slt_trainer`` builds from ``settings``, with ``num_episodes``
    episodes and box-only views of ``datasets``."""
    from slt_plugins.sampler import SequenceSampler

    return SequenceSampler([BoxesOnly(d) for d in datasets], None, num_episodes=num_episodes,
                           num_frames=settings.num_frames, max_gap=settings.max_gap,
                           max_interval=settings.max_interval, interval_prob=settings.interval_prob,
                           seed=settings.seed, include_invisible=settings.include_invisible)


def episode_steps(sampler, num_episodes: int) -> Tuple[np.ndarray, np.ndarray]:
    """Displacements and frame gaps between consecutive search frames of episodes 0..N-1 of epoch 0."""
    sampler.set_epoch(0)
    values: List[np.ndarray] = []
    gaps: List[np.ndarray] = []
    for index in range(num_episodes):
        episode = sampler[index]
        visible = episode.visible.numpy()
        values.append(displacements(episode.boxes_xywh.numpy(), visible))
        gaps.append(visible_gaps(episode.frame_ids, visible))
    return np.concatenate(values), np.concatenate(gaps)


def training_settings(tracker: str, setting: str, seed: int, assignments: Sequence[str],
                      overrides: Mapping[str, Any]):
    """Typed settings of the tracker's SLT ``setting`` with ``--set`` ``assignments`` and a
    source's ``overrides`` (which win)."""
    from ltr.experiments.slt_vs_flt import make_settings, setting_module

    module = setting_module(tracker, setting)
    for text in assignments:  # make_settings skips unknown fields; here a typo must not pass silently
        config.parse_assignment(text, module.FIELDS, f"{tracker} {setting}")
    return make_settings(module, "motion", Path("workspace/motion"), seed, None, assignments, overrides)


def train_sources(args) -> Dict[str, Dict[str, Any]]:
    """Name -> settings overrides of every training source of this run."""
    sources = dict(TRAIN_SOURCES)
    for m in args.max_intervals:
        sources[f"SA on, max_interval={m}"] = {"max_interval": m}
    return sources


# -------------------------------------------------------------------------------------- reporting
def closest_test_interval(rows: Mapping[str, Mapping[str, Any]], p90: float) -> Optional[int]:
    """The test interval whose 90th percentile is nearest ``p90`` (None without test rows)."""
    candidates = [(abs(rows[f"test@{k}"]["p90"] - p90), k) for k in TEST_INTERVALS if f"test@{k}" in rows]
    return min(candidates)[1] if candidates else None


def calibration(rows: Mapping[str, Mapping[str, Any]], max_intervals: Sequence[int],
                recipe_max_interval: int) -> Dict[str, Optional[int]]:
    """Per test interval k: the largest ``max_interval`` (of those measured, the recipe's
    included) whose SA-on 99th percentile is at most the test split's at interval k."""
    measured = {recipe_max_interval: rows["SA on"]["p99"]}
    measured.update({m: rows[f"SA on, max_interval={m}"]["p99"] for m in max_intervals})
    result: Dict[str, Optional[int]] = {}
    for k in TEST_INTERVALS:
        within = [m for m, p99 in measured.items() if p99 <= rows[f"test@{k}"]["p99"]]
        result[f"test@{k}"] = max(within) if within else None
    return result


def format_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """One line per source: steps, percentiles, exceedance shares, mean gap, closest test interval."""
    shares = "".join(f" {'>' + format(t, 'g'):>6s}" for t in THRESHOLDS)
    lines = [f"{'source':26s} {'steps':>6s} {'median':>7s} {'p90':>6s} {'p99':>6s} {'max':>6s}{shares} "
             f"{'gap':>5s} {'p90 ~ test@':>11s}"]
    for name, row in rows.items():
        share_text = "".join(f" {row[f'above_{t:g}']:6.1%}" for t in THRESHOLDS)
        lines.append(f"{name:26s} {row['steps']:6d} {row['median']:7.3f} {row['p90']:6.3f} {row['p99']:6.3f} "
                     f"{row['max']:6.3f}{share_text} {row['mean_gap']:5.2f} {row['closest_test_interval']!s:>11s}")
    return "\n".join(lines)


def measure(args) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, Any]]:
    """Rows of every source (test split first) and the recipe fields they were drawn with."""
    rows: Dict[str, Dict[str, Any]] = {}
    test = heldout_dataset(args.test_videos, args.data_seed)
    for k in TEST_INTERVALS:
        rows[f"test@{k}"] = summarise(*heldout_steps(test, k))
    recipe: Dict[str, Any] = {}
    from ltr.train_settings.common import synthetic_train_datasets

    for name, overrides in train_sources(args).items():
        settings = training_settings(args.tracker, args.setting, args.seed, args.assignments, overrides)
        sampler = episode_sampler(settings, synthetic_train_datasets(settings, fine_tune=True), args.episodes)
        row = summarise(*episode_steps(sampler, args.episodes))
        row.update(max_interval=settings.max_interval, interval_prob=settings.interval_prob)
        rows[name] = row
        if name == "SA on":
            recipe = {field: getattr(settings, field) for field in
                      ("num_frames", "max_gap", "max_interval", "interval_prob", "include_invisible",
                       "synthetic_train_overrides", "seed")}
    for row in rows.values():
        row["closest_test_interval"] = closest_test_interval(rows, row["p90"])
    return rows, recipe


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker", default="siamrpnpp")
    parser.add_argument("--setting", default="slt_tiny", help="SLT training setting of the tracker")
    parser.add_argument("--episodes", type=int, default=2000, help="training episodes per source")
    parser.add_argument("--test-videos", type=int, default=40, dest="test_videos",
                        help="videos of the held-out test split (slt_vs_flt's default)")
    parser.add_argument("--data-seed", type=int, default=12345, dest="data_seed",
                        help="seed of the test split (slt_vs_flt's default)")
    parser.add_argument("--max-intervals", type=int, nargs="*", default=[], dest="max_intervals",
                        help="also measure SA on with each of these max_interval values")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="assignments",
                        help="change a field of the setting (repeatable), e.g. --set num_frames=24")
    parser.add_argument("--seed", type=int, default=1000,
                        help="settings seed (the sampler's; the stream uses seed + 1); "
                             "slt_vs_flt's SLT arms of seed 0 use 1000")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    args.device = "cpu"
    if args.episodes < 1 or args.test_videos < 1:
        parser.error("--episodes and --test-videos must be positive")
    if any(m < 1 for m in args.max_intervals):
        parser.error(f"--max-intervals must be positive, got {args.max_intervals}")
    machine, command = start_report(args, SCRIPT, argv)
    tic = time.perf_counter()
    try:
        rows, recipe = measure(args)
    except ConfigError as error:
        parser.error(str(error))
    seconds = time.perf_counter() - tic
    fit = calibration(rows, args.max_intervals, recipe["max_interval"])
    print(f"\n{args.tracker} {args.setting}: T = {recipe['num_frames']}, max_interval {recipe['max_interval']}, "
          f"interval_prob {recipe['interval_prob']:g}; {args.episodes} episodes per training source; "
          f"test split {args.test_videos} videos x {TEST_FRAMES} frames (seed {args.data_seed}); {seconds:.0f} s")
    print("displacement per step |c_t - c_{t-1}| / sqrt(w_{t-1} h_{t-1}), consecutive visible frames")
    table = format_table(rows)
    print(table)
    for name, row in rows.items():
        print(f"{name}: 90th percentile {row['p90']:.3f} is closest to the test split at interval "
              f"{row['closest_test_interval']}")
    for k, m in fit.items():
        print(f"largest max_interval measured with SA-on p99 <= {k} p99 ({rows[k]['p99']:.3f}): {m}")
    config_record = {"tracker": args.tracker, "setting": args.setting, "episodes": args.episodes,
                     "test_videos": args.test_videos, "test_frames": TEST_FRAMES, "data_seed": args.data_seed,
                     "test_intervals": list(TEST_INTERVALS), "max_intervals": args.max_intervals,
                     "assignments": args.assignments, "recipe": recipe}
    save_report(args.json, {"benchmark": "motion", "machine": machine, "command": command, "config": config_record,
                            "seconds": seconds, "sources": rows, "calibration": fit, "table": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
