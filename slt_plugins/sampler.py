"""Episode sampler for sequence-level training.

An episode is one template frame and T search frames of one video, in increasing time
order, with the target visible in all of them (as in the official SLT sampler, which
draws search frames only among visible frames). Frame-interval augmentation: with
probability ``interval_prob`` consecutive search frames are separated by random intervals
of 1 to ``max_interval`` frames, otherwise they are consecutive visible frames.

Rules, in frame numbers of the original video:

* template: a visible frame strictly before the first search frame, at most ``max_gap``
  frames before it (``max_gap=None``: no limit);
* consecutive mode: each search frame is the next visible frame after the previous one;
* interval mode: each search frame is drawn uniformly among the visible frames 1 to
  ``max_interval`` frames after the previous one, keeping enough visible frames for the
  rest of the episode;
* where the target is invisible for a whole window (an occlusion longer than
  ``max_interval``, or than ``max_gap`` for every possible template), the next visible
  frame is taken: the only case where an interval exceeds its limit.

Videos with fewer than T + 1 visible frames are skipped.

Through-occlusion episodes (``include_invisible=True``, not part of the official recipe): the
search frames are taken among all frames, visible or not, with the same consecutive or
interval steps, so the trackers live through occlusions and out-of-view stretches as they do at
test time (where a tracker that jumps to a distractor while its target is hidden is usually lost
for good). The template and the first search frame are visible (the first search frame's box
starts the trackers), the first search frame is drawn first and the template among the visible
frames at most ``max_gap`` before it, and at least ``min_visible_share`` of the search frames must
show the target (else the draw moves on to another sequence). ``Episode.visible`` marks the
hidden frames: rewards and box losses skip them, while the actions taken on them still carry
the episode's advantage.

Image datasets
(``is_video_sequence() == False``) become episodes by augmentation: the template is the
image itself and the T search frames are shifted, scaled and sometimes blurred copies
whose transform drifts smoothly (a clipped random walk), so the target moves like in a
video.

Determinism: episode ``index`` of epoch ``e`` draws all its random numbers from a
generator seeded with ``(seed, e, index)``, so it is the same whichever DataLoader worker
builds it. Call :meth:`SequenceSampler.set_epoch` at the start of every epoch.

Frames that fail to load (``ltr.data.image_loader.ImageReadError`` where that module
exists, any ``OSError`` or ``ValueError`` otherwise) are counted in ``bad_frames`` and the
episode is redrawn with the same generator, so a long run never dies on one bad frame.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ["Episode", "SequenceSampler", "collate_episodes", "bad_frame_exceptions"]

logger = logging.getLogger(__name__)


@dataclass
class Episode:
    """One training episode.

    Attributes:
        template_frame: H x W x 3 uint8 RGB.
        template_box_xywh: (4,) float, target in the template frame, image pixels.
        frames: T search frames, H x W x 3 uint8 RGB.
        boxes_xywh: (T, 4) float, target in each search frame, image pixels.
        visible: (T,) bool, target visible (all True unless the sampler includes invisible frames).
        dataset_name, sequence_name: where the episode comes from.
        template_frame_id: frame number of the template in its video.
        frame_ids: T frame numbers of the search frames (all 0 for image datasets).
        augmented: True for episodes synthesised from a single image.
        bad_frames: frames that failed to load while this episode was being drawn.
    """

    template_frame: np.ndarray
    template_box_xywh: torch.Tensor
    frames: List[np.ndarray]
    boxes_xywh: torch.Tensor
    visible: torch.Tensor
    dataset_name: str = ""
    sequence_name: str = ""
    template_frame_id: int = 0
    frame_ids: List[int] = field(default_factory=list)
    augmented: bool = False
    bad_frames: int = 0

    @property
    def num_frames(self) -> int:
        """T, the number of search frames."""
        return len(self.frames)


def collate_episodes(batch: List[Episode]) -> List[Episode]:
    """DataLoader ``collate_fn`` that keeps episodes as a list (frames differ in size)."""
    return list(batch)


def bad_frame_exceptions() -> Tuple[type, ...]:
    """Exception types that mean "this frame could not be read" (imported lazily)."""
    types: List[type] = [OSError, ValueError]
    try:
        from ltr.data.image_loader import ImageReadError  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        pass
    else:
        if isinstance(ImageReadError, type) and issubclass(ImageReadError, BaseException):
            types.insert(0, ImageReadError)
    return tuple(types)


class _NoEpisode(Exception):
    """The drawn sequence cannot provide an episode; draw another one."""


class SequenceSampler(torch.utils.data.Dataset):
    """Draws SLT episodes from a mix of video and image datasets.

    Args:
        datasets: ``BaseVideoDataset`` instances.
        p_datasets: relative probability of drawing from each dataset (normalised);
            None weighs datasets by their number of sequences.
        num_episodes: episodes per epoch (``__len__``).
        num_frames: T, search frames per episode.
        max_gap: at most this many frames from the template to the first search frame;
            None for no limit. Official SLT: 300 (TransT, TrDiMP).
        max_interval: largest frame interval in interval mode. Official: 10 (TransT,
            TrDiMP), 7 (SiamRPN++, SiamAttn).
        interval_prob: probability of interval mode per episode. Official: 0.3 (TransT,
            TrDiMP), 0.5 (SiamRPN++, SiamAttn).
        seed: base seed of the per-episode generators.
        image_shift: largest shift of an augmented image episode, in units of the target
            size sqrt(w h).
        image_scale: largest relative scale change of an augmented image episode.
        image_drift: random-walk step of shift and scale per frame, as a fraction of their limits.
        image_blur_prob: probability that an augmented frame is blurred.
        max_redraws: give up (RuntimeError) after this many failed draws for one episode.
        include_invisible: take search frames among all frames, not only visible ones
            (through-occlusion episodes, see the module docstring). Official SLT: False.
        min_visible_share: with ``include_invisible``, the least share of the T search frames
            in which the target must be visible.
    """

    def __init__(self, datasets: Sequence[Any], p_datasets: Optional[Sequence[float]] = None,
                 num_episodes: int = 1000, num_frames: int = 24, max_gap: Optional[int] = 300,
                 max_interval: int = 10, interval_prob: float = 0.3, seed: int = 0,
                 image_shift: float = 0.5, image_scale: float = 0.2, image_drift: float = 0.25,
                 image_blur_prob: float = 0.2, max_redraws: int = 100, include_invisible: bool = False,
                 min_visible_share: float = 0.5):
        if not datasets:
            raise ValueError("SequenceSampler needs at least one dataset.")
        if p_datasets is None:
            p_datasets = [float(len(d)) for d in datasets]
        if len(p_datasets) != len(datasets):
            raise ValueError(f"{len(p_datasets)} probabilities for {len(datasets)} datasets.")
        p = np.asarray(p_datasets, dtype=np.float64)
        if (p < 0).any() or p.sum() <= 0:
            raise ValueError(f"p_datasets must be non-negative with a positive sum, got {list(p_datasets)}.")
        if num_frames < 1:
            raise ValueError(f"num_frames must be at least 1, got {num_frames}.")
        if max_interval < 1:
            raise ValueError(f"max_interval must be at least 1, got {max_interval}.")
        if max_gap is not None and max_gap < 1:
            raise ValueError(f"max_gap must be at least 1 (or None), got {max_gap}.")
        if not 0.0 < min_visible_share <= 1.0:
            raise ValueError(f"min_visible_share must be in (0, 1], got {min_visible_share}.")
        self.datasets = list(datasets)
        self.p_datasets = p / p.sum()
        self.num_episodes = int(num_episodes)
        self.num_frames = int(num_frames)
        self.max_gap = max_gap
        self.max_interval = int(max_interval)
        self.interval_prob = float(interval_prob)
        self.seed = int(seed)
        self.image_shift = float(image_shift)
        self.image_scale = float(image_scale)
        self.image_drift = float(image_drift)
        self.image_blur_prob = float(image_blur_prob)
        self.max_redraws = int(max_redraws)
        self.include_invisible = bool(include_invisible)
        self.min_visible_share = float(min_visible_share)
        self.epoch = 0
        self.bad_frames = 0  # per process: DataLoader workers count their own; see Episode.bad_frames
        self._bad_types: Optional[Tuple[type, ...]] = None

    def __len__(self) -> int:
        return self.num_episodes

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose episodes ``__getitem__`` returns."""
        self.epoch = int(epoch)

    def episode_rng(self, index: int, epoch: Optional[int] = None) -> np.random.Generator:
        """The generator of episode ``index`` of ``epoch`` (default: the current epoch)."""
        epoch = self.epoch if epoch is None else epoch
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, int(epoch), int(index)])))

    # ------------------------------------------------------------------ drawing
    def __getitem__(self, index: int) -> Episode:
        if self._bad_types is None:
            self._bad_types = bad_frame_exceptions()
        rng = self.episode_rng(index)
        bad = 0
        last_error: Optional[BaseException] = None
        for _ in range(self.max_redraws):
            dataset = self.datasets[int(rng.choice(len(self.datasets), p=self.p_datasets))]
            try:
                episode = self._draw(dataset, rng)
            except _NoEpisode as e:
                last_error = e
                continue
            except self._bad_types as e:
                bad += 1
                self.bad_frames += 1
                last_error = e
                if self.bad_frames <= 10:
                    logger.warning("Skipping a frame that failed to load (%s: %s); redrawing the episode.",
                                   type(e).__name__, e)
                continue
            episode.bad_frames = bad
            return episode
        raise RuntimeError(f"Could not draw episode {index} in {self.max_redraws} attempts "
                           f"({bad} bad frames); last problem: {last_error}")

    def _draw(self, dataset: Any, rng: np.random.Generator) -> Episode:
        num_seq = dataset.get_num_sequences()
        if num_seq < 1:
            raise _NoEpisode(f"dataset {dataset.get_name()} has no sequences")
        seq_id = int(rng.integers(num_seq))
        info = dataset.get_sequence_info(seq_id)
        if dataset.is_video_sequence():
            return self._draw_video(dataset, seq_id, info, rng)
        return self._draw_image(dataset, seq_id, info, rng)

    @staticmethod
    def _usable(info: dict) -> np.ndarray:
        """Frames whose target is visible and whose box is valid."""
        vis = info.get("visible", info.get("valid"))
        if vis is None:
            raise _NoEpisode("sequence info has neither 'visible' nor 'valid'")
        usable = torch.as_tensor(vis).bool()
        if "valid" in info:
            usable = usable & torch.as_tensor(info["valid"]).bool()
        return usable.numpy()

    def sample_frame_ids(self, visible: np.ndarray, rng: np.random.Generator) -> Tuple[int, List[int], bool]:
        """Template and T search frame numbers of one episode of a video.

        Args:
            visible: (N,) bool, target visible (and box valid) in each frame.
            rng: the episode's generator.

        Returns:
            (template frame, T search frames, whether interval mode was used).
        """
        vis_ids = np.flatnonzero(visible)
        n, T = len(vis_ids), self.num_frames
        if n < T + 1:
            raise _NoEpisode(f"{n} visible frames, need {T + 1}")
        use_intervals = self.max_interval > 1 and rng.random() < self.interval_prob
        max_step = self.max_interval if use_intervals else 1

        # Template: a position leaving T visible frames after it, preferably with a first
        # search frame within max_gap (the next visible frame is the nearest candidate).
        last_tpl = n - T - 1
        tpl_pos = np.arange(last_tpl + 1)
        if self.max_gap is not None:
            ok = vis_ids[tpl_pos + 1] - vis_ids[tpl_pos] <= self.max_gap
            if ok.any():
                tpl_pos = tpl_pos[ok]
        p = int(tpl_pos[rng.integers(len(tpl_pos))])

        # First search frame: after the template, within max_gap, leaving T - 1 frames after it.
        hi = n - T
        if self.max_gap is not None:
            hi = min(hi, int(np.searchsorted(vis_ids, vis_ids[p] + self.max_gap, side="right")) - 1)
        hi = max(hi, p + 1)
        q = int(rng.integers(p + 1, hi + 1))

        positions = [q]
        for j in range(1, T):
            pos = positions[-1]
            last_allowed = n - 1 - (T - 1 - j)  # keep enough visible frames for the remaining steps
            window_end = int(np.searchsorted(vis_ids, vis_ids[pos] + max_step, side="right")) - 1
            hi_j = min(last_allowed, window_end)
            if hi_j <= pos:  # target invisible for the whole window: take the next visible frame
                positions.append(pos + 1)
            else:
                positions.append(int(rng.integers(pos + 1, hi_j + 1)))
        return int(vis_ids[p]), [int(vis_ids[i]) for i in positions], use_intervals

    def sample_frame_ids_through_invisible(self, visible: np.ndarray,
                                           rng: np.random.Generator) -> Tuple[int, List[int], bool]:
        """Like :meth:`sample_frame_ids`, but the search frames after the first may be invisible.

        Returns (template frame, T search frames, whether interval mode was used); raises
        ``_NoEpisode`` when the video is too short or the draw shows the target in fewer than
        ``min_visible_share`` of the search frames.
        """
        n, T = len(visible), self.num_frames
        vis_ids = np.flatnonzero(visible)
        # first search frame: visible, after a visible template within max_gap, T - 1 frames left after it
        first = vis_ids[(vis_ids >= 1) & (vis_ids <= n - T)]
        if self.max_gap is not None:
            previous = np.searchsorted(vis_ids, first, side="left") - 1  # nearest visible frame before
            first = first[(previous >= 0) & (first - vis_ids[np.maximum(previous, 0)] <= self.max_gap)]
        else:
            first = first[first > vis_ids[0]]
        if len(first) == 0:
            raise _NoEpisode(f"{n} frames ({len(vis_ids)} visible): no visible frame with a visible template "
                             f"before it and {T - 1} frames after it")
        use_intervals = self.max_interval > 1 and rng.random() < self.interval_prob
        max_step = self.max_interval if use_intervals else 1
        q = int(first[rng.integers(len(first))])
        lo = q - self.max_gap if self.max_gap is not None else 0
        templates = vis_ids[(vis_ids < q) & (vis_ids >= lo)]
        tpl = int(templates[rng.integers(len(templates))])
        ids = [q]
        for j in range(1, T):
            room = (n - 1 - (T - 1 - j)) - ids[-1]  # keep a frame for each remaining step
            ids.append(ids[-1] + int(rng.integers(1, min(max_step, room) + 1)))
        shown = int(visible[ids].sum())
        if shown < math.ceil(self.min_visible_share * T):
            raise _NoEpisode(f"target visible in {shown} of {T} search frames, need {self.min_visible_share:.0%}")
        return tpl, ids, use_intervals

    def _draw_video(self, dataset: Any, seq_id: int, info: dict, rng: np.random.Generator) -> Episode:
        usable = self._usable(info)
        if self.include_invisible:
            tpl_id, search_ids, _ = self.sample_frame_ids_through_invisible(usable, rng)
            visible = torch.as_tensor(usable[search_ids], dtype=torch.bool)
        else:
            tpl_id, search_ids, _ = self.sample_frame_ids(usable, rng)
            visible = torch.ones(self.num_frames, dtype=torch.bool)
        frames, anno, _meta = dataset.get_frames(seq_id, [tpl_id] + search_ids, info)
        boxes = torch.stack([torch.as_tensor(b, dtype=torch.float32).reshape(4) for b in anno["bbox"]])
        search_boxes = boxes[1:].clone()
        # a hidden frame may have no box (NaN in some annotations); nothing reads it, keep it finite
        search_boxes[~visible.unsqueeze(1) & ~torch.isfinite(search_boxes)] = 0.0
        return Episode(template_frame=np.ascontiguousarray(frames[0]), template_box_xywh=boxes[0],
                       frames=[np.ascontiguousarray(f) for f in frames[1:]], boxes_xywh=search_boxes,
                       visible=visible,
                       dataset_name=dataset.get_name(), sequence_name=_sequence_name(dataset, seq_id),
                       template_frame_id=tpl_id, frame_ids=search_ids)

    def _draw_image(self, dataset: Any, seq_id: int, info: dict, rng: np.random.Generator) -> Episode:
        frames, anno, _meta = dataset.get_frames(seq_id, [0], info)
        image = np.ascontiguousarray(frames[0])
        box = torch.as_tensor(anno["bbox"][0], dtype=torch.float32).reshape(4)
        if not (box[2] > 1 and box[3] > 1):
            raise _NoEpisode(f"image target box {box.tolist()} is too small")
        aug_frames, aug_boxes = self.augment_image(image, box, rng)
        return Episode(template_frame=image, template_box_xywh=box, frames=aug_frames, boxes_xywh=aug_boxes,
                       visible=torch.ones(self.num_frames, dtype=torch.bool),
                       dataset_name=dataset.get_name(), sequence_name=_sequence_name(dataset, seq_id),
                       template_frame_id=0, frame_ids=[0] * self.num_frames, augmented=True)

    def augment_image(self, image: np.ndarray, box_xywh: torch.Tensor,
                      rng: np.random.Generator) -> Tuple[List[np.ndarray], torch.Tensor]:
        """T shifted/scaled/blurred copies of one image with a smoothly drifting transform.

        Each copy is the image scaled by s about the target centre and shifted by d; s and d
        follow clipped random walks starting at the identity, so the target drifts like in
        a video. Returns the frames and their (T, 4) boxes ``xywh`` in pixels.
        """
        import cv2  # only image episodes need OpenCV

        h_img, w_img = image.shape[:2]
        x, y, w, h = (float(v) for v in box_xywh)
        cx, cy = x + w / 2, y + h / 2
        size = math.sqrt(w * h)
        max_shift = self.image_shift * size
        max_log_scale = math.log1p(self.image_scale)
        fill = tuple(float(c) for c in image.reshape(-1, image.shape[2]).mean(axis=0))
        shift = np.zeros(2)
        log_scale = 0.0
        frames: List[np.ndarray] = []
        boxes = torch.zeros(self.num_frames, 4)
        for t in range(self.num_frames):
            shift = np.clip(shift + rng.normal(0.0, self.image_drift * max_shift, 2), -max_shift, max_shift)
            log_scale = float(np.clip(log_scale + rng.normal(0.0, self.image_drift * max_log_scale),
                                      -max_log_scale, max_log_scale))
            s = math.exp(log_scale)
            # keep the target centre inside the image
            ncx = min(max(cx + shift[0], 0.0), w_img - 1.0)
            ncy = min(max(cy + shift[1], 0.0), h_img - 1.0)
            m = np.array([[s, 0.0, ncx - s * cx], [0.0, s, ncy - s * cy]], dtype=np.float64)
            frame = cv2.warpAffine(image, m, (w_img, h_img), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
            if rng.random() < self.image_blur_prob:
                frame = cv2.GaussianBlur(frame, (0, 0), float(rng.uniform(0.5, 1.5)))
            frames.append(np.ascontiguousarray(frame))
            boxes[t] = torch.tensor([ncx - s * w / 2, ncy - s * h / 2, s * w, s * h])
        return frames, boxes


def _sequence_name(dataset: Any, seq_id: int) -> str:
    getter = getattr(dataset, "get_sequence_name", None)
    if callable(getter):
        return str(getter(seq_id))
    seq_list = getattr(dataset, "sequence_list", None)
    if seq_list is not None and seq_id < len(seq_list) and isinstance(seq_list[seq_id], str):
        return seq_list[seq_id]
    return str(seq_id)
