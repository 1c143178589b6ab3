"""Segmentation masks of the synthetic videos: the target's visible pixels, frame by frame."""
import numpy as np

from ltr.data.sampler import FrameLevelSampler
from ltr.dataset.synthetic import SyntheticConfig, SyntheticVideoDataset, generate_video

SMALL = SyntheticConfig(num_frames=24)


def _drawn_coverage(video, index):
    """How much of each pixel the drawn target covers, measured on the rendered frames: the target
    drawn flat at grey 0.25 and at 0.75 (occluders, noise and gain unchanged); the difference is
    0.5 x coverage x gain."""
    pos = next(i for i, layer in enumerate(video._layers) if layer.kind == "target")
    video.render_frame(index)  # builds the sprites
    saved = video._sprite(pos)
    renders = []
    for grey in (0.25, 0.75):
        flat = saved.copy()
        flat[..., :3] = grey * flat[..., 3:4]  # premultiplied RGBA
        video._assets["sprites"][pos] = flat
        renders.append(video.render_frame(index).astype(np.float64))
    video._assets["sprites"][pos] = saved
    return (renders[1] - renders[0]).mean(axis=2) / (0.5 * 255.0 * float(video._gain[index]))


def test_mask_is_the_visible_part_of_the_drawn_target():
    checked = {"visible": 0, "hidden": 0, "partial": 0}
    for seed in range(12):
        video = generate_video(seed, SMALL)
        for index in range(video.num_frames):
            mask = video.render_mask(index)
            assert mask.shape == (128, 128) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
            coverage = _drawn_coverage(video, index)
            # 1 where the target shows at least half, 0 where it shows less (a margin for uint8 rounding)
            assert (mask[coverage > 0.55] == 1).all() and (mask[coverage < 0.45] == 0).all()
            if not video.visible[index]:
                checked["hidden"] += 1
            else:
                assert mask.sum() > 0
                checked["visible" if video.cover[index] == 8 else "partial"] += 1
    assert min(checked.values()) > 5, checked


def test_mask_area_matches_visible_ratio():
    # the full-shape area times the visible ratio is the visible area (ratio measured on a point grid)
    errors = []
    for seed in range(20):
        video = generate_video(seed, SMALL)
        full = [i for i in range(video.num_frames) if video.cover[i] == 8]
        partial = [i for i in range(video.num_frames) if 0 < video.cover[i] < 8 and video.in_image_ratio[i] > 0.99]
        if not full or not partial:
            continue
        ref = video.render_mask(full[0]).sum() / float(np.prod(video.boxes[full[0], 2:]))
        for i in partial:
            area = video.render_mask(i).sum() / float(np.prod(video.boxes[i, 2:]))
            errors.append(abs(area / ref - video.visible_ratio[i]))
    assert len(errors) > 10
    assert np.median(errors) < 0.06 and max(errors) < 0.25


def test_masks_are_deterministic_and_independent_of_render_order():
    a, b = generate_video(5, SMALL), generate_video(5, SMALL)
    a.render_frame(7)  # pixels rendered first must not matter
    for i in (13, 2, 20):
        np.testing.assert_array_equal(a.render_mask(i), b.render_mask(i))


def test_dataset_masks_reach_the_sampler():
    ds = SyntheticVideoDataset("train", seed=3, config=SMALL)
    assert ds.has_mask() and ds.has_segmentation_info()
    frames, anno, _ = ds.get_frames(4, [0, 6])
    assert len(anno["mask"]) == 2 and tuple(anno["mask"][0].shape) == frames[0].shape[:2]
    np.testing.assert_array_equal(anno["mask"][1].numpy(), ds.get_frame_mask(4, 6).astype(np.float32))
    sampler = FrameLevelSampler([ds], samples_per_epoch=4, max_gap=10, seed=0, return_masks=True)
    item = sampler[1]
    mask = item["search_masks"][0].numpy()
    x, y, w, h = item["search_anno"][0].tolist()
    ys, xs = np.nonzero(mask)
    assert len(xs) > 0 and xs.min() >= np.floor(x) - 1 and xs.max() <= np.ceil(x + w)
    assert ys.min() >= np.floor(y) - 1 and ys.max() <= np.ceil(y + h)
