"""SiamRPN++ network, anchors, training targets and loss."""
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr.models.backbone.tiny import TinyBackbone
from ltr.models.head.rpn import xcorr_depthwise
from ltr.models.loss.siamrpnpp_loss import log_softmax_cls, siamrpn_loss
from ltr.models.siamese.anchor_target import AnchorTarget, random_subset
from ltr.models.siamese.anchors import (base_anchor_sizes, cosine_window, decode_deltas, encode_deltas,
                                        generate_anchors)
from ltr.models.tracking.siamrpnpp import SiamRPNConfig, build_siamrpnpp

MANIFEST = Path(__file__).resolve().parents[1] / "ltr" / "admin" / "manifests" / "siamrpnpp.json"  # shipped copy of the spec


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return build_siamrpnpp("paper").eval()


@pytest.fixture(scope="module")
def manifest():
    # Shipped with the project: a missing file is a broken checkout, not a reason to skip.
    assert MANIFEST.is_file(), f"the shipped checkpoint manifest {MANIFEST} is missing; restore it from git"
    return [(k, tuple(s), d) for k, s, d in json.loads(MANIFEST.read_text())["state_dict"]]


# ---------------------------------------------------------------- paper-size model

def test_paper_state_dict_matches_official_manifest(paper_model, manifest):
    ours = [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in paper_model.state_dict().items()]
    assert {k: (s, d) for k, s, d in ours} == {k: (s, d) for k, s, d in manifest}
    assert [k for k, _, _ in ours] == [k for k, _, _ in manifest]
    assert sum(p.numel() for p in paper_model.parameters()) == 53_950_624


def test_paper_loads_manifest_shaped_state_dict_strictly(manifest):
    model = build_siamrpnpp("paper")
    dtypes = {"float32": torch.float32, "int64": torch.int64}
    sd = {k: torch.full(s, 0.5, dtype=dtypes[d]) if d == "float32" else torch.zeros(s, dtype=dtypes[d])
          for k, s, d in manifest}
    model.load_state_dict(sd, strict=True)
    assert torch.all(model.rpn_head.cls_weight == 0.5)


def test_paper_backbone_atrous_layout(paper_model):
    bb = paper_model.backbone
    assert bb.conv1.padding == (0, 0)
    # layer2: the strided 3x3 conv and its 3x3 projection are unpadded.
    assert bb.layer2[0].conv2.stride == (2, 2) and bb.layer2[0].conv2.padding == (0, 0)
    assert bb.layer2[0].downsample[0].kernel_size == (3, 3) and bb.layer2[0].downsample[0].padding == (0, 0)
    assert bb.layer1[0].downsample[0].kernel_size == (1, 1)
    for layer, dil in ((bb.layer3, 2), (bb.layer4, 4)):
        assert layer[0].conv2.dilation == (dil // 2,) * 2 and layer[0].conv2.padding == (dil // 2,) * 2
        assert all(blk.conv2.dilation == (dil, dil) and blk.conv2.padding == (dil, dil) for blk in layer[1:])
        ds = layer[0].downsample[0]
        assert ds.kernel_size == (3, 3) and ds.stride == (1, 1) and ds.dilation == (dil // 2,) * 2


def test_paper_forward_shapes_and_time(paper_model):
    z = torch.rand(1, 3, 127, 127) * 255
    x = torch.rand(1, 3, 255, 255) * 255
    with torch.no_grad():
        feats = paper_model.backbone(x)
        assert [tuple(f.shape[1:]) for f in feats] == [(512, 31, 31), (1024, 31, 31), (2048, 31, 31)]
        t0 = time.perf_counter()
        zf = paper_model.template_features(z)
        cls, loc = paper_model.track(zf, x)
        elapsed = time.perf_counter() - t0
    assert [tuple(f.shape) for f in zf] == [(1, 256, 7, 7)] * 3
    assert cls.shape == (1, 10, 25, 25) and loc.shape == (1, 20, 25, 25)
    assert torch.isfinite(cls).all() and torch.isfinite(loc).all()
    print(f"paper SiamRPN++ template+track, batch 1, {torch.get_num_threads()} thread(s): {elapsed:.2f} s")


def test_load_backbone_weights_from_local_file(tmp_path):
    model = build_siamrpnpp("paper")
    src = build_siamrpnpp("paper").backbone.state_dict()
    # A DataParallel-style file with an unused classifier and a torchvision-shaped (1x1) projection.
    file_sd = {"module." + k: v for k, v in src.items()}
    file_sd["module.fc.weight"] = torch.zeros(1000, 2048)
    file_sd["module.layer2.0.downsample.0.weight"] = torch.zeros(512, 256, 1, 1)
    path = tmp_path / "resnet50.model"
    torch.save({"state_dict": file_sd}, path)
    report = model.load_backbone_weights(str(path))
    assert "module.fc.weight" in report.unexpected
    assert report.shape_mismatch == ["layer2.0.downsample.0.weight"]
    assert report.missing == []
    assert torch.equal(model.backbone.layer4[2].conv3.weight, src["layer4.2.conv3.weight"])
    assert not torch.equal(model.backbone.layer2[0].downsample[0].weight, src["layer2.0.downsample.0.weight"])
    with pytest.raises(FileNotFoundError):
        model.load_backbone_weights(str(tmp_path / "missing.pth"))


# ---------------------------------------------------------------- tiny model

def test_config_constructors():
    p, t = SiamRPNConfig.paper(), SiamRPNConfig.tiny()
    assert (p.exemplar_size, p.instance_size, p.score_size, p.stride, p.base_size) == (127, 255, 25, 8, 8)
    assert (p.penalty_k, p.window_influence, p.lr, p.context_amount) == (0.05, 0.42, 0.38, 0.5)
    assert p.anchor_ratios == (0.33, 0.5, 1.0, 2.0, 3.0) and p.anchor_scales == (8.0,) and p.anchor_num == 5
    assert (p.cls_weight, p.loc_weight) == (1.0, 1.2)
    assert (t.exemplar_size, t.instance_size, t.score_size) == (64, 128, 9)
    with pytest.raises(ValueError):
        SiamRPNConfig(score_size=24)


@pytest.mark.parametrize("levels", [(4,), (3, 4)])
def test_tiny_forward_shapes_per_sample_and_shared_templates(levels):
    model = build_siamrpnpp("tiny", tiny_levels=levels).eval()
    cfg = model.cfg
    z = torch.rand(4, 3, cfg.exemplar_size, cfg.exemplar_size) * 255
    x = torch.rand(4, 3, cfg.instance_size, cfg.instance_size) * 255
    with torch.no_grad():
        zf = model.template_features(z)
        cls, loc = model.track(zf, x)
        assert cls.shape == (4, 10, 9, 9) and loc.shape == (4, 20, 9, 9)
        # Per-sample templates: sample i equals tracking it alone.
        c1, l1 = model.track([f[1:2] for f in zf], x[1:2])
        assert torch.allclose(cls[1:2], c1, atol=1e-5) and torch.allclose(loc[1:2], l1, atol=1e-5)
        # One shared template broadcasts over all searches.
        cs, _ = model.track([f[:1] for f in zf], x)
        c0, _ = model.track([f[:1].expand(4, -1, -1, -1) for f in zf], x)
        assert torch.allclose(cs, c0, atol=1e-5)
        # forward == template_features + track
        cf, lf = model(z, x)
        assert torch.allclose(cf, cls, atol=1e-5) and torch.allclose(lf, loc, atol=1e-5)


def test_tiny_backbone_stride_and_alignment():
    bb = TinyBackbone(used_layers=(3, 4))
    f = bb(torch.zeros(2, 3, 64, 64))
    assert [tuple(t.shape) for t in f] == [(2, 48, 8, 8), (2, 48, 8, 8)]
    assert [tuple(t.shape) for t in bb(torch.zeros(1, 3, 128, 128))] == [(1, 48, 16, 16)] * 2


def test_xcorr_depthwise_matches_loop():
    s = torch.randn(3, 4, 9, 9)
    k = torch.randn(3, 4, 3, 3)
    out = xcorr_depthwise(s, k)
    for b in range(3):
        for c in range(4):
            ref = torch.nn.functional.conv2d(s[b:b + 1, c:c + 1], k[b:b + 1, c:c + 1])
            assert torch.allclose(out[b, c], ref[0, 0], atol=1e-5)


# ---------------------------------------------------------------- anchors

def test_base_anchor_sizes_official():
    sizes = base_anchor_sizes(8, (0.33, 0.5, 1, 2, 3), (8,))
    assert sizes.tolist() == [[104, 32], [88, 40], [64, 64], [40, 80], [32, 96]]


def test_anchor_grid_indexing():
    cfg = SiamRPNConfig.paper()
    anchors = generate_anchors(cfg.score_size, cfg.stride, cfg.anchor_ratios, cfg.anchor_scales)
    assert anchors.shape == (5 * 625, 4)
    s = 25

    def at(a, r, c):
        return anchors[a * s * s + r * s + c].tolist()

    assert at(0, 0, 0) == [-96, -96, 104, 32]
    assert at(2, 12, 12) == [0, 0, 64, 64]
    assert at(4, 3, 20) == [64, -72, 32, 96]
    assert at(1, 24, 0) == [-96, 96, 88, 40]
    shifted = generate_anchors(s, 8, cfg.anchor_ratios, cfg.anchor_scales, center=127.0)
    assert torch.equal(shifted[:, :2], anchors[:, :2] + 127) and torch.equal(shifted[:, 2:], anchors[:, 2:])


def test_cosine_window_equals_numpy_hanning():
    w = cosine_window(25, 5)
    h = np.hanning(25)
    ref = np.tile(np.outer(h, h).flatten(), 5)
    assert np.allclose(w.numpy(), ref, atol=1e-7)
    assert w[12 * 25 + 12] == 1.0 and w[0] == 0.0


def test_delta_coding_roundtrip():
    anchors = torch.tensor([[0.0, 0.0, 64.0, 64.0], [10.0, -5.0, 32.0, 96.0]])
    boxes = torch.tensor([[3.0, -4.0, 50.0, 70.0], [12.0, 0.0, 40.0, 80.0]])
    d = encode_deltas(boxes, anchors)
    assert torch.allclose(d[0], torch.tensor([3 / 64, -4 / 64, math.log(50 / 64), math.log(70 / 64)]))
    assert torch.allclose(decode_deltas(d, anchors), boxes, atol=1e-5)


# ---------------------------------------------------------------- anchor targets

def _xyxy(cx, cy, w, h):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_anchor_target_matching_anchor_is_positive():
    cfg = SiamRPNConfig.paper()
    at = AnchorTarget(cfg)
    s = cfg.score_size
    # Anchor 2 (64x64) of cell (row 10, col 14): centre 127 + (14-12)*8, 127 + (10-12)*8.
    box = torch.tensor([_xyxy(143.0, 111.0, 64.0, 64.0)])
    g = torch.Generator().manual_seed(1)
    t = at(box, generator=g)
    assert t.cls.shape == (1, 5, s, s) and t.delta.shape == (1, 4, 5, s, s)
    assert t.cls[0, 2, 10, 14] == 1
    assert t.overlap[0, 2, 10, 14] == pytest.approx(1.0)
    assert torch.allclose(t.delta[0, :, 2, 10, 14], torch.zeros(4), atol=1e-6)
    npos = int((t.cls == 1).sum())
    assert 1 <= npos <= cfg.pos_num
    assert int((t.cls == 0).sum()) == cfg.total_num - cfg.pos_num
    assert torch.allclose(t.delta_weight[t.cls == 1], torch.full((npos,), 1.0 / npos), atol=1e-5)
    assert t.delta_weight[t.cls != 1].abs().sum() == 0
    # Positives have IoU > 0.6, negatives < 0.3.
    assert (t.overlap[t.cls == 1] > cfg.thr_high).all() and (t.overlap[t.cls == 0] < cfg.thr_low).all()
    # Reproducible with the same generator seed.
    t2 = at(box, generator=torch.Generator().manual_seed(1))
    assert torch.equal(t.cls, t2.cls)


def test_anchor_target_batch_and_negative_pairs():
    cfg = SiamRPNConfig.paper()
    at = AnchorTarget(cfg)
    boxes = torch.tensor([_xyxy(127.0, 127.0, 60.0, 62.0), _xyxy(127.0, 127.0, 60.0, 62.0), _xyxy(80, 150, 30, 90)])
    neg = torch.tensor([False, True, False])
    t = at(boxes, neg, generator=torch.Generator().manual_seed(0))
    single = at(boxes[2:], generator=torch.Generator().manual_seed(0))
    assert torch.equal(t.delta[2], single.delta[0]) and torch.equal(t.overlap[2], single.overlap[0])
    # Negative pair: only negatives, all within the 7x7 cells around the box centre. The official
    # rounding, S // 2 + ceil((c - 127) / 8 + 0.5), puts a centred box in cell (13, 13).
    assert (t.cls[1] != 1).all() and int((t.cls[1] == 0).sum()) == cfg.neg_num
    rows, cols = torch.nonzero(t.cls[1] == 0)[:, 1], torch.nonzero(t.cls[1] == 0)[:, 2]
    assert rows.min() >= 10 and rows.max() <= 16 and cols.min() >= 10 and cols.max() <= 16
    assert t.delta_weight[1].sum() == 0 and t.overlap[1].sum() == 0
    assert (t.cls[0] == 1).any()


def test_random_subset_counts():
    mask = torch.tensor([[True] * 10 + [False] * 5, [True] * 3 + [False] * 12])
    sel = random_subset(mask, 4, torch.Generator().manual_seed(3))
    assert sel.sum(1).tolist() == [4, 3]
    assert not (sel & ~mask).any()


# ---------------------------------------------------------------- loss

def test_loss_finite_differentiable_and_decreases_for_right_answer():
    cfg = SiamRPNConfig.tiny()
    model = build_siamrpnpp("tiny")
    at = AnchorTarget(cfg)
    c = cfg.instance_size / 2
    t = at(torch.tensor([_xyxy(c, c, 30, 34), _xyxy(c + 10, c - 6, 40, 20)]), generator=torch.Generator().manual_seed(0))
    z = torch.rand(2, 3, 64, 64) * 255
    x = torch.rand(2, 3, 128, 128) * 255
    cls, loc = model(z, x)
    terms = siamrpn_loss(cls, loc, t.cls, t.delta, t.delta_weight)
    assert torch.isfinite(terms.total) and terms.total > 0
    assert torch.allclose(terms.total, 1.0 * terms.cls + 1.2 * terms.loc)
    terms.total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.rpn_head.cls_weight.grad is not None

    # Logits that agree with the labels and exact deltas give a much smaller loss.
    b, a, s = 2, cfg.anchor_num, cfg.score_size
    fg = (t.cls == 1).float() * 10 - (t.cls == 0).float() * 10
    good_cls = torch.cat([-fg, fg], 1).view(b, 2 * a, s, s) / 2
    good_loc = t.delta.reshape(b, 4 * a, s, s)
    good = siamrpn_loss(good_cls, good_loc, t.cls, t.delta, t.delta_weight)
    assert good.loc.item() == pytest.approx(0.0, abs=1e-6)
    assert good.cls.item() < 0.01 < terms.cls.item()


def test_log_softmax_channel_layout():
    cls = torch.zeros(1, 10, 2, 2)
    cls[0, 5 + 3, 1, 0] = 5.0  # foreground logit of anchor 3 at row 1, col 0
    lp = log_softmax_cls(cls)
    assert lp.shape == (1, 5, 2, 2, 2)
    assert lp[0, 3, 1, 0, 1].exp() > 0.99 and lp[0, 3, 1, 0, 0].exp() < 0.01
    assert torch.allclose(lp[0, 0, 0, 0].exp(), torch.tensor([0.5, 0.5]))


def test_loss_with_no_positives_is_finite():
    cls = torch.randn(1, 10, 3, 3, requires_grad=True)
    loc = torch.randn(1, 20, 3, 3, requires_grad=True)
    label = torch.full((1, 5, 3, 3), -1, dtype=torch.long)
    label[0, 0, 0, 0] = 0
    terms = siamrpn_loss(cls, loc, label, torch.zeros(1, 4, 5, 3, 3), torch.zeros(1, 5, 3, 3))
    assert torch.isfinite(terms.total)
    terms.total.backward()
    assert torch.isfinite(cls.grad).all()
