"""TrDiMP test-time tracker: runs, batched core == one tracker at a time, parameter sets, geometry."""
import collections
import math

import numpy as np
import pytest
import torch

from ltr.data.crop import crop_square, stack_images
from ltr.dataset.synthetic import SyntheticConfig, generate_video
from ltr.models.registry import build_network
from pytracking.parameter import load_parameters
from pytracking.parameter.trdimp.tiny import parameters as tiny_parameters
from pytracking.tracker.trdimp.core import FLAG_NAMES, TrDiMPCore, TrDiMPTrackingConfig
from pytracking.tracker.trdimp.trdimp import TrDiMP, build_core


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_network("trdimp", "tiny").eval()


def _params(**overrides):
    params = tiny_parameters()
    # Random weights score below the official not-found threshold (0.25) almost everywhere;
    # a lower one lets the trackers move and visit every localisation case.
    params.update(target_not_found_threshold=0.1, train_skipping=3, **overrides)
    return params


def _run_tracker(net, params, video, debug=0):
    params = params.copy()
    params.debug = debug
    tracker = TrDiMP(params, core=build_core(params, net))
    tracker.initialize(video.frames[0], {"init_bbox": video.boxes[0].tolist()})
    return [tracker.track(video.frames[t]) for t in range(1, video.num_frames)]


def test_tracker_runs_on_a_synthetic_sequence_with_debug_outputs(net):
    video = generate_video(0, SyntheticConfig(num_frames=8))
    outs = _run_tracker(net, _params(), video, debug=1)
    boxes = np.array([o["target_bbox"] for o in outs])
    assert boxes.shape == (7, 4) and np.isfinite(boxes).all() and (boxes[:, 2:] > 0).all()
    out = outs[-1]
    assert out["score_map"].shape == (9, 9)
    assert out["search_crop"].shape == (128, 128, 3) and out["search_crop"].dtype == np.uint8
    assert out["info"]["flag"] in FLAG_NAMES and math.isfinite(out["info"]["max_score"])


def test_batched_core_equals_trackers_one_by_one(net):
    num_frames = 10
    videos = [generate_video(seed, SyntheticConfig(num_frames=num_frames)) for seed in range(3)]
    params = _params()
    reference, flags = [], collections.Counter()
    for video in videos:
        outs = _run_tracker(net, params, video, debug=1)
        reference.append([o["target_bbox"] for o in outs])
        flags.update(o["info"]["flag"] for o in outs)
    core = build_core(params, net)
    core.initialize([v.frames[0] for v in videos], torch.tensor(np.stack([v.boxes[0] for v in videos])))
    batched = []
    for t in range(1, num_frames):
        result = core.search([v.frames[t] for v in videos])
        batched.append(core.commit(result, result.choice))
    batched = torch.stack(batched, dim=1)
    torch.testing.assert_close(batched, torch.tensor(reference, dtype=torch.float64), atol=1e-4, rtol=0)
    # the comparison covered several localisation cases and diverging per-tracker memories
    assert len(flags) >= 2
    assert core.num_stored.unique().numel() > 1 or core.tf_count.unique().numel() > 1


def test_identical_starts_are_initialised_once_and_track_alike(net):
    """Trackers with the same frame object, boxes and seed (SLT's argmax and sampling rollouts of
    an episode) are initialised once and copied; they must then behave as if each had been
    initialised on its own (online updates and the refinement's random boxes included)."""
    num_frames = 6
    videos = [generate_video(seed, SyntheticConfig(num_frames=num_frames)) for seed in (4, 5)]
    params = _params()
    rows = [0, 1, 0, 1]
    boxes = torch.tensor(np.stack([videos[i].boxes[0] for i in rows]))
    shared, separate = build_core(params, net), build_core(params, net)
    calls = []
    original = TrDiMPCore._initialize
    def counting(self, frames, *args):
        calls.append(len(frames))
        return original(self, frames, *args)
    TrDiMPCore._initialize = counting
    try:
        first = [video.frames[0] for video in videos]
        init_shared = shared.initialize([first[i] for i in rows], boxes)
        init_separate = separate.initialize([first[i].copy() for i in rows], boxes)
    finally:
        TrDiMPCore._initialize = original
    assert calls == [2, 4]   # the shared frames were initialised once per distinct start
    torch.testing.assert_close(init_shared.train_input, init_separate.train_input, atol=1e-4, rtol=0)
    torch.testing.assert_close(init_shared.dropout_masks, init_separate.dropout_masks)
    for name, dim in TrDiMPCore.TRACKER_STATE_DIMS.items():
        a, b = getattr(shared, name, None), getattr(separate, name, None)
        assert (a is None) == (b is None), name
        if isinstance(a, (list, tuple)):
            a, b = torch.cat([v.flatten() for v in a]), torch.cat([v.flatten() for v in b])
        if a is not None:
            assert a.shape == b.shape, name
            torch.testing.assert_close(a.double(), b.double(), atol=1e-3, rtol=1e-4, msg=name)
    for a, b in zip(shared.generators, separate.generators):
        assert torch.equal(a.get_state(), b.get_state())
    for t in range(1, num_frames):
        frames = [videos[i].frames[t].copy() for i in rows]
        out_shared = shared.commit(*(lambda r: (r, r.choice))(shared.search(frames)))
        out_separate = separate.commit(*(lambda r: (r, r.choice))(separate.search(frames)))
        torch.testing.assert_close(out_shared, out_separate, atol=1e-3, rtol=0)
    # the copies are independent trackers: moving one does not move its twin
    shared.pos[0] += 5.0
    assert not torch.equal(shared.pos[0], shared.pos[2])


def test_parameter_sets():
    official = load_parameters("pytracking.parameter.trdimp", "trdimp")
    cfg = TrDiMPTrackingConfig.from_params(official)
    assert (cfg.image_sample_size, cfg.net_opt_iter, cfg.iounet_k, cfg.transformer_memory_size) == (352, 10, 3, 20)
    assert cfg.displacement_scale == 0.8 and cfg.augmentation["dropout"] == (2, 0.2)
    assert cfg.updates_transformer_memory
    lasot = TrDiMPTrackingConfig.from_params(load_parameters("pytracking.parameter.trdimp", "trdimp_lasot"))
    assert not lasot.updates_transformer_memory and lasot.update_classifier
    tiny = load_parameters("pytracking.parameter.trdimp", "tiny")
    assert tiny.model_size == "tiny" and tiny.image_sample_size == 128
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        TrDiMP(tiny)


def test_inside_major_keeps_the_region_inside_the_image(net):
    core = TrDiMPCore(net, TrDiMPTrackingConfig(image_sample_size=128))
    core.image_wh = torch.tensor([[200.0, 100.0], [200.0, 100.0], [200.0, 100.0]], dtype=torch.float64)
    center = torch.tensor([[10.0, 50.0], [100.0, 50.0], [190.0, 90.0]], dtype=torch.float64)
    side = torch.tensor([60.0, 300.0, 120.0], dtype=torch.float64)
    new_center, new_side = core._sample_region(center, side)
    # small region: shifted inside; huge region: shrunk by at most 1.5 and centred where still too big
    torch.testing.assert_close(new_center[0], torch.tensor([30.0, 50.0], dtype=torch.float64))
    assert new_side[1] == 200.0 and new_center[1, 0] == 100.0 and new_center[1, 1] == 50.0
    assert new_side[2] == 120.0 and new_center[2, 0] == 140.0 and new_center[2, 1] == 50.0


def test_first_frame_samples_identity_and_shifted_boxes(net):
    video = generate_video(3, SyntheticConfig(num_frames=2))
    params = _params()
    core = build_core(params, net)
    box = torch.tensor(video.boxes[:1], dtype=torch.float64)
    samples = core.initialize([video.frames[0]], box)
    size = core.sample_size
    # identity sample = the plain crop of side scale * S around the target
    images, hw = stack_images([video.frames[0]])
    scale = core.target_scale
    center = box[:, :2] + box[:, 2:] / 2
    plain = crop_square(images, hw, center, scale * size, size)
    identity = samples.train_input[0, 0] * torch.tensor([0.229, 0.224, 0.225]).reshape(3, 1, 1) \
        + torch.tensor([0.485, 0.456, 0.406]).reshape(3, 1, 1)
    assert (identity * 255 - plain[0]).abs().mean() < 2.0   # two resamplings of the same region
    boxes = samples.train_boxes[:, 0]
    centre_box = boxes[0]
    torch.testing.assert_close(centre_box[:2] + centre_box[2:] / 2, torch.tensor([size / 2, size / 2]))
    shift = int(0.6 * size / 2)
    torch.testing.assert_close(boxes[1, :2] - centre_box[:2], torch.tensor([float(shift), float(shift)]))
    torch.testing.assert_close(boxes[2, :2] - centre_box[:2], torch.tensor([float(shift), -float(shift)]))
    assert samples.train_input.shape[0] == 13 and samples.train_boxes.shape[0] == 15
    assert samples.dropout_masks.shape[:2] == (2, 1)


def _blur_then_window(patch, sigma, rows, cols):
    """Reference: separable Gaussian blur of the whole patch (zero borders), then the window."""
    out = patch.reshape(-1, 1, *patch.shape[-2:])
    for axis, s in enumerate(sigma):
        radius = math.ceil(2 * s)
        coord = torch.arange(-radius, radius + 1, dtype=patch.dtype)
        kernel = torch.exp(-coord ** 2 / (2 * s ** 2))
        kernel = kernel / kernel.sum()
        shape = (1, 1, -1, 1) if axis == 0 else (1, 1, 1, -1)
        padding = (radius, 0) if axis == 0 else (0, radius)
        out = torch.nn.functional.conv2d(out, kernel.reshape(shape), padding=padding)
    blurred = out.reshape(patch.shape)
    bidx = torch.arange(patch.shape[0]).reshape(-1, 1, 1)
    return blurred[bidx, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


@pytest.mark.parametrize("sigma", [(3.0, 1.0), (1.0, 3.0), (2.0, 2.0)])
def test_blurred_window_equals_blurring_the_whole_patch(net, sigma):
    core = TrDiMPCore(net, TrDiMPTrackingConfig(image_sample_size=16))
    core.device = torch.device("cpu")
    patch = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255
    # one centred window and one pushed against the patch edge (replicated border rows)
    shifts = torch.tensor([[0, 0], [-14, 11]])
    rows, cols = core._window_index(shifts, 32)
    assert int(rows.max()) == 31 and int(cols.min()) == 0
    torch.testing.assert_close(core._blurred_window(patch, sigma, rows, cols),
                               _blur_then_window(patch, sigma, rows, cols), atol=1e-3, rtol=1e-5)


def _reference_sample_weights(sw, prev, num_stored, num_init, lr, min_weight):
    """Scalar re-statement of the reference memory-weight update (one tracker)."""
    sw = sw.clone()
    s_ind = num_init
    if num_stored < sw.shape[0]:
        r = num_stored
    else:
        r = int(torch.argmin(sw[s_ind:])) + s_ind
    if prev is None:
        sw /= 1 - lr
        sw[r] = lr
    else:
        sw[r] = sw[prev] / (1 - lr)
    sw /= sw.sum()
    if sw[:num_init].sum() < min_weight:
        sw /= min_weight + sw[num_init:].sum()
        sw[:num_init] = min_weight / num_init
    return sw, r


def test_vectorised_memory_weights_match_the_reference_rule(net):
    core = TrDiMPCore(net, TrDiMPTrackingConfig(sample_memory_size=8, image_sample_size=128))
    core.num_init_samples = 3
    core.sample_weights = torch.zeros(2, 8, dtype=torch.float64)
    core.sample_weights[:, :3] = 1 / 3
    core.num_stored = torch.tensor([3, 3])
    core.previous_replace = torch.tensor([-1, -1])
    ref = [(core.sample_weights[b].clone(), None, 3) for b in range(2)]
    lrs = [0.3, 0.2]  # large rates reach the minimum-weight rule within a few updates
    for it in range(12):
        rows = torch.tensor([0, 1]) if it % 3 else torch.tensor([1])
        lr = torch.tensor([lrs[int(r)] for r in rows])
        replace = core._update_sample_weights(rows, lr)
        core.num_stored[rows] += 1
        for j, b in enumerate(rows.tolist()):
            sw, prev, n = ref[b]
            sw, r = _reference_sample_weights(sw, prev, n, 3, lrs[b], 0.25)
            ref[b] = (sw, r, n + 1)
            assert int(replace[j]) == r
            torch.testing.assert_close(core.sample_weights[b], sw)
