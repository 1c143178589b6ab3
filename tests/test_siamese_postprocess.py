"""Batched Siamese RPN post-processing against a per-tracker NumPy version of the official track step."""
import math

import numpy as np
import pytest
import torch

from ltr.models.siamese.anchors import cosine_window, generate_anchors
from pytracking.tracker.common.siamese_postprocess import (crop_size_from_target, score_candidates, state_to_xywh, update_state,
                                            xywh_to_state)
from ltr.models.tracking.siamrpnpp import SiamRPNConfig


def _numpy_anchors(cfg):
    """Anchor grid built independently: per anchor, rows then columns, centre cell at 0."""
    s, st = cfg.score_size, cfg.stride
    out = []
    for r in cfg.anchor_ratios:
        ws = int(math.sqrt(st * st / r))
        hs = int(ws * r)
        for sc in cfg.anchor_scales:
            for row in range(s):
                for col in range(s):
                    out.append([(col - s // 2) * st, (row - s // 2) * st, ws * sc, hs * sc])
    return np.array(out, dtype=np.float64)


def _reference_track(cls, loc, center, size, image_hw, cfg, index=None):
    """One tracker, float64 NumPy, the official SiamRPN track arithmetic written out step by step."""
    s = cfg.score_size
    anchors = _numpy_anchors(cfg)
    hann = np.hanning(s)
    window = np.tile(np.outer(hann, hann).flatten(), cfg.anchor_num)
    logits = cls.reshape(2, -1).T
    e = np.exp(logits - logits.max(1, keepdims=True))
    score = (e / e.sum(1, keepdims=True))[:, 1]
    d = loc.reshape(4, -1)
    box = np.stack([d[0] * anchors[:, 2] + anchors[:, 0], d[1] * anchors[:, 3] + anchors[:, 1],
                    np.exp(d[2]) * anchors[:, 2], np.exp(d[3]) * anchors[:, 3]])
    ctx = cfg.context_amount * size.sum()
    s_z = np.sqrt((size[0] + ctx) * (size[1] + ctx))
    scale_z = cfg.exemplar_size / s_z

    def change(r):
        return np.maximum(r, 1.0 / r)

    def sz(w, h):
        pad = (w + h) * 0.5
        return np.sqrt((w + pad) * (h + pad))

    s_c = change(sz(box[2], box[3]) / sz(size[0] * scale_z, size[1] * scale_z))
    r_c = change((size[0] / size[1]) / (box[2] / box[3]))
    penalty = np.exp(-(r_c * s_c - 1) * cfg.penalty_k)
    pscore = penalty * score * (1 - cfg.window_influence) + window * cfg.window_influence
    idx = int(np.argmax(pscore)) if index is None else index
    b = box[:, idx] / scale_z
    lr = penalty[idx] * score[idx] * cfg.lr
    cx, cy = b[0] + center[0], b[1] + center[1]
    w = size[0] * (1 - lr) + b[2] * lr
    h = size[1] * (1 - lr) + b[3] * lr
    hgt, wid = image_hw
    cx, cy = max(0, min(cx, wid)), max(0, min(cy, hgt))
    w, h = max(10, min(w, wid)), max(10, min(h, hgt))
    return idx, pscore, np.array([cx, cy]), np.array([w, h])


def _batched_step(cls, loc, center, size, image_hw, cfg, index=None):
    anchors = generate_anchors(cfg.score_size, cfg.stride, cfg.anchor_ratios, cfg.anchor_scales)
    window = cosine_window(cfg.score_size, cfg.anchor_num)
    s_z, _ = crop_size_from_target(size, cfg)
    scale_z = cfg.exemplar_size / s_z
    cand = score_candidates(cls, loc, anchors, window, size * scale_z[:, None], cfg)
    idx = cand.pscore.argmax(1) if index is None else index
    new_c, new_s = update_state(cand, idx, center, size, scale_z, image_hw, cfg)
    return cand, idx, new_c, new_s


@pytest.mark.parametrize("cfg", [SiamRPNConfig.paper(), SiamRPNConfig.tiny()], ids=["paper", "tiny"])
def test_batched_equals_per_tracker_reference(cfg):
    g = torch.Generator().manual_seed(0)
    b, a, s = 6, cfg.anchor_num, cfg.score_size
    cls = torch.randn(b, 2 * a, s, s, generator=g) * 2
    loc = torch.randn(b, 4 * a, s, s, generator=g) * 0.3
    center = torch.rand(b, 2, generator=g, dtype=torch.float64) * 300
    size = 10 + torch.rand(b, 2, generator=g, dtype=torch.float64) * 120
    image_hw = torch.tensor([[240.0, 320.0]] * 3 + [[480.0, 640.0]] * 3, dtype=torch.float64)
    cand, idx, new_c, new_s = _batched_step(cls, loc, center, size, image_hw, cfg)
    assert cand.pscore.shape == (b, a * s * s) and cand.boxes_crop.shape == (b, a * s * s, 4)
    assert (cand.pscore >= 0).all() and (cand.pscore <= 1).all()
    for i in range(b):
        ref_idx, ref_pscore, ref_c, ref_s = _reference_track(
            cls[i].double().numpy(), loc[i].double().numpy(), center[i].numpy(), size[i].numpy(),
            image_hw[i].numpy(), cfg)
        assert np.allclose(cand.pscore[i].numpy(), ref_pscore, atol=1e-5)
        assert idx[i].item() == ref_idx
        assert np.allclose(new_c[i].numpy(), ref_c, atol=1e-3)
        assert np.allclose(new_s[i].numpy(), ref_s, atol=1e-3)
    # A given (e.g. sampled) index per tracker follows the same update.
    chosen = torch.randint(0, a * s * s, (b,), generator=g)
    _, _, c2, s2 = _batched_step(cls, loc, center, size, image_hw, cfg, index=chosen)
    for i in range(b):
        _, _, ref_c, ref_s = _reference_track(cls[i].double().numpy(), loc[i].double().numpy(), center[i].numpy(),
                                              size[i].numpy(), image_hw[i].numpy(), cfg, index=int(chosen[i]))
        assert np.allclose(c2[i].numpy(), ref_c, atol=1e-3) and np.allclose(s2[i].numpy(), ref_s, atol=1e-3)


def test_window_penalises_far_candidates():
    cfg = SiamRPNConfig.paper()
    a, s = cfg.anchor_num, cfg.score_size
    anchors = generate_anchors(s, cfg.stride, cfg.anchor_ratios, cfg.anchor_scales)
    window = cosine_window(s, a)
    cls = torch.zeros(1, 2 * a, s, s)
    loc = torch.zeros(1, 4 * a, s, s)  # boxes = anchors
    # A slightly more confident candidate at the border loses against the centre.
    cls[0, a + 2, 2, 22] = 0.5
    cand = score_candidates(cls, loc, anchors, window, torch.tensor([[64.0, 64.0]]), cfg)
    assert cand.score[0, 2 * s * s + 2 * s + 22] > cand.score[0, 2 * s * s + 12 * s + 12]
    # Previous size 64x64 makes the square anchor unpenalised: the centre square anchor wins.
    assert cand.pscore.argmax(1).item() == 2 * s * s + 12 * s + 12
    assert cand.penalty[0, 2 * s * s + 12 * s + 12] == pytest.approx(1.0)
    # Without the window, the border candidate would win.
    no_window = SiamRPNConfig(window_influence=0.0)
    cand0 = score_candidates(cls, loc, anchors, window, torch.tensor([[64.0, 64.0]]), no_window)
    assert cand0.pscore.argmax(1).item() == 2 * s * s + 2 * s + 22


def test_penalty_hand_computed():
    cfg = SiamRPNConfig.paper()
    anchors = torch.tensor([[4.0, -2.0, 20.0, 10.0]])
    window = torch.tensor([0.5])
    cls = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)  # foreground probability 3/4
    loc = torch.zeros(1, 4, 1, 1)
    cand = score_candidates(cls, loc, anchors, window, torch.tensor([[10.0, 10.0]]), cfg)
    s_c = math.sqrt((20 + 15) * (10 + 15)) / 20  # sz(20, 10) / sz(10, 10)
    r_c = 2.0  # ratio 1 vs 2
    penalty = math.exp(-(r_c * s_c - 1) * 0.05)
    assert cand.score.item() == pytest.approx(0.75)
    assert cand.penalty.item() == pytest.approx(penalty, rel=1e-6)
    assert cand.pscore.item() == pytest.approx(penalty * 0.75 * 0.58 + 0.5 * 0.42, rel=1e-6)
    assert cand.boxes_crop[0, 0].tolist() == [4.0, -2.0, 20.0, 10.0]


def test_update_state_moves_smooths_and_clips():
    cfg = SiamRPNConfig.paper()
    anchors = torch.tensor([[8.0, -4.0, 40.0, 20.0], [-200.0, 300.0, 400.0, 2.0]])
    window = torch.ones(2)
    cls = torch.tensor([[0.0, 0.0], [0.0, 0.0]]).view(1, 4, 1, 1).repeat(2, 1, 1, 1)  # score 0.5 everywhere
    loc = torch.zeros(2, 8, 1, 1)
    prev = torch.tensor([[20.0, 20.0], [20.0, 20.0]])
    cand = score_candidates(cls, loc, anchors, window, prev, cfg)
    center = torch.tensor([[50.0, 60.0], [5.0, 95.0]])
    size = torch.tensor([[10.0, 10.0], [10.0, 10.0]])
    scale_z = torch.tensor([2.0, 0.5])
    image_hw = torch.tensor([[100.0, 200.0], [100.0, 200.0]])
    new_c, new_s = update_state(cand, torch.tensor([0, 1]), center, size, scale_z, image_hw, cfg)
    lr0 = cand.penalty[0, 0].item() * 0.5 * 0.38
    assert new_c[0].tolist() == pytest.approx([54.0, 58.0])
    assert new_s[0].tolist() == pytest.approx([max(10.0, 10 * (1 - lr0) + 20 * lr0), 10.0])
    # Tracker 1 jumps far outside: centre clipped to [0, W] x [0, H], size to [10, W] x [10, H].
    assert new_c[1].tolist() == pytest.approx([0.0, 100.0])
    lr1 = cand.penalty[1, 1].item() * 0.5 * 0.38
    assert new_s[1].tolist() == pytest.approx([min(200.0, 10 * (1 - lr1) + 800 * lr1), 10.0])


def test_crop_sizes_and_state_conversions():
    cfg = SiamRPNConfig.paper()
    s_z, s_x = crop_size_from_target(torch.tensor([[100.0, 100.0], [40.0, 10.0]]), cfg)
    assert s_z[0].item() == pytest.approx(200.0)
    assert s_x[0].item() == pytest.approx(200.0 * 255 / 127)
    assert s_z[1].item() == pytest.approx(math.sqrt(65 * 35))
    center, size = xywh_to_state(torch.tensor([10.0, 20.0, 31.0, 41.0]))
    assert center.tolist() == [25.0, 40.0] and size.tolist() == [31.0, 41.0]
    assert state_to_xywh(center, size).tolist() == [9.5, 19.5, 31.0, 41.0]


def test_gradients_reach_scores_only_by_default():
    cfg = SiamRPNConfig.tiny()
    a, s = cfg.anchor_num, cfg.score_size
    anchors = generate_anchors(s, cfg.stride, cfg.anchor_ratios, cfg.anchor_scales)
    window = cosine_window(s, a)
    cls = torch.randn(2, 2 * a, s, s, requires_grad=True)
    loc = torch.randn(2, 4 * a, s, s, requires_grad=True)
    cand = score_candidates(cls, loc, anchors, window, torch.tensor([[30.0, 30.0], [20.0, 40.0]]), cfg)
    cand.pscore.sum().backward()
    assert cls.grad is not None and cls.grad.abs().sum() > 0
    assert loc.grad is None
    cand2 = score_candidates(cls, loc, anchors, window, torch.tensor([[30.0, 30.0], [20.0, 40.0]]), cfg,
                             grad_through_boxes=True)
    cand2.pscore.sum().backward()
    assert loc.grad is not None
