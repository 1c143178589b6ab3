"""The procedural synthetic videos, their dataset wrapper and the GOT-10k layout writer."""
import dataclasses
import json
import multiprocessing
import pickle

import cv2
import numpy as np
import pytest
import torch

from ltr.dataset.synthetic import (SPLIT_CODES, SyntheticConfig, SyntheticVideoDataset, cover_from_ratio,
                                   generate_video, sequence_name, target_class, video_seed)
from ltr.dataset.synthetic_textures import TEXTURE_FAMILIES
from ltr.util_scripts.make_synthetic import main as make_synthetic_main
from ltr.util_scripts.make_synthetic import write_got10k_layout

SMALL = SyntheticConfig(num_frames=24)
ATTRIBUTES = {"occlusion", "distractors", "fast_motion", "scale_change", "out_of_view", "camera_motion"}


def _families(video):
    tex = video.textures
    specs = [tex["target"], tex["background"], *tex["distractors"], *tex["occluders"], *tex["clutter"]]
    return {spec.family for spec in specs}


def test_same_seed_same_video_and_different_seeds_differ():
    a, b, c = generate_video(7, SMALL), generate_video(7, SMALL), generate_video(8, SMALL)
    assert a.frames.shape == (24, 128, 128, 3) and a.frames.dtype == np.uint8
    assert a.boxes.shape == (24, 4) and a.boxes.dtype == np.float32
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.cover, b.cover)
    assert a.attributes == b.attributes
    assert not np.array_equal(a.boxes, c.boxes)
    assert np.abs(a.frames[0].astype(int) - c.frames[0].astype(int)).mean() > 5


def test_lazy_subset_render_equals_full_render():
    cfg = SyntheticConfig(num_frames=40)
    lazy = generate_video(11, cfg)
    subset = [33, 2, 17, 2]
    part = lazy.render_frames(subset)
    full = generate_video(11, cfg).frames
    np.testing.assert_array_equal(part, full[subset])
    assert lazy.render_frame(39).shape == (128, 128, 3)
    with pytest.raises(IndexError):
        lazy.render_frame(40)


def test_image_size_is_configurable():
    video = generate_video(3, SyntheticConfig(image_size=(96, 160), num_frames=6))
    assert video.frames.shape == (6, 96, 160, 3)
    clipped = video.clipped_boxes()
    assert (clipped[:, 0] + clipped[:, 2] <= 160 + 1e-3).all() and (clipped[:, 1] + clipped[:, 3] <= 96 + 1e-3).all()


def test_box_matches_the_drawn_target():
    # Drawing the frame once more without the target shows exactly which pixels it covers.
    for seed in (1, 5, 9):
        video = generate_video(seed, SMALL)
        index = int(np.flatnonzero(video.cover == 8)[-1])
        with_target = video.render_frame(index).astype(int)
        target_pos = next(i for i, layer in enumerate(video._layers) if layer.kind == "target")
        video._assets["sprites"][target_pos] = np.zeros_like(video._sprite(target_pos))
        changed = np.abs(video.render_frame(index).astype(int) - with_target).max(axis=2) > 0
        x, y, w, h = video.boxes[index]
        ys, xs = np.nonzero(changed)
        assert xs.min() >= np.floor(x) - 1 and xs.max() <= np.ceil(x + w) and ys.min() >= np.floor(y) - 1
        assert ys.max() <= np.ceil(y + h)
        # the target fills its box (an ellipse covers pi/4 of it; texture may match the background here and there)
        assert changed.sum() > 0.5 * w * h


def test_visibility_is_consistent_with_occlusion_and_leaving_the_image():
    counts = {"full_occlusion": 0, "out": 0}
    inside_fraction = []
    for seed in range(40):
        v = generate_video(seed)
        assert set(v.attributes) >= ATTRIBUTES
        assert all(isinstance(flag, bool) for flag in v.attributes.values())
        assert all(flags.shape == (v.num_frames,) for flags in v.frame_attributes.values())
        assert v.visible[0] and v.cover[0] == 8, "the first frame initialises trackers and must show the target"
        np.testing.assert_array_equal(v.visible, v.cover > 0)
        assert (v.visible_ratio <= v.in_image_ratio + 1e-6).all()
        hidden = ~v.visible
        # every invisible frame is explained by an occluder in front or by the target being outside
        explained = v.frame_attributes["full_occlusion"] | (v.in_image_ratio < 0.05)
        assert explained[hidden].all()
        assert (v.cover[v.visible_ratio >= 0.999] == 8).all()
        counts["full_occlusion"] += int(v.frame_attributes["full_occlusion"].any())
        counts["out"] += int((v.in_image_ratio < 0.05).any())
        clipped = v.clipped_boxes()
        area = v.boxes[:, 2] * v.boxes[:, 3]
        inside_fraction.extend((clipped[:, 2] * clipped[:, 3] / area)[v.visible].tolist())
        assert (clipped[v.visible, 2:] > 0).all()
        if v.attributes["occlusion"]:
            assert (v.visible_ratio < v.in_image_ratio - 0.05).any()
    # occlusions and exits happen, but visible targets are mostly inside the image
    assert counts["full_occlusion"] >= 8 and counts["out"] >= 1
    assert np.mean(inside_fraction) > 0.95


def test_cover_levels_follow_got10k():
    np.testing.assert_array_equal(cover_from_ratio([0.0, 0.04, 0.06, 0.2, 0.5, 0.88, 0.99, 1.0]),
                                  [0, 0, 1, 2, 4, 7, 7, 8])


def test_train_and_test_appearance_and_seeds_are_disjoint():
    assert not set(TEXTURE_FAMILIES["train"]) & set(TEXTURE_FAMILIES["test"])
    train_used, test_used = set(), set()
    for seed in range(25):
        train_used |= _families(generate_video(video_seed("train", 0, seed), SyntheticConfig(texture_set="train")))
        test_used |= _families(generate_video(video_seed("test", 0, seed), SyntheticConfig(texture_set="test")))
    assert train_used <= set(TEXTURE_FAMILIES["train"]) and test_used <= set(TEXTURE_FAMILIES["test"])
    assert len(train_used) >= 4 and len(test_used) >= 4
    assert SyntheticVideoDataset("val").config.texture_set == "test"
    assert SyntheticVideoDataset("test").config.texture_set == "test"
    assert SyntheticVideoDataset("train").config.texture_set == "train"
    seeds = {split: {video_seed(split, s, i) for s in range(3) for i in range(200)} for split in SPLIT_CODES}
    assert not seeds["train"] & seeds["test"] and not seeds["train"] & seeds["val"] and not seeds["val"] & seeds["test"]


def test_stream_gives_a_fresh_video_per_id():
    ds = SyntheticVideoDataset("train", cache_size=2)
    assert ds.is_synthetic_video_dataset() and ds.has_class_info()
    assert len(ds) == ds.get_num_sequences() == SyntheticVideoDataset.STREAM_LENGTH
    ids = [0, 1, 2, 999_999]
    assert len({ds.sequence_seed(i) for i in ids}) == len(ids)
    boxes = [ds.get_sequence_info(i)["bbox"] for i in ids]
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            assert not torch.equal(boxes[i], boxes[j])
    # the same id gives the same video again, also after it left the cache
    first, _, _ = ds.get_frames(0, [3])
    for i in ids[1:]:
        ds.get_frames(i, [0])
    again, _, _ = ds.get_frames(0, [3])
    np.testing.assert_array_equal(first[0], again[0])
    other_seed = SyntheticVideoDataset("train", seed=1)
    assert not torch.equal(other_seed.get_sequence_info(0)["bbox"], boxes[0])
    with pytest.raises(ValueError):
        ds.get_sequences_in_class("blobs")


def test_dataset_interface():
    ds = SyntheticVideoDataset("test", num_sequences=6, config=SMALL)
    assert len(ds) == 6 and ds.sequence_list[0] == "Synthetic_Test_000001"
    info = ds.get_sequence_info(2)
    assert set(info) == {"bbox", "valid", "visible", "visible_ratio"}
    assert info["bbox"].shape == (24, 4) and info["bbox"].dtype == torch.float32
    assert info["valid"].dtype == torch.bool and info["visible"].dtype == torch.bool
    assert not (info["visible"] & ~info["valid"]).any()
    frames, anno, meta = ds.get_frames(2, [0, 5, 23])
    assert len(frames) == 3 and all(f.shape == (128, 128, 3) and f.dtype == np.uint8 for f in frames)
    assert set(anno) == set(info) | {"mask"} and len(anno["bbox"]) == 3 and len(anno["mask"]) == 3
    assert torch.equal(anno["bbox"][1], info["bbox"][5])
    assert meta["object_class_name"] in ds.get_class_list() == list(TEXTURE_FAMILIES["test"])
    assert meta["object_class_name"] == ds.get_class_name(2) == target_class(ds.sequence_seed(2), ds.config)
    by_class = [ds.get_sequences_in_class(c) for c in ds.get_class_list()]
    assert sorted(i for ids in by_class for i in ids) == list(range(6))
    with pytest.raises(IndexError):
        ds.get_sequence_info(6)
    full = SyntheticVideoDataset("test", num_sequences=6, config=SMALL, clip_boxes=False)
    video = full.get_video(2)
    assert torch.equal(full.get_sequence_info(2)["bbox"], torch.from_numpy(video.boxes))


def _render_in_child(ds, seq_id, frame_ids, queue):
    frames, _, _ = ds.get_frames(seq_id, frame_ids)
    queue.put(np.stack(frames))


def test_dataset_pickles_and_works_after_fork():
    ds = SyntheticVideoDataset("train", config=SMALL)
    expected = np.stack(ds.get_frames(5, [1, 7])[0])  # warm the parent's cache before forking
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(np.stack(clone.get_frames(5, [1, 7])[0]), expected)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_render_in_child, args=(ds, 5, [1, 7], queue))
    child.start()
    result = queue.get(timeout=30)
    child.join(timeout=30)
    np.testing.assert_array_equal(result, expected)


def test_config_validation():
    with pytest.raises(ValueError):
        SyntheticConfig(texture_set="validation")
    with pytest.raises(ValueError):
        SyntheticConfig(num_distractors=(3, 1))
    with pytest.raises(ValueError):
        SyntheticVideoDataset("dev")
    cfg = SyntheticConfig(num_distractors=(0, 0), occlusion_rate=0.0, out_of_view_rate=0.0)
    assert SyntheticConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    video = generate_video(4, cfg)
    assert video.num_distractors == 0 and not video.attributes["full_occlusion"]


def test_writer_produces_got10k_layout(tmp_path):
    cfg = SyntheticConfig(image_size=(64, 80))
    split_dir = write_got10k_layout(tmp_path, "test", num_videos=2, frames=6, seed=3, config=cfg)
    assert split_dir == tmp_path / "test"
    names = (split_dir / "list.txt").read_text().split()
    assert names == ["Synthetic_Test_000001", "Synthetic_Test_000002"] == [sequence_name("test", i) for i in range(2)]
    attributes = json.loads((split_dir / "attributes.json").read_text())
    assert set(attributes) == set(names) and set(attributes[names[0]]) >= ATTRIBUTES
    ds = SyntheticVideoDataset("test", num_sequences=2, seed=3, config=dataclasses.replace(cfg, num_frames=6))
    for i, name in enumerate(names):
        seq = split_dir / name
        assert sorted(p.name for p in seq.glob("*.jpg")) == [f"{k:08d}.jpg" for k in range(1, 7)]
        image = cv2.imread(str(seq / "00000004.jpg"))
        assert image.shape == (64, 80, 3)
        gt_lines = (seq / "groundtruth.txt").read_text().splitlines()
        assert len(gt_lines) == 6 and all(len(line.split(",")) == 4 for line in gt_lines)
        assert all(len(value.split(".")[1]) == 4 for value in gt_lines[0].split(","))
        gt = np.array([[float(v) for v in line.split(",")] for line in gt_lines])
        np.testing.assert_allclose(gt, ds.get_sequence_info(i)["bbox"].numpy(), atol=1e-4)
        # the frame on disk is the generated frame up to JPEG loss
        frame = ds.get_frames(i, [3])[0][0]
        assert np.abs(image[..., ::-1].astype(int) - frame.astype(int)).mean() < 6
        for label in ("absence.label", "cover.label", "cut_by_image.label"):
            values = [int(v) for v in (seq / label).read_text().split()]
            assert len(values) == 6
        absence = np.array([int(v) for v in (seq / "absence.label").read_text().split()])
        cover = np.array([int(v) for v in (seq / "cover.label").read_text().split()])
        np.testing.assert_array_equal(absence, cover == 0)
        meta = (seq / "meta_info.ini").read_text().splitlines()
        # pytracking's GOT-10k loader reads the class from line 5 and the motion adverb from line 9
        assert meta[0] == "[METAINFO]" and meta[5].startswith("object_class: ")
        assert meta[5].split(": ")[1] == ds.get_class_name(i) and meta[9].startswith("motion_adverb: ")
        assert meta[10] == "resolution: (80, 64)"


def test_writer_rerun_is_idempotent_and_repairs(tmp_path):
    kwargs = dict(num_videos=2, frames=5, seed=0, config=SyntheticConfig(image_size=(48, 48)))
    split_dir = write_got10k_layout(tmp_path, "val", **kwargs)
    seq = split_dir / "Synthetic_Val_000001"
    stamps = {p: p.stat().st_mtime_ns for p in split_dir.rglob("*") if p.is_file() and p.suffix != ".json"
              and p.name != "list.txt"}
    (split_dir / "Synthetic_Val_000002" / "00000003.jpg").unlink()
    (split_dir / ".tmp-Synthetic_Val_000009-999999999").mkdir()  # left by an interrupted run
    write_got10k_layout(tmp_path, "val", **kwargs)
    assert (split_dir / "Synthetic_Val_000002" / "00000003.jpg").is_file()
    assert not any(p.name.startswith(".tmp-") for p in split_dir.iterdir())
    unchanged = [p for p in stamps if p.is_relative_to(seq)]
    assert unchanged and all(p.stat().st_mtime_ns == stamps[p] for p in unchanged)
    assert (split_dir / "list.txt").read_text().split() == ["Synthetic_Val_000001", "Synthetic_Val_000002"]
    with pytest.raises(ValueError, match="num_frames"):
        write_got10k_layout(tmp_path, "val", num_videos=2, frames=6, seed=0, config=kwargs["config"])
    # the command line writes the same thing and skips what exists
    assert make_synthetic_main(["--root", str(tmp_path), "--split", "val", "--num-videos", "2", "--frames", "5",
                                "--image-size", "48", "48", "--quiet"]) == 0
    assert all(p.stat().st_mtime_ns == stamps[p] for p in unchanged)
