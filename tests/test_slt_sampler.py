"""Episode sampler (slt_plugins.sampler) on tiny in-memory datasets."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import pytest
import torch

from ltr.dataset.base_video_dataset import BaseVideoDataset
from slt_plugins.sampler import Episode, SequenceSampler, collate_episodes


class MemoryVideoDataset(BaseVideoDataset):
    """Videos held as visibility patterns; frame f of sequence s is a 6x6 image filled with f % 256.

    The box of frame f is (f, s, 4, 4) in xywh pixels so tests can read frame numbers back.
    """

    def __init__(self, visibility: Sequence[Sequence[bool]], name: str = "memvid",
                 bad_frames: Optional[Dict[int, set]] = None):
        super().__init__(name, None)
        self.visibility = [torch.tensor(v, dtype=torch.bool) for v in visibility]
        self.sequence_list = [f"{name}-{i}" for i in range(len(visibility))]
        self.bad = bad_frames or {}

    def get_name(self) -> str:
        return self.name

    def get_sequence_info(self, seq_id: int) -> Dict[str, torch.Tensor]:
        vis = self.visibility[seq_id]
        n = len(vis)
        bbox = torch.stack([torch.arange(n, dtype=torch.float32), torch.full((n,), float(seq_id)),
                            torch.full((n,), 4.0), torch.full((n,), 4.0)], dim=1)
        return {"bbox": bbox, "valid": torch.ones(n, dtype=torch.bool), "visible": vis.clone()}

    def get_frames(self, seq_id, frame_ids, anno=None):
        anno = self.get_sequence_info(seq_id) if anno is None else anno
        for f in frame_ids:
            if f in self.bad.get(seq_id, set()):
                raise OSError(f"cannot read frame {f} of sequence {seq_id}")
        frames = [np.full((6, 6, 3), f % 256, dtype=np.uint8) for f in frame_ids]
        anno_frames = {k: [v[f] for f in frame_ids] for k, v in anno.items()}
        return frames, anno_frames, {"object_class_name": None}


class MemoryImageDataset(BaseVideoDataset):
    """Images as one-frame sequences: a 40x40 black image with a 10x10 square of value 200."""

    def __init__(self, num: int = 3):
        super().__init__("memimg", None)
        self.sequence_list = list(range(num))

    def is_video_sequence(self) -> bool:
        return False

    def get_name(self) -> str:
        return self.name

    def get_sequence_info(self, seq_id):
        box = torch.tensor([[10.0 + seq_id, 12.0, 10.0, 10.0]])
        return {"bbox": box, "valid": torch.ones(1, dtype=torch.bool), "visible": torch.ones(1, dtype=torch.bool)}

    def get_frames(self, seq_id, frame_ids, anno=None):
        anno = self.get_sequence_info(seq_id) if anno is None else anno
        img = np.zeros((40, 40, 3), dtype=np.uint8)
        x, y, w, h = (int(v) for v in anno["bbox"][0])
        img[y:y + h, x:x + w] = 200
        return [img.copy() for _ in frame_ids], {k: [v[0] for _ in frame_ids] for k, v in anno.items()}, {}


def _occluded(n: int, seed: int, max_run: int = 3) -> List[bool]:
    """Visibility with short occlusions (runs of at most ``max_run`` invisible frames)."""
    rng = np.random.default_rng(seed)
    vis, f = [True] * n, 0
    while f < n:
        f += int(rng.integers(3, 12))
        run = int(rng.integers(1, max_run + 1))
        for g in range(f, min(f + run, n)):
            vis[g] = False
        f += run
    return vis


def _video_sampler(**kwargs) -> SequenceSampler:
    ds = MemoryVideoDataset([_occluded(120, s) for s in range(4)] + [[True] * 60])
    defaults = dict(num_episodes=40, num_frames=8, max_gap=20, max_interval=5, interval_prob=0.5, seed=1)
    defaults.update(kwargs)
    return SequenceSampler([ds], [1.0], **defaults)


def _check_episode(ep: Episode, sampler: SequenceSampler, ds: MemoryVideoDataset):
    seq = int(ep.sequence_name.split("-")[1])
    vis = ds.visibility[seq]
    ids = ep.frame_ids
    assert len(ids) == len(ep.frames) == sampler.num_frames
    assert vis[ep.template_frame_id] and all(vis[f] for f in ids)
    assert ep.template_frame_id < ids[0] <= ep.template_frame_id + sampler.max_gap
    assert all(b > a for a, b in zip(ids, ids[1:]))
    # frames and boxes are the requested ones
    assert [int(f[0, 0, 0]) for f in ep.frames] == ids
    assert ep.boxes_xywh[:, 0].long().tolist() == ids and int(ep.template_box_xywh[0]) == ep.template_frame_id
    assert ep.visible.all() and ep.boxes_xywh.shape == (sampler.num_frames, 4)


def test_episodes_respect_visibility_gap_and_order():
    sampler = _video_sampler()
    for i in range(len(sampler)):
        _check_episode(sampler[i], sampler, sampler.datasets[0])


def test_interval_mode_intervals_within_limit():
    sampler = _video_sampler(interval_prob=1.0, max_interval=5)
    diffs = []
    for i in range(30):
        ep = sampler[i]
        d = np.diff(ep.frame_ids)
        assert ((d >= 1) & (d <= 5)).all()
        diffs.extend(d.tolist())
    assert max(diffs) > 1  # intervals are really random, not all consecutive


def test_consecutive_mode_takes_next_visible_frame():
    sampler = _video_sampler(interval_prob=0.0)
    ds = sampler.datasets[0]
    for i in range(30):
        ep = sampler[i]
        vis = ds.visibility[int(ep.sequence_name.split("-")[1])]
        visible_ids = torch.nonzero(vis).flatten().tolist()
        start = visible_ids.index(ep.frame_ids[0])
        assert ep.frame_ids == visible_ids[start:start + sampler.num_frames]
    # in a fully visible video consecutive means interval 1
    full = SequenceSampler([MemoryVideoDataset([[True] * 40])], num_episodes=5, num_frames=6, interval_prob=0.0)
    for i in range(5):
        assert np.diff(full[i].frame_ids).tolist() == [1] * 5


def test_long_occlusion_falls_back_to_next_visible_frame():
    vis = [True] * 10 + [False] * 30 + [True] * 10
    sampler = SequenceSampler([MemoryVideoDataset([vis])], num_episodes=20, num_frames=12, max_gap=3,
                              max_interval=4, interval_prob=1.0, seed=0)
    for i in range(20):
        ep = sampler[i]
        assert all(vis[f] for f in ep.frame_ids + [ep.template_frame_id])
        assert ep.template_frame_id < ep.frame_ids[0] <= ep.template_frame_id + 3


def test_deterministic_by_seed_epoch_and_index():
    a, b = _video_sampler(seed=7), _video_sampler(seed=7)
    order_a = [a[i].frame_ids for i in (5, 2, 9)]
    order_b = [b[i].frame_ids for i in (9, 2, 5)][::-1]
    assert order_a == order_b  # independent of access order (i.e. of the worker)
    b.set_epoch(1)
    assert [b[i].frame_ids for i in range(10)] != [a[i].frame_ids for i in range(10)]
    c = _video_sampler(seed=8)
    assert [c[i].frame_ids for i in range(10)] != [a[i].frame_ids for i in range(10)]


def test_dataloader_workers_give_the_same_episodes():
    sampler = _video_sampler(num_episodes=8)
    loader = torch.utils.data.DataLoader(sampler, batch_size=4, num_workers=2, collate_fn=collate_episodes)
    batches = list(loader)
    assert isinstance(batches[0], list) and len(batches[0]) == 4
    got = [ep.frame_ids for batch in batches for ep in batch]
    assert got == [sampler[i].frame_ids for i in range(8)]


def test_dataset_mixing_probabilities():
    short = MemoryVideoDataset([[True] * 30], name="a")
    other = MemoryVideoDataset([[True] * 30], name="b")
    only_a = SequenceSampler([short, other], [1.0, 0.0], num_episodes=20, num_frames=4)
    assert {only_a[i].dataset_name for i in range(20)} == {"a"}
    mixed = SequenceSampler([short, other], [1.0, 3.0], num_episodes=400, num_frames=4)
    frac_b = np.mean([mixed[i].dataset_name == "b" for i in range(400)])
    assert 0.65 < frac_b < 0.85


def test_sequences_with_too_few_visible_frames_are_skipped():
    ds = MemoryVideoDataset([[True] * 5, [True] * 30])
    sampler = SequenceSampler([ds], num_episodes=10, num_frames=8)
    assert {sampler[i].sequence_name for i in range(10)} == {"memvid-1"}
    hopeless = SequenceSampler([MemoryVideoDataset([[True] * 5])], num_episodes=1, num_frames=8, max_redraws=5)
    with pytest.raises(RuntimeError, match="5 attempts"):
        hopeless[0]


def test_bad_frames_are_counted_and_skipped():
    ds = MemoryVideoDataset([[True] * 40], bad_frames={0: {20, 21}})
    sampler = SequenceSampler([ds], num_episodes=30, num_frames=6, max_gap=5, interval_prob=0.0)
    eps = [sampler[i] for i in range(30)]
    assert sampler.bad_frames > 0 and sum(e.bad_frames for e in eps) == sampler.bad_frames
    for e in eps:
        assert not ({20, 21} & set(e.frame_ids + [e.template_frame_id]))


def test_image_dataset_episodes_drift_smoothly():
    sampler = SequenceSampler([MemoryImageDataset()], num_episodes=5, num_frames=10, seed=3,
                              image_shift=0.5, image_scale=0.2, image_blur_prob=0.0)
    for i in range(5):
        ep = sampler[i]
        assert ep.augmented and ep.frame_ids == [0] * 10 and len(ep.frames) == 10
        assert ep.frames[0].shape == ep.template_frame.shape
        boxes = ep.boxes_xywh
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        tpl_centre = ep.template_box_xywh[:2] + ep.template_box_xywh[2:] / 2
        # the target drifts: bounded shift from the template and small steps between frames
        assert ((centres - tpl_centre).abs() <= 5.0 + 1e-4).all()
        assert (centres[1:] - centres[:-1]).norm(dim=1).max() < 5.0
        assert ((boxes[:, 2] >= 10 / 1.2 - 1e-4) & (boxes[:, 2] <= 12.0 + 1e-4)).all()
        assert not all(torch.equal(boxes[0], b) for b in boxes[1:])
        for frame, box in zip(ep.frames, boxes):  # the square really is where the box says
            cx, cy = (box[:2] + box[2:] / 2).round().long().tolist()
            assert frame[cy, cx, 0] > 150


def test_validates_arguments():
    with pytest.raises(ValueError):
        SequenceSampler([], num_episodes=1)
    with pytest.raises(ValueError):
        SequenceSampler([MemoryImageDataset()], [1.0, 2.0])
    with pytest.raises(ValueError):
        SequenceSampler([MemoryImageDataset()], max_interval=0)


def test_image_read_error_is_a_bad_frame():
    from ltr.data import image_loader
    from slt_plugins.sampler import bad_frame_exceptions

    assert image_loader.ImageReadError in bad_frame_exceptions()

    class Unreadable(MemoryVideoDataset):
        def get_frames(self, seq_id, frame_ids, anno=None):
            if 3 in frame_ids:
                raise image_loader.ImageReadError(f"seq{seq_id}/00000003.jpg", "truncated file")
            return super().get_frames(seq_id, frame_ids, anno)

    sampler = SequenceSampler([Unreadable([[True] * 12])], num_episodes=10, num_frames=4, max_gap=2,
                              interval_prob=0.0)
    eps = [sampler[i] for i in range(10)]
    assert sampler.bad_frames > 0 and all(3 not in e.frame_ids + [e.template_frame_id] for e in eps)


def test_through_occlusion_episodes_keep_hidden_frames_and_mark_them():
    sampler = _video_sampler(include_invisible=True, interval_prob=0.0, min_visible_share=0.5)
    ds = sampler.datasets[0]
    hidden = 0
    for i in range(len(sampler)):
        ep = sampler[i]
        vis = ds.visibility[int(ep.sequence_name.split("-")[1])]
        ids = ep.frame_ids
        # consecutive mode: every frame of the video, hidden ones included
        assert np.diff(ids).tolist() == [1] * (sampler.num_frames - 1)
        assert vis[ep.template_frame_id] and vis[ids[0]] and ep.visible[0]
        assert ep.template_frame_id < ids[0] <= ep.template_frame_id + sampler.max_gap
        assert ep.visible.tolist() == [bool(vis[f]) for f in ids]
        assert int(ep.visible.sum()) >= 4
        assert [int(f[0, 0, 0]) for f in ep.frames] == ids
        hidden += int((~ep.visible).sum())
    assert hidden > 0  # the short occlusions of the test videos do appear in episodes


def test_through_occlusion_intervals_and_visible_share():
    sampler = _video_sampler(include_invisible=True, interval_prob=1.0, max_interval=5)
    for i in range(30):
        d = np.diff(sampler[i].frame_ids)
        assert ((d >= 1) & (d <= 5)).all()
    # a video that shows its target in under half of any 8-frame window gives no episode
    sparse = [True, False, False, False] * 20
    strict = SequenceSampler([MemoryVideoDataset([sparse])], num_episodes=2, num_frames=8, max_gap=20,
                             interval_prob=0.0, include_invisible=True, max_redraws=5)
    with pytest.raises(RuntimeError, match="visible in 2 of 8 search frames"):
        strict[0]
    lenient = SequenceSampler([MemoryVideoDataset([sparse])], num_episodes=2, num_frames=8, max_gap=20,
                              interval_prob=0.0, include_invisible=True, min_visible_share=0.25)
    assert lenient[0].visible.sum() == 2
    with pytest.raises(ValueError, match="min_visible_share"):
        SequenceSampler([MemoryVideoDataset([sparse])], min_visible_share=0.0)


def test_hidden_frames_without_a_box_get_a_finite_one():
    class NoBoxWhenHidden(MemoryVideoDataset):
        def get_sequence_info(self, seq_id):
            info = super().get_sequence_info(seq_id)
            info["bbox"][~info["visible"]] = float("nan")
            return info

    vis = _occluded(80, 3)
    sampler = SequenceSampler([NoBoxWhenHidden([vis])], num_episodes=20, num_frames=8, max_gap=20,
                              interval_prob=0.0, include_invisible=True)
    for i in range(20):
        ep = sampler[i]
        assert torch.isfinite(ep.boxes_xywh).all()
        assert ep.boxes_xywh[ep.visible, 0].long().tolist() == [f for f, v in zip(ep.frame_ids, ep.visible) if v]
