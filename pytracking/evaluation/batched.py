"""Track many sequences in lockstep: one network call per frame step for N sequences.

:func:`run_sequences_batched` keeps up to N sequences of one tracker configuration running
side by side through the tracker's batched core (a :class:`BatchedTracker`, e.g. every
:class:`~pytracking.tracker.common.tracker_state.LockstepTracker`: SiamRPN++, TransT, TrDiMP).
At every step each running sequence gives its next frame; the tracker steps all of them at once
and the boxes of the whole batch come back to the host in one transfer. A sequence that ends
(or fails) leaves its slot, and the next sequence in line starts there (its first frame
initialises it while the others keep tracking). Each sequence writes the result files it writes
when tracked alone (:func:`pytracking.evaluation.running.run_sequence`): the same boxes, bit
for bit on a CPU (under :func:`pytracking.evaluation.kernels.batch_invariant_kernels`, as the
runner calls it), and a ``_time.txt`` line per frame
holding that frame's share of the step (the step's wall time divided by the sequences in it).

Frames are read ahead on a background thread (:class:`FramePrefetcher`, a few frames per
running sequence plus the first frames of the sequences next in line); on a CUDA device the
thread also copies them to the device from pinned memory with non-blocking copies on a side
stream, so decoding and upload overlap the network.

Failures stay per sequence: a frame that cannot be read or an unusable first box fails that
sequence only (reported like a one-by-one run) and frees its slot; an error inside a batched
step fails the sequences of that step (the tracker is rebuilt for the rest).
"""
from __future__ import annotations

import collections
import dataclasses
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Deque, Dict, List, Protocol, Sequence as SequenceT
from typing import Tuple, runtime_checkable

import numpy as np
import torch

from pytracking.evaluation import results_io
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.tracker import (FrameLoadError, InvalidInitBoxError, Tracker, check_init_box,
                                           load_frame)

__all__ = ["BatchedTracker", "FramePrefetcher", "run_sequences_batched",
           "supports_batching"]

#: Frames read ahead per running sequence.
PREFETCH_DEPTH = 2


@runtime_checkable
class BatchedTracker(Protocol):
    """What :func:`run_sequences_batched` needs of a tracker (see
    :class:`~pytracking.tracker.common.tracker_state.LockstepTracker`)."""

    @property
    def batch_size(self) -> int: ...

    def start_trackers(self, frames: Any, boxes_xywh: torch.Tensor) -> None: ...

    def keep_trackers(self, rows: Any) -> None: ...

    def track_batch(self, frames: Any) -> torch.Tensor: ...


def supports_batching(tracker: Tracker) -> bool:
    """Whether the configuration's tracker class tracks several sequences in lockstep."""
    cls = tracker.entry.tracker_class
    return all(callable(getattr(cls, name, None)) for name in ("start_trackers", "keep_trackers", "track_batch"))


# ---------------------------------------------------------------------------------- prefetching
@dataclasses.dataclass
class _DeviceFrame:
    """A frame uploaded by the prefetch thread: usable once ``ready`` has been waited on."""

    tensor: torch.Tensor
    ready: Any
    host: torch.Tensor  # the pinned source stays alive until the copy is done


class FramePrefetcher:
    """Decodes frames on one background thread, in the order they are asked for.

    ``request(frame)`` returns a future; ``get(future)`` the frame: an RGB uint8 array on a CPU
    device, a (H, W, 3) uint8 tensor already on a CUDA device (copied from pinned memory on a
    side stream; the current stream waits for the copy). A frame that cannot be read raises its
    :class:`FrameLoadError` from ``get``.
    """

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frame-prefetch")
        self._stream = torch.cuda.Stream(device=self.device) if self.device.type == "cuda" else None

    def _load(self, frame: Any) -> Any:
        image = load_frame(frame)
        if self._stream is None:
            return image
        host = torch.from_numpy(np.ascontiguousarray(image)).pin_memory()
        with torch.cuda.stream(self._stream):
            tensor = host.to(self.device, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record(self._stream)
        return _DeviceFrame(tensor, ready, host)

    def request(self, frame: Any) -> Future:
        return self._pool.submit(self._load, frame)

    def get(self, future: Future) -> Any:
        item = future.result()
        if isinstance(item, _DeviceFrame):
            current = torch.cuda.current_stream(self.device)
            current.wait_event(item.ready)
            item.tensor.record_stream(current)
            return item.tensor
        return item

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------- the run
@dataclasses.dataclass
class _Running:
    """One sequence in a slot of the batch."""

    index: int                      # position in the caller's task order
    seq: Sequence
    position: str
    frame_ids: List[int]
    boxes: List[List[float]] = dataclasses.field(default_factory=list)
    times: List[float] = dataclasses.field(default_factory=list)
    ahead: Deque[Future] = dataclasses.field(default_factory=collections.deque)
    next_request: int = 1           # next entry of frame_ids to ask the prefetcher for

    @property
    def done(self) -> bool:
        return len(self.boxes) == len(self.frame_ids)

    def request_ahead(self, prefetcher: FramePrefetcher, depth: int) -> None:
        while len(self.ahead) < depth and self.next_request < len(self.frame_ids):
            self.ahead.append(prefetcher.request(self.seq.frames[self.frame_ids[self.next_request]]))
            self.next_request += 1

    def cancel(self) -> None:
        for future in self.ahead:
            future.cancel()
        self.ahead.clear()


def _print(message: str) -> None:
    print(message, flush=True)


def run_sequences_batched(tasks: SequenceT[Tuple[int, Sequence, str]], tracker: Tracker, batch_sequences: int,
                          debug: int = 0) -> List[Tuple[int, Any]]:
    """Track ``tasks`` ((index, sequence, position label)) with one tracker configuration, up to
    ``batch_sequences`` at a time, and write their result files.

    Finished sequences (both result files present) are skipped as in a one-by-one run.

    Returns:
        ``(index, SequenceResult)`` for every task, in the order they completed.
    """
    from pytracking.evaluation.running import SequenceResult

    label = tracker.display_name
    outcomes: List[Tuple[int, Any]] = []

    def finish(index: int, result: Any) -> None:
        outcomes.append((index, result))

    def fail(item: _Running | Tuple[int, Sequence, str], error: BaseException) -> None:
        index, seq, position = (item.index, item.seq, item.position) if isinstance(item, _Running) else item
        prefix = f"{position} " if position else ""
        if isinstance(error, (FrameLoadError, InvalidInitBoxError)):
            message = str(error)
        else:
            traceback.print_exception(type(error), error, error.__traceback__)
            message = f"{type(error).__name__}: {error}"
        _print(f"{prefix}{label} {seq.name}: FAILED: {message}")
        finish(index, SequenceResult(label, seq.name, "failed", error=message))

    pending: Deque[Tuple[int, Sequence, str]] = collections.deque()
    for index, seq, position in tasks:
        if not debug and results_io.is_finished(tracker.results_dir, seq.name):
            prefix = f"{position} " if position else ""
            _print(f"{prefix}{label} {seq.name}: already done, skipped")
            finish(index, SequenceResult(label, seq.name, "skipped"))
        else:
            pending.append((index, seq, position))
    if not pending:
        return outcomes

    def build() -> Any:
        params = tracker.get_parameters()
        params.debug = int(debug)
        return tracker.create_tracker(params)

    try:
        online = build()
    except KeyboardInterrupt:
        raise
    except Exception as error:  # e.g. a missing checkpoint: every sequence fails with the reason, as one by one
        for item in pending:
            fail(item, error)
        return outcomes
    device = torch.device(getattr(getattr(online, "core", None), "device", "cpu"))
    prefetcher = FramePrefetcher(device)
    first_frames: Dict[int, Future] = {}

    def request_first_frames() -> None:
        # The first frames of the sequences next in line, so a freed slot restarts without waiting.
        for index, seq, _ in list(pending)[:batch_sequences]:
            if index not in first_frames:
                first_frames[index] = prefetcher.request(seq.frames[0])

    def retire(running: List[_Running]) -> List[_Running]:
        """Write the result files of finished sequences and drop their trackers from the batch."""
        if not any(item.done for item in running):
            return running
        keep = []
        for row, item in enumerate(running):
            if not item.done:
                keep.append(row)
                continue
            try:
                results_io.write_results(tracker.results_dir, item.seq.name, item.boxes, item.times)
            except OSError as error:
                fail(item, error)
                continue
            times = np.asarray(item.times, dtype=np.float64)
            total = float(times.sum())
            fps = len(times) / total if total > 0 else float("inf")
            prefix = f"{item.position} " if item.position else ""
            _print(f"{prefix}{label} {item.seq.name}: {len(times)} frames, {fps:.1f} FPS")
            finish(item.index, SequenceResult(label, item.seq.name, "done", num_frames=len(times), fps=fps))
        online.keep_trackers(keep)
        return [running[row] for row in keep]

    running: List[_Running] = []   # row r of the tracker's batch is running[r]
    try:
        while pending or running:
            request_first_frames()
            # ---- refill free slots (one batched initialisation for all of them)
            starting: List[Tuple[_Running, Any, List[float]]] = []
            while pending and len(running) + len(starting) < batch_sequences:
                index, seq, position = pending.popleft()
                try:
                    image = prefetcher.get(first_frames.pop(index))
                    box = [float(v) for v in seq.init_info()["init_bbox"]]
                    check_init_box(seq, box, tuple(image.shape[:2]))
                except KeyboardInterrupt:
                    raise
                except Exception as error:  # unreadable first frame, bad first box: this sequence only
                    fail((index, seq, position), error)
                    request_first_frames()
                    continue
                item = _Running(index, seq, position, tracker.tracked_frame_ids(len(seq.frames)))
                item.request_ahead(prefetcher, PREFETCH_DEPTH)
                starting.append((item, image, box))
                request_first_frames()
            if starting:
                tic = time.perf_counter()
                try:
                    # New trackers are initialised apart and appended: the running ones are untouched.
                    online.start_trackers([image for _, image, _ in starting],
                                          torch.tensor([box for _, _, box in starting], dtype=torch.float64))
                except KeyboardInterrupt:
                    raise
                except Exception as error:
                    for item, _, _ in starting:
                        item.cancel()
                        fail(item, error)
                    if not running:
                        online = build()
                    continue
                share = (time.perf_counter() - tic) / len(starting)
                for item, _, box in starting:
                    item.boxes.append(box)
                    item.times.append(share)
                running += [item for item, _, _ in starting]
                running = retire(running)   # one-frame sequences end at their first frame
            if not running:
                continue

            # ---- next frame of every running sequence
            frames, keep = [], []
            for row, item in enumerate(running):
                try:
                    frames.append(prefetcher.get(item.ahead.popleft()))
                    keep.append(row)
                except KeyboardInterrupt:
                    raise
                except Exception as error:  # an unreadable frame fails its sequence only
                    item.cancel()
                    fail(item, error)
            if len(keep) < len(running):
                online.keep_trackers(keep)
                running = [running[row] for row in keep]
                if not running:
                    continue

            # ---- one lockstep step: one network call, one host transfer of the boxes
            tic = time.perf_counter()
            try:
                boxes = online.track_batch(frames).cpu().tolist()
            except KeyboardInterrupt:
                raise
            except Exception as error:  # one broken step must not end a long run
                for item in running:
                    item.cancel()
                    fail(item, error)
                running = []
                online = build()
                continue
            share = (time.perf_counter() - tic) / len(running)
            for item, box in zip(running, boxes):
                item.boxes.append([float(v) for v in box])
                item.times.append(share)
                item.request_ahead(prefetcher, PREFETCH_DEPTH)
            running = retire(running)
    finally:
        for item in running:
            item.cancel()
        prefetcher.close()
    return outcomes
