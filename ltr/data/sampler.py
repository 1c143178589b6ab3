"""Frame-level sampling of (template, search) pairs for frame-level training (FLT).

:class:`FrameLevelSampler` plays the role of pytracking's ``TrackingSampler``: each item picks a
dataset (by probability), a sequence, and visible template and search frames close in time;
augmentation, cropping and label generation are left to ``processing``.

Determinism: with a ``seed``, item ``i`` of epoch ``e`` is drawn from an RNG seeded with
``(seed, e, i)``, so it is the same whatever DataLoader worker or process produces it.

Robustness: a frame that cannot be read (:class:`ImageReadError`) does not stop training; the
file is logged and recorded in :attr:`FrameLevelSampler.bad_frames`, and another sample is drawn.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ltr.data.image_loader import ImageReadError

__all__ = ["FrameLevelSampler", "sample_frame_ids", "SamplingError"]

logger = logging.getLogger(__name__)

_MODES = ("causal", "interval")


class SamplingError(RuntimeError):
    """No valid sample could be drawn within the allowed number of tries."""


def _visible_in(cum: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Number of visible frames in [start, stop) for arrays of bounds (clipped to the sequence)."""
    n = len(cum) - 1
    return cum[np.clip(stop, 0, n)] - cum[np.clip(start, 0, n)]


def sample_frame_ids(visible: np.ndarray, num_template: int, num_search: int, max_gap: int, mode: str,
                     rng: np.random.Generator) -> Optional[Tuple[List[int], List[int]]]:
    """Pick template and search frame ids among the visible frames of one video.

    A base template frame ``t`` is drawn uniformly among the visible frames that admit a valid
    choice, then, without repetition:

    * ``'causal'``: ``num_template - 1`` extra template frames in ``[t - max_gap, t)`` and
      ``num_search`` search frames in ``(t, t + max_gap]`` (search frames follow the templates);
    * ``'interval'``: all other frames in ``[t - max_gap, t + max_gap]``, either side of ``t``.

    Returns:
        (template_ids, search_ids), each sorted, base frame included in the templates; or None
        when the video has no base frame with enough visible frames within ``max_gap``.
    """
    visible = np.asarray(visible, dtype=bool)
    vis_idx = np.flatnonzero(visible)
    if len(vis_idx) < num_template + num_search:
        return None
    cum = np.concatenate([[0], np.cumsum(visible)])
    if mode == "causal":
        before = _visible_in(cum, vis_idx - max_gap, vis_idx)
        after = _visible_in(cum, vis_idx + 1, vis_idx + max_gap + 1)
        candidates = vis_idx[(before >= num_template - 1) & (after >= num_search)]
    elif mode == "interval":
        around = _visible_in(cum, vis_idx - max_gap, vis_idx + max_gap + 1) - 1
        candidates = vis_idx[around >= num_template - 1 + num_search]
    else:
        raise ValueError(f"frame_sample_mode must be one of {_MODES}, got {mode!r}")
    if len(candidates) == 0:
        return None
    base = int(rng.choice(candidates))
    if mode == "causal":
        earlier = vis_idx[(vis_idx >= base - max_gap) & (vis_idx < base)]
        later = vis_idx[(vis_idx > base) & (vis_idx <= base + max_gap)]
        extra = rng.choice(earlier, size=num_template - 1, replace=False).tolist() if num_template > 1 else []
        search = rng.choice(later, size=num_search, replace=False).tolist()
    else:
        window = vis_idx[(np.abs(vis_idx - base) <= max_gap) & (vis_idx != base)]
        picked = rng.choice(window, size=num_template - 1 + num_search, replace=False).tolist()
        extra, search = picked[:num_template - 1], picked[num_template - 1:]
    return sorted([base] + [int(i) for i in extra]), sorted(int(i) for i in search)


class FrameLevelSampler(torch.utils.data.Dataset):
    """Template/search frame sets from a mix of datasets.

    Args:
        datasets: datasets with the BaseVideoDataset interface.
        p_datasets: probability of drawing from each dataset (normalised); None = proportional
            to the number of sequences.
        samples_per_epoch: ``len(sampler)``.
        max_gap: frame distance allowed between the base template frame and the other frames.
        num_template_frames, num_search_frames: frames per item.
        processing: callable applied to the item dict (crops, augmentation, labels); it also
            receives ``data['rng']``, the item's numpy Generator, for its random choices (and
            should not pass it on). If it returns a dict with ``'valid'`` False, another item is
            drawn (pytracking behaviour).
        frame_sample_mode: ``'causal'`` (search after template) or ``'interval'``.
        seed: makes item i of each epoch reproducible (see module doc); None = fresh randomness.
        max_tries: draws allowed per item before :class:`SamplingError`.
        return_masks: also return ``template_masks``/``search_masks`` (None per frame for
            datasets without masks).

    Items (before ``processing``)::

        {'template_images': [H x W x 3 uint8 RGB, ...], 'template_anno': [(4,) xywh tensor, ...],
         'search_images': [...], 'search_anno': [...], 'dataset': str, 'sequence': str,
         'sequence_id': int, 'template_frame_ids': [int, ...], 'search_frame_ids': [int, ...]}

    Image datasets (``is_video_sequence() == False``) repeat their single frame for template and
    search; ``processing`` makes the pair differ by augmentation.
    """

    def __init__(self, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                 samples_per_epoch: int = 1000, max_gap: int = 100, num_template_frames: int = 1,
                 num_search_frames: int = 1, processing: Optional[Callable[[Dict[str, Any]], Any]] = None,
                 frame_sample_mode: str = "causal", seed: Optional[int] = None, max_tries: int = 100,
                 return_masks: bool = False):
        if not datasets:
            raise ValueError("FrameLevelSampler needs at least one dataset.")
        if frame_sample_mode not in _MODES:
            raise ValueError(f"frame_sample_mode must be one of {_MODES}, got {frame_sample_mode!r}")
        if num_template_frames < 1 or num_search_frames < 1:
            raise ValueError("num_template_frames and num_search_frames must be at least 1.")
        if max_gap < 1:
            raise ValueError(f"max_gap must be at least 1, got {max_gap}")
        self.datasets = list(datasets)
        weights = [len(d) for d in self.datasets] if p_datasets is None else list(p_datasets)
        if len(weights) != len(self.datasets) or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"p_datasets must give one non-negative weight per dataset, got {p_datasets}")
        self.p_datasets = np.asarray(weights, dtype=np.float64) / float(sum(weights))
        empty = [d.get_name() for d, p in zip(self.datasets, self.p_datasets) if p > 0 and d.get_num_sequences() == 0]
        if empty:
            raise ValueError(f"FrameLevelSampler: datasets {empty} have no sequences but a positive probability.")
        self.samples_per_epoch = int(samples_per_epoch)
        self.max_gap = int(max_gap)
        self.num_template_frames = int(num_template_frames)
        self.num_search_frames = int(num_search_frames)
        self.processing = processing
        self.frame_sample_mode = frame_sample_mode
        self.seed = seed
        self.max_tries = int(max_tries)
        self.return_masks = return_masks
        self.epoch = 0
        #: (file, error) of every frame that failed to load in this process.
        self.bad_frames: List[Tuple[str, str]] = []

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose items are produced (with a seed, each epoch differs)."""
        self.epoch = int(epoch)

    @property
    def num_bad_frames(self) -> int:
        return len(self.bad_frames)

    def rng_for(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng(np.random.SeedSequence([int(self.seed), self.epoch, int(index)]))

    def _frame_ids(self, dataset, info: Dict[str, torch.Tensor], rng: np.random.Generator):
        visible = info["visible"] if "visible" in info else info["valid"]
        visible = visible.numpy().astype(bool) if torch.is_tensor(visible) else np.asarray(visible, dtype=bool)
        if not dataset.is_video_sequence():
            if not visible[:1].any():
                return None
            return [0] * self.num_template_frames, [0] * self.num_search_frames
        return sample_frame_ids(visible, self.num_template_frames, self.num_search_frames, self.max_gap,
                                self.frame_sample_mode, rng)

    def __getitem__(self, index: int):
        rng = self.rng_for(index)
        failures: Counter = Counter()
        for _ in range(self.max_tries):
            d = int(rng.choice(len(self.datasets), p=self.p_datasets))
            dataset = self.datasets[d]
            seq_id = int(rng.integers(dataset.get_num_sequences()))
            try:
                info = dataset.get_sequence_info(seq_id)
                ids = self._frame_ids(dataset, info, rng)
                if ids is None:
                    failures[f"{dataset.get_name()}: too few visible frames within max_gap"] += 1
                    continue
                template_ids, search_ids = ids
                frames, anno, _ = dataset.get_frames(seq_id, template_ids + search_ids, info)
            except ImageReadError as exc:
                self.bad_frames.append((exc.path, exc.reason))
                logger.warning("Skipping a sample with an unreadable frame: %s (%d bad frames so far in this "
                               "process)", exc, len(self.bad_frames))
                failures[f"{dataset.get_name()}: unreadable frame"] += 1
                continue
            data = self._item(dataset, seq_id, template_ids, search_ids, frames, anno)
            if self.processing is None:
                return data
            # augmentation draws from the item's generator, so processed items are reproducible too
            data["rng"] = rng
            data = self.processing(data)
            if isinstance(data, dict) and "valid" in data and not bool(data["valid"]):
                failures["processing marked the sample invalid"] += 1
                continue
            return data
        reasons = "; ".join(f"{reason} x{count}" for reason, count in failures.most_common())
        raise SamplingError(
            f"FrameLevelSampler: no valid sample in {self.max_tries} draws for item {index} "
            f"(need {self.num_template_frames} template + {self.num_search_frames} search visible frames within "
            f"max_gap={self.max_gap}, mode '{self.frame_sample_mode}'). Failures: {reasons}. Check the datasets' "
            f"visibility annotations, raise max_gap, or drop datasets whose sequences are too short.")

    def _item(self, dataset, seq_id: int, template_ids: List[int], search_ids: List[int],
              frames: list, anno: Dict[str, list]) -> Dict[str, Any]:
        nt = len(template_ids)
        name_of = getattr(dataset, "get_sequence_name", None)
        data = {
            "template_images": frames[:nt],
            "template_anno": anno["bbox"][:nt],
            "search_images": frames[nt:],
            "search_anno": anno["bbox"][nt:],
            "dataset": dataset.get_name(),
            "sequence": name_of(seq_id) if callable(name_of) else str(seq_id),
            "sequence_id": seq_id,
            "template_frame_ids": list(template_ids),
            "search_frame_ids": list(search_ids),
        }
        if self.return_masks:
            masks = anno.get("mask", [None] * len(frames))
            data["template_masks"] = masks[:nt]
            data["search_masks"] = masks[nt:]
        return data
