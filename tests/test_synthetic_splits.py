"""The long-video and out-of-distribution synthetic splits, and the appearance the generator covers."""
import dataclasses

import numpy as np

from ltr.dataset.synthetic import (SPLIT_DEFAULTS, Outline, SyntheticConfig, SyntheticVideoDataset, default_config,
                                   generate_video, natural_cubic_spline, video_seed)
from ltr.dataset.synthetic_textures import TEXTURE_FAMILIES, natural_image, render_texture, sample_texture_spec


def _families(video):
    tex = video.textures
    return {spec.family for spec in [tex["target"], tex["background"], *tex["distractors"], *tex["occluders"],
                                     *tex["clutter"]]}


def test_texture_sets_are_pairwise_disjoint_and_every_family_renders():
    sets = {name: set(fams) for name, fams in TEXTURE_FAMILIES.items()}
    assert set(sets) == {"train", "test", "ood"}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["ood"]) and not (sets["test"] & sets["ood"])
    rng = np.random.default_rng(0)
    for texture_set, families in TEXTURE_FAMILIES.items():
        for family in families:
            img = render_texture(sample_texture_spec(rng, texture_set, family), 24, 32, np.random.default_rng(1))
            assert img.shape == (24, 32, 3) and img.dtype == np.float32
            assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.01, family


def test_natural_images_come_from_matplotlib_sample_data():
    photo, terrain, scan = natural_image("photo"), natural_image("terrain"), natural_image("scan")
    assert photo.ndim == 3 and photo.shape[2] == 3 and min(photo.shape[:2]) >= 256
    assert terrain.ndim == 2 and scan.shape == (256, 256)
    assert not photo.flags.writeable  # shared, read-only
    assert photo.std() > 0.1 and terrain.std() > 0.05 and scan.std() > 0.05


def test_long_split_has_events_all_along():
    cfg = default_config("long")
    assert cfg.texture_set == "test" and cfg.frames_range == SPLIT_DEFAULTS["long"]["frames_range"]
    late_occlusion = late_distractor = 0
    for i in range(10):
        video = generate_video(video_seed("long", 0, i), cfg)
        assert 300 <= video.num_frames <= 600 and video.boxes.shape == (video.num_frames, 4)
        second_half = slice(video.num_frames // 2, None)
        late_occlusion += bool(video.frame_attributes["full_occlusion"][second_half].any())
        late_distractor += bool(video.frame_attributes["distractors"][second_half].any())
    assert late_occlusion >= 7 and late_distractor >= 7
    # frames render lazily: the last frame of a long video costs one frame
    assert video.render_frame(video.num_frames - 1).shape == (128, 128, 3)


def test_ood_split_differs_in_appearance_motion_and_length():
    ood, test = default_config("ood"), default_config("test")
    speeds = {"ood": [], "test": []}
    for i in range(12):
        v = generate_video(video_seed("ood", 0, i), ood)
        assert 80 <= v.num_frames <= 200
        assert _families(v) <= set(TEXTURE_FAMILIES["ood"])
        speeds["ood"].append(v.mean_speed)
        speeds["test"].append(generate_video(video_seed("test", 0, i), test).mean_speed)
    assert np.median(speeds["ood"]) > 1.2 * np.median(speeds["test"])
    ds = SyntheticVideoDataset("ood", num_sequences=3)
    assert ds.config.texture_set == "ood" and ds.get_sequence_name(0) == "Synthetic_Ood_000001"


def test_random_outlines_fill_their_box_and_soft_edges_keep_the_outline():
    rng = np.random.default_rng(3)
    for _ in range(20):
        k = int(rng.integers(2, 7))
        outline = Outline.make(float(rng.choice([2.0, 5.0])), [(k, 0.3, float(rng.uniform(0, 6.3)))],
                               softness=float(rng.uniform(0, 0.3)))
        alpha, _ = outline.alpha(64, 48)
        inside = alpha >= 0.5
        # tight annotation: the outline reaches every side of its box
        assert inside[0].any() or inside[1].any()
        assert inside[-1].any() or inside[-2].any()
        assert inside[:, 0].any() or inside[:, 1].any()
        assert inside[:, -1].any() or inside[:, -2].any()
        # the edge's softness changes the ramp, not where coverage crosses one half
        hard, _ = dataclasses.replace(outline, softness=0.0).alpha(64, 48)
        assert ((hard >= 0.5) != inside).mean() < 0.01


def test_motion_blur_changes_pixels_not_annotations():
    sharp_cfg = SyntheticConfig(num_frames=24, motion_blur=0.0)
    blur_cfg = SyntheticConfig(num_frames=24, motion_blur=1.0)
    smeared = []
    for seed in range(6):
        sharp, blurred = generate_video(seed, sharp_cfg), generate_video(seed, blur_cfg)
        np.testing.assert_array_equal(sharp.boxes, blurred.boxes)
        np.testing.assert_array_equal(sharp.render_mask(5), blurred.render_mask(5))
        steps = np.hypot(*np.diff(sharp.boxes[:, :2], axis=0).T)
        fast = int(np.argmax(steps)) + 1
        diff = np.abs(sharp.render_frame(fast).astype(int) - blurred.render_frame(fast).astype(int))
        x, y, w, h = sharp.boxes[fast].astype(int)
        smeared.append(diff[max(y, 0):y + h, max(x, 0):x + w].mean())
        # a still first frame is not blurred
        np.testing.assert_array_equal(sharp.render_frame(0), blurred.render_frame(0))
    # the fastest frame of most videos (2.5-6 px per frame) changes clearly inside the target's box
    assert sum(m > 5.0 for m in smeared) >= 4, smeared


def test_natural_cubic_spline_interpolates_and_is_linear_at_the_ends():
    knots = np.array([0.0, 3.0, 7.0, 12.0])
    values = np.array([[0.0, 1.0], [2.0, -1.0], [1.0, 0.5], [4.0, 2.0]])
    np.testing.assert_allclose(natural_cubic_spline(knots, values, knots), values, atol=1e-12)
    # natural: zero second derivative at the end knots
    t = np.array([-1e-3, 0.0, 1e-3])
    y = natural_cubic_spline(knots, values[:, 0], t)
    assert abs(y[0] - 2 * y[1] + y[2]) < 1e-8


def test_ood_split_is_registered_as_an_evaluation_dataset(tmp_path):
    from ltr.util_scripts.make_synthetic import write_got10k_layout
    from pytracking.evaluation.datasets import get_dataset, list_datasets

    assert {"synthetic_long", "synthetic_ood"} <= set(list_datasets())
    write_got10k_layout(tmp_path, "ood", num_videos=1)
    sequences = get_dataset("synthetic_ood", root=str(tmp_path))
    assert [s.name for s in sequences] == ["Synthetic_Ood_000001"]
    assert 80 <= len(sequences[0].frames) <= 200
