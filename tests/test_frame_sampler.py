"""Frame-level sampler: gap and visibility constraints, determinism, mixing, bad frames."""
import os
from collections import Counter

import numpy as np
import pytest
import torch

from ltr.data.sampler import FrameLevelSampler, SamplingError, sample_frame_ids
from ltr.dataset import Lasot, LmdbDataset, MSCOCOSeq, pack_dataset
from ltr.dataset.base_video_dataset import BaseVideoDataset
from tests.fixtures import build_coco, build_lasot, make_corrupt_jpeg

pytestmark = pytest.mark.filterwarnings("ignore:.*are not on disk.*:RuntimeWarning")


class FlagVideos(BaseVideoDataset):
    """In-memory videos with given visibility; frames are tiny arrays holding the frame id."""

    def __init__(self, visibilities, name="flags"):
        super().__init__(name, None)
        self.sequence_list = [np.asarray(v, dtype=bool) for v in visibilities]

    def get_name(self):
        return self.name

    def get_sequence_info(self, seq_id):
        vis = torch.from_numpy(self.sequence_list[seq_id].copy())
        n = len(vis)
        bbox = torch.stack([torch.arange(n, dtype=torch.float32), torch.zeros(n), torch.full((n,), 4.0),
                            torch.full((n,), 4.0)], dim=1)
        return {"bbox": bbox, "valid": torch.ones(n, dtype=torch.bool), "visible": vis}

    def get_frames(self, seq_id, frame_ids, anno=None):
        anno = anno or self.get_sequence_info(seq_id)
        frames = [np.full((2, 2, 3), f, dtype=np.uint8) for f in frame_ids]
        return frames, {k: [v[f] for f in frame_ids] for k, v in anno.items()}, {"object_class_name": None}


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("SLT_LOCAL_SETTINGS", str(tmp_path / "local_settings.py"))


def test_sample_frame_ids_respects_gap_and_visibility():
    rng = np.random.default_rng(0)
    visible = np.ones(60, dtype=bool)
    visible[10:20] = False
    visible[45] = False
    for mode in ("causal", "interval"):
        for _ in range(300):
            templates, search = sample_frame_ids(visible, 2, 3, 7, mode, rng)
            frames = templates + search
            assert len(set(frames)) == 5 and all(visible[f] for f in frames)
            bases = [t for t in templates if all(abs(f - t) <= 7 for f in frames)]
            assert bases, (templates, search)
            if mode == "causal":
                assert max(templates) < min(search)
    # only isolated visible frames: nothing within the gap
    sparse = np.zeros(50, dtype=bool)
    sparse[::10] = True
    assert sample_frame_ids(sparse, 1, 1, 5, "causal", rng) is None
    assert sample_frame_ids(sparse, 1, 1, 10, "causal", rng) is not None


def test_items_follow_constraints_and_seed_determinism():
    rng = np.random.default_rng(1)
    data = FlagVideos([rng.random(40) > 0.3 for _ in range(5)])
    sampler = FrameLevelSampler([data], None, samples_per_epoch=50, max_gap=5, num_search_frames=2, seed=7)
    for i in range(len(sampler)):
        item = sampler[i]
        vis = data.sequence_list[item["sequence_id"]]
        (t,), search = item["template_frame_ids"], item["search_frame_ids"]
        assert all(vis[f] for f in [t] + search) and all(t < s <= t + 5 for s in search)
        # frames and boxes belong to the sampled ids
        assert [int(im[0, 0, 0]) for im in item["search_images"]] == search
        assert [int(b[0]) for b in item["search_anno"]] == search
        assert item["dataset"] == "flags" and item["template_anno"][0].shape == (4,)
    same = FrameLevelSampler([data], None, 50, 5, num_search_frames=2, seed=7)
    assert [same[i]["search_frame_ids"] for i in (3, 9)] == [sampler[i]["search_frame_ids"] for i in (3, 9)]
    other_epoch = [sampler[i]["search_frame_ids"] for i in range(20)]
    sampler.set_epoch(1)
    assert [sampler[i]["search_frame_ids"] for i in range(20)] != other_epoch


def test_dataset_mixing_follows_probabilities():
    a, b = FlagVideos([np.ones(10)] * 3, "a"), FlagVideos([np.ones(10)] * 30, "b")
    sampler = FrameLevelSampler([a, b], [3, 1], samples_per_epoch=400, max_gap=3, seed=0)
    counts = Counter(sampler[i]["dataset"] for i in range(400))
    assert 0.65 < counts["a"] / 400 < 0.85
    only_b = FrameLevelSampler([a, b], [0, 1], 20, 3, seed=0)
    assert {only_b[i]["dataset"] for i in range(20)} == {"b"}
    proportional = FrameLevelSampler([a, b], None, 200, 3, seed=0)  # by number of sequences
    assert Counter(proportional[i]["dataset"] for i in range(200))["b"] > 150


def test_short_sequences_are_redrawn_and_hopeless_ones_raise():
    data = FlagVideos([[True], [True, False, True, True], [False] * 5])
    sampler = FrameLevelSampler([data], None, 30, max_gap=2, seed=3)
    assert {sampler[i]["sequence_id"] for i in range(30)} == {1}
    hopeless = FrameLevelSampler([FlagVideos([[True, False, False, True]])], None, 5, max_gap=2, max_tries=10, seed=0)
    with pytest.raises(SamplingError, match="max_gap=2"):
        hopeless[0]


def test_image_dataset_repeats_its_frame_and_masks(tmp_path):
    coco = MSCOCOSeq(str(build_coco(tmp_path / "coco").root))
    sampler = FrameLevelSampler([coco], None, 6, max_gap=10, num_search_frames=2, seed=0, return_masks=True)
    item = sampler[0]
    assert item["template_frame_ids"] == [0] and item["search_frame_ids"] == [0, 0]
    assert np.array_equal(item["template_images"][0], item["search_images"][1])
    assert item["template_masks"][0].shape == (24, 32)


def test_processing_is_applied_and_invalid_results_redrawn():
    data = FlagVideos([np.ones(8)])
    calls = []

    def processing(item):
        calls.append(item["search_frame_ids"][0])
        return {"valid": len(calls) > 2, "n": len(calls)}

    sampler = FrameLevelSampler([data], None, 5, max_gap=3, processing=processing, seed=1)
    assert sampler[0] == {"valid": True, "n": 3}

    def jitter(item):  # processing draws its randomness from the item's generator
        return {"shift": float(item.pop("rng").uniform()), "search": item["search_frame_ids"]}

    seeded = FrameLevelSampler([data], None, 5, max_gap=3, processing=jitter, seed=1)
    assert [seeded[i] for i in range(5)] == [seeded[i] for i in range(5)]
    assert len({seeded[i]["shift"] for i in range(5)}) == 5


def test_bad_frames_are_counted_and_skipped(tmp_path):
    fx = build_lasot(tmp_path / "lasot", sequences=("cat-1", "dog-2"), num_frames=4, occluded=(), out_of_view=())
    for path in fx.sequences["cat-1"].frame_paths:
        make_corrupt_jpeg(path)
    sampler = FrameLevelSampler([Lasot(str(fx.root))], None, 20, max_gap=3, seed=0)
    items = [sampler[i] for i in range(20)]
    assert {item["sequence"] for item in items} == {"dog-2"}
    assert sampler.num_bad_frames > 0
    assert all("cat-1" in path for path, _ in sampler.bad_frames)


def test_workers_read_an_lmdb_opened_by_the_parent(tmp_path):
    fx = build_lasot(tmp_path / "lasot", sequences=("cat-1", "dog-2"), num_frames=4)
    packed = LmdbDataset(str(pack_dataset(Lasot(str(fx.root)), tmp_path / "db", progress=False)))
    sampler = FrameLevelSampler([packed], None, 4, max_gap=3, seed=5)
    in_parent = [sampler[i]["search_images"][0] for i in range(4)]  # opens the LMDB here first
    loader = torch.utils.data.DataLoader(sampler, batch_size=None, num_workers=1,
                                         multiprocessing_context="fork" if os.name == "posix" else None)
    from_worker = [item["search_images"][0] for item in loader]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(in_parent, from_worker))
