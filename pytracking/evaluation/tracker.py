"""One tracker configuration to evaluate: tracker name + parameter set (+ run id, checkpoint, frame interval).

Results of a configuration go to (see :mod:`pytracking.evaluation.results_io` for the files)::

    <results root>/<tracker>/<param>[_<run_id:03d>][_fi<I>]/

``<results root>`` is the ``results_dir`` environment setting (``SLT_RESULTS_DIR``) unless
``results_root`` is given; ``results_dir`` names the final folder directly. The ``_fi<I>`` suffix
appears only with a frame interval I > 1, so such runs never overwrite full-rate results.

Frame interval: with ``frame_interval=I`` only frames 0, I, 2I, ... are given to the tracker
(temporal subsampling, i.e. a faster-moving target); the result files have one line per
*tracked* frame, line k belonging to frame k*I.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from pytracking.evaluation.data import Sequence
from pytracking.tracker import TrackerEntry, resolve_tracker
from pytracking.tracker.base import BaseTracker
from pytracking.utils.params import TrackerParams


class InvalidInitBoxError(ValueError):
    """The first-frame box of a sequence cannot start a tracker (not finite, empty, off the image)."""


def check_init_box(seq: Sequence, box: List[float], image_hw: tuple) -> None:
    """Raise :class:`InvalidInitBoxError` naming the sequence and its first frame for an unusable box.

    A box partly outside the image is fine (datasets annotate targets cut by the border); one that
    is NaN/infinite, has no area, or lies entirely outside the image would only make the tracker
    follow garbage (or crash inside a crop).
    """
    where = f"sequence '{seq.name}' ({seq.dataset}), first frame '{seq.frames[0]}'"
    if len(box) != 4 or not all(np.isfinite(box)):
        problem = "is not four finite numbers"
    elif box[2] <= 0 or box[3] <= 0:
        problem = "has a non-positive width or height"
    elif box[0] >= image_hw[1] or box[1] >= image_hw[0] or box[0] + box[2] <= 0 or box[1] + box[3] <= 0:
        problem = f"lies entirely outside the {image_hw[1]}x{image_hw[0]} image"
    else:
        return
    raise InvalidInitBoxError(f"{where}: the initial box {box} (first ground-truth line) {problem}; "
                              f"fix the annotation or leave the sequence out.")


class FrameLoadError(RuntimeError):
    """A frame could not be read; ``path`` names it."""

    def __init__(self, path: Any, reason: str = "unreadable or not an image"):
        self.path = path
        super().__init__(f"cannot load frame '{path}': {reason}")


def load_frame(frame: Any) -> np.ndarray:
    """Read one frame as an RGB uint8 ``H x W x 3`` array.

    ``frame`` is an image file path (JPEG/PNG/...), an already decoded RGB array, or a callable
    returning one (lazily generated frames of in-memory datasets).

    Raises:
        FrameLoadError naming the file if it is missing or cannot be decoded.
    """
    if isinstance(frame, (str, os.PathLike)):
        # The training data layer's decoder, so evaluation and training see identical pixels.
        from ltr.data.image_loader import ImageReadError, imread_rgb

        path = os.fspath(frame)
        if not os.path.isfile(path):
            raise FrameLoadError(path, "file does not exist")
        try:
            return imread_rgb(path)
        except ImageReadError as error:
            raise FrameLoadError(path, getattr(error, "reason", "unreadable or not an image")) from error
    if callable(frame):
        frame = frame()
    image = np.asarray(frame)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise FrameLoadError(repr(type(frame)), f"expected an H x W x 3 image, got shape {image.shape}")
    return image.astype(np.uint8, copy=False)


class Tracker:
    """A tracker name + parameter set, with where its results go and a method to run one sequence.

    Args:
        name: tracker name (see :func:`pytracking.tracker.resolve_tracker`).
        parameter_name: parameter set, e.g. ``'slt'``.
        run_id: optional run number (repeated runs of a stochastic tracker), folder suffix ``_%03d``.
        checkpoint: network weights overriding the parameter set's ``checkpoint`` field.
        results_dir: the final result folder (overrides the default layout entirely).
        frame_interval: track every I-th frame only (see module docstring).
        results_root: root replacing the ``results_dir`` environment setting (layout kept).
        display_name: label for tables and plots (default ``<name>/<param>[_<run_id:03d>][_fi<I>]``).

    The tracker code is resolved lazily (``entry``), so a Tracker can also describe finished
    result folders of trackers whose code is not importable here.
    """

    def __init__(self, name: str, parameter_name: str, run_id: Optional[int] = None,
                 checkpoint: Optional[str] = None, results_dir: Optional[str] = None,
                 frame_interval: int = 1, results_root: Optional[str] = None,
                 display_name: Optional[str] = None):
        if int(frame_interval) < 1:
            raise ValueError(f"frame_interval must be >= 1, got {frame_interval}")
        self.name = name
        self.parameter_name = parameter_name
        self.run_id = None if run_id is None else int(run_id)
        self.checkpoint = checkpoint
        self.frame_interval = int(frame_interval)
        self.display_name = display_name or self._default_label()
        if results_dir is None:
            if results_root is None:
                from ltr.admin.environment import env_settings

                results_root = env_settings().results_dir
            results_dir = os.path.join(results_root, name, self.result_folder_name())
        self.results_dir = str(results_dir)
        # Once resolved, the entry pickles its class by reference, so a spawned worker process
        # re-imports the tracker's module (which re-registers trackers defined outside pytracking/).
        self._entry: Optional[TrackerEntry] = None

    def _default_label(self) -> str:
        return f"{self.name}/{self.result_folder_name()}"

    def result_folder_name(self) -> str:
        """``<param>[_<run_id:03d>][_fi<I>]``: the last component of the default results folder."""
        folder = self.parameter_name
        if self.run_id is not None:
            folder += f"_{self.run_id:03d}"
        if self.frame_interval > 1:
            folder += f"_fi{self.frame_interval}"
        return folder

    @property
    def entry(self) -> TrackerEntry:
        """The resolved tracker (class and parameter source); raises UnknownTrackerError if unknown."""
        if self._entry is None:
            self._entry = resolve_tracker(self.name)
        return self._entry

    def get_parameters(self) -> TrackerParams:
        """A fresh parameter set, with ``checkpoint`` replaced if this Tracker was given one."""
        params = self.entry.load_parameters(self.parameter_name)
        if self.checkpoint is not None:
            if not Path(self.checkpoint).is_file():
                raise FileNotFoundError(f"--checkpoint: no such file '{self.checkpoint}'")
            params.checkpoint = str(self.checkpoint)
        return params

    def create_tracker(self, params: TrackerParams) -> BaseTracker:
        """Construct the online tracker with ``params``."""
        return self.entry.tracker_class(params)

    def tracked_frame_ids(self, num_frames: int) -> List[int]:
        """Indices of the frames given to the tracker: 0, I, 2I, ... below ``num_frames``."""
        return list(range(0, num_frames, self.frame_interval))

    def run_sequence(self, seq: Sequence, debug: int = 0, visdom: Any = None) -> Dict[str, Any]:
        """Track one sequence from its first-frame box.

        Args:
            seq: the sequence (frames and ``init_info()``).
            debug: debug level passed to the tracker as ``params.debug``.
            visdom: a connected :class:`pytracking.utils.visdom.Visdom` to stream frames to, or None.

        Returns:
            ``{'target_bbox': [[x, y, w, h], ...] (px, one per tracked frame, the first is the
            initial box), 'time': [seconds per tracked frame], 'frame_ids': [frame index, ...]}``.

        Raises:
            FrameLoadError naming the file if a frame cannot be read.
            InvalidInitBoxError if the first-frame box cannot start a tracker.
        """
        params = self.get_parameters()
        params.debug = int(debug)
        tracker = self.create_tracker(params)
        tracker.set_visdom(visdom)

        frame_ids = self.tracked_frame_ids(len(seq.frames))
        init_info = seq.init_info()
        image = load_frame(seq.frames[0])
        init_box = [float(v) for v in init_info["init_bbox"]]
        check_init_box(seq, init_box, image.shape[:2])
        start = time.perf_counter()
        init_out = tracker.initialize(image, init_info) or {}
        elapsed = time.perf_counter() - start

        output: Dict[str, Any] = {"target_bbox": [init_box], "time": [elapsed], "frame_ids": [0]}
        if visdom is not None:
            self._show(visdom, seq, 0, image, init_box, init_out, elapsed)

        previous = {"target_bbox": init_box}
        for frame_id in frame_ids[1:]:
            if visdom is not None:
                visdom.wait_if_paused()
            image = load_frame(seq.frames[frame_id])
            start = time.perf_counter()
            out = tracker.track(image, {"frame_id": frame_id, "previous_output": previous})
            elapsed = time.perf_counter() - start
            if not isinstance(out, dict) or "target_bbox" not in out:
                raise TypeError(f"{type(tracker).__name__}.track() must return a dict with 'target_bbox', "
                                f"got {type(out).__name__}")
            box = [float(v) for v in out["target_bbox"]]
            if len(box) != 4:
                raise ValueError(f"{type(tracker).__name__}.track() returned target_bbox {box}; expected [x, y, w, h]")
            output["target_bbox"].append(box)
            output["time"].append(elapsed)
            output["frame_ids"].append(frame_id)
            previous = out
            if visdom is not None:
                self._show(visdom, seq, frame_id, image, box, out, elapsed)
        return output

    @staticmethod
    def _show(visdom: Any, seq: Sequence, frame_id: int, image: np.ndarray, box: List[float],
              out: Dict[str, Any], elapsed: float) -> None:
        """Stream one frame and the tracker's debug outputs to visdom."""
        from pytracking.utils import visdom as vis_mod

        gt = seq.ground_truth_rect
        gt_box = gt[frame_id].tolist() if frame_id < len(gt) else None
        visdom.register_tracking_frame(image, gt_bbox=gt_box, pred_bbox=box, name=vis_mod.FRAME_WIN)
        if out.get("score_map") is not None:
            visdom.register_heatmap(vis_mod.SCORE_WIN, out["score_map"])
        if out.get("search_crop") is not None:
            visdom.register_image(vis_mod.CROP_WIN, out["search_crop"])
        info: Dict[str, Any] = {"sequence": seq.name, "frame": f"{frame_id + 1} / {len(seq.frames)}",
                                "tracker fps": (1.0 / elapsed) if elapsed > 0 else float("inf"),
                                "box (x, y, w, h)": ", ".join(f"{v:.1f}" for v in box)}
        info.update(out.get("info") or {})
        visdom.register_info(vis_mod.INFO_WIN, info)
        visdom.show_controls()

    def __repr__(self) -> str:
        return f"Tracker({self.display_name!r}, results_dir={self.results_dir!r})"


def trackerlist(name: str, parameter_name: str, run_ids: Any = None, **kwargs: Any) -> List[Tracker]:
    """Trackers for several run ids of one configuration (``run_ids`` None, an int or an iterable)."""
    if run_ids is None or isinstance(run_ids, int):
        run_ids = [run_ids]
    return [Tracker(name, parameter_name, run_id=r, **kwargs) for r in run_ids]


__all__ = ["Tracker", "trackerlist", "FrameLoadError", "load_frame"]
