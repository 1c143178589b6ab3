"""TransT network, ResNet backbone and shared test-time processing."""
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr.models.backbone.resnet import ResNet, load_imagenet_weights, resnet50, resnet_tiny
from ltr.models.neck.position_encoding import PositionEmbeddingSine
from ltr.models.tracking.transt import TransTConfig, build_transt
from ltr.models.tracking import transt as geometry
from pytracking.tracker.transt import postprocess as pp

# The package ships the manifests (tests/test_safe_loading.py checks them against the specs).
SPECS = Path(__file__).resolve().parents[1] / "ltr" / "admin" / "manifests"


def _manifest(name):
    path = SPECS / name
    # Shipped with the project: a missing file is a broken checkout, not a reason to skip.
    assert path.is_file(), f"the shipped checkpoint manifest {path} is missing; restore it from git"
    return json.loads(path.read_text())["state_dict"]


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return build_transt("paper").eval()


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_transt("tiny").eval()


# ---------------------------------------------------------------------- checkpoint layout
def test_paper_state_dict_equals_manifest(paper_model):
    manifest = _manifest("transt.json")
    got = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in paper_model.state_dict().items()]
    assert len(got) == len(manifest) == 430
    assert got == manifest
    assert sum(p.numel() for p in paper_model.parameters()) == 23016006


def test_manifest_shaped_state_dict_loads_strictly(paper_model):
    manifest = _manifest("transt.json")
    gen = torch.Generator().manual_seed(1)
    state = {}
    for key, shape, dtype in manifest:
        dt = getattr(torch, dtype)
        state[key] = (torch.randint(0, 5, shape, generator=gen, dtype=dt) if not dt.is_floating_point
                      else torch.randn(shape, generator=gen, dtype=dt))
    model = build_transt("paper")
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    key = "backbone.0.body.layer3.5.conv3.weight"
    assert torch.equal(model.state_dict()[key], state[key])


def test_transt_backbone_geometry(paper_model):
    body = paper_model.backbone.resnet
    assert not hasattr(body, "layer4") and not hasattr(body, "fc")
    first = body.layer3[0]
    assert first.conv2.dilation == (2, 2) and first.conv2.padding == (2, 2) and first.conv2.stride == (1, 1)
    assert first.downsample[0].stride == (1, 1)
    for blk in list(body.layer3)[1:]:
        assert blk.conv2.dilation == (1, 1) and blk.conv2.padding == (1, 1)
    assert isinstance(body.bn1, torch.nn.BatchNorm2d)
    assert body.out_feature_strides("layer3") == 8 and body.out_feature_channels("layer3") == 1024


def test_full_resnet50_matches_trdimp_feature_extractor():
    manifest = _manifest("trdimp.json")
    expected = [[k[len("feature_extractor."):], s, d] for k, s, d in manifest if k.startswith("feature_extractor.")]
    net = resnet50(output_layers=["layer2", "layer3"])
    got = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in net.state_dict().items()]
    assert got == expected
    assert net.out_feature_strides("layer3") == 16
    out = net(torch.randn(1, 3, 64, 64))
    assert list(out) == ["layer2", "layer3"] and out["layer3"].shape == (1, 1024, 4, 4)


# ---------------------------------------------------------------------- forward passes
def test_paper_forward_official_sizes(paper_model):
    z = torch.randn(1, 3, 128, 128)
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        t0 = time.perf_counter()
        out = paper_model(x, z)
        elapsed = time.perf_counter() - t0
        zf, zpos = paper_model.template_features(z)
        out2 = paper_model.track(zf, zpos, x)
    print(f"paper TransT forward, batch 1, {torch.get_num_threads()} thread(s): {elapsed * 1000:.0f} ms")
    assert out["pred_logits"].shape == (1, 1024, 2)
    assert out["pred_boxes"].shape == (1, 1024, 4)
    assert zf.shape == (1, 256, 16, 16) and zpos.shape == (1, 256, 16, 16)
    assert torch.all((out["pred_boxes"] >= 0) & (out["pred_boxes"] <= 1))
    assert torch.allclose(out["pred_logits"], out2["pred_logits"], atol=1e-5)


def test_tiny_forward_shapes_and_batched_templates(tiny_model):
    cfg = tiny_model.cfg
    assert (cfg.template_size, cfg.search_size, cfg.score_size, cfg.template_feature_size) == (64, 128, 16, 8)
    z = torch.randn(4, 3, 64, 64)
    x = torch.randn(4, 3, 128, 128)
    with torch.no_grad():
        out = tiny_model(x, z)
        zf, zpos = tiny_model.template_features(z)
        batched = tiny_model.track(zf, zpos, x)
        single = [tiny_model.track(zf[i:i + 1], zpos[i:i + 1], x[i:i + 1]) for i in range(4)]
        shared = tiny_model.track(zf[:1], zpos[:1], x)
    assert out["pred_logits"].shape == (4, 256, 2) and out["pred_boxes"].shape == (4, 256, 4)
    for key in ("pred_logits", "pred_boxes"):
        assert torch.allclose(batched[key], torch.cat([s[key] for s in single]), atol=1e-5)
        assert torch.allclose(shared[key][0], single[0][key][0], atol=1e-5)
    # Different templates give different predictions for the same search crop.
    with torch.no_grad():
        other = tiny_model.track(zf[1:2], zpos[1:2], x[:1])
    assert not torch.allclose(other["pred_logits"], single[0]["pred_logits"])


def test_tiny_forward_speed_batch16(tiny_model):
    z = torch.randn(16, 3, 64, 64)
    x = torch.randn(16, 3, 128, 128)
    with torch.no_grad():
        tiny_model(x, z)
        t0 = time.perf_counter()
        for _ in range(3):
            out = tiny_model(x, z)
        ms = (time.perf_counter() - t0) / 3 * 1000
    print(f"tiny TransT forward, batch 16, {torch.get_num_threads()} thread(s): {ms:.1f} ms")
    assert out["pred_logits"].shape == (16, 256, 2)
    assert ms < 1000


def test_tiny_trains_end_to_end():
    model = build_transt("tiny").train()
    out = model(torch.randn(2, 3, 128, 128), torch.randn(2, 3, 64, 64))
    (out["pred_logits"].sum() + out["pred_boxes"].sum()).backward()
    assert model.backbone.resnet.conv1.weight.grad is not None
    assert model.featurefusion_network.encoder.layers[0].self_attn1.in_proj_weight.grad is not None


# ---------------------------------------------------------------------- backbone options
def test_frozen_layers_stay_frozen():
    net = resnet_tiny(output_layers=["layer3"], frozen_layers=["conv1", "layer1"])
    net.train()
    assert not net.conv1.weight.requires_grad and not net.bn1.training
    assert not any(p.requires_grad for p in net.layer1.parameters())
    assert all(not m.training for m in net.layer1.modules())
    assert net.layer2.training and all(p.requires_grad for p in net.layer2.parameters())
    stats = net.bn1.running_mean.clone()
    net(torch.randn(2, 3, 32, 32))
    assert torch.equal(stats, net.bn1.running_mean)


def test_load_imagenet_weights_local_file(tmp_path):
    full = ResNet(torchvision_bottleneck(), (1, 1, 1, 1), ["fc"], inplanes=8, num_classes=10)
    path = tmp_path / "imagenet.pth"
    torch.save(full.state_dict(), path)
    partial = resnet_tiny(output_layers=["layer3"], layer3_dilation="first_block")
    skipped, missing = load_imagenet_weights(partial, path)
    assert any(k.startswith("layer4.") for k in skipped) and "fc.weight" in skipped
    assert missing == []
    assert torch.equal(partial.layer3[0].conv2.weight, full.layer3[0].conv2.weight)
    with pytest.raises(FileNotFoundError):
        load_imagenet_weights(partial, tmp_path / "absent.pth")


def torchvision_bottleneck():
    from torchvision.models.resnet import Bottleneck
    return Bottleneck


def test_position_encoding_has_no_weights_and_mask_free_path():
    pe = PositionEmbeddingSine(32, normalize=True)
    assert len(pe.state_dict()) == 0
    x = torch.randn(2, 8, 5, 7)
    pos = pe(x)
    assert pos.shape == (2, 64, 5, 7)
    assert torch.allclose(pos, pe(x, torch.zeros(2, 5, 7, dtype=torch.bool)))
    # Normalised coordinates: the last row/column reach 2*pi, so sin channel 0 is ~0 there.
    assert abs(pos[0, 0, -1, 0].item()) < 1e-4 and abs(pos[0, 32, 0, -1].item()) < 1e-4


# ---------------------------------------------------------------------- post-processing
def test_hanning_window_matches_numpy():
    win = pp.hanning_window(32)
    ref = np.outer(np.hanning(32), np.hanning(32)).flatten()
    assert win.shape == (1024,)
    assert np.allclose(win.numpy(), ref, atol=1e-7)


def test_crop_sizes_formulas():
    size = torch.tensor([[40.0, 20.0], [7.3, 11.9]], dtype=torch.float64)
    s_z, s_x = geometry.crop_sizes(size, TransTConfig.paper())
    for i, (w, h) in enumerate(size.tolist()):
        assert s_z[i].item() == math.ceil(math.sqrt((w + (w + h) / 2) * (h + (w + h) / 2)))
        assert s_x[i].item() == math.ceil(math.sqrt((w + 1.5 * (w + h)) * (h + 1.5 * (w + h))))
    assert s_z[0].item() == 60 and s_x[0].item() == math.ceil(math.sqrt(130 * 110))


def test_normalize_crops():
    cfg = TransTConfig.paper()
    crops = torch.full((1, 3, 2, 2), 255.0)
    out = geometry.normalize_crops(crops, cfg)
    expected = (1 - torch.tensor(cfg.mean)) / torch.tensor(cfg.std)
    assert torch.allclose(out[0, :, 0, 0], expected)


def _random_outputs(b, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, 2, generator=g), torch.rand(b, n, 4, generator=g) * 0.8 + 0.1


def _official_step(logits, boxes, window, wi, center, s_x, image_hw):
    """Single-tracker reference written the way the official tracker computes it (numpy)."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    score = (e / e.sum(axis=1, keepdims=True))[:, 0]
    pscore = score * (1 - wi) + window * wi
    best = int(np.argmax(pscore))
    bbox = boxes[best] * s_x
    cx = bbox[0] + center[0] - s_x / 2
    cy = bbox[1] + center[1] - s_x / 2
    w, h = bbox[2], bbox[3]
    cx = max(0, min(cx, image_hw[1]))
    cy = max(0, min(cy, image_hw[0]))
    w = max(10, min(w, image_hw[1]))
    h = max(10, min(h, image_hw[0]))
    return best, pscore, np.array([cx, cy]), np.array([w, h])


def test_postprocess_batched_equals_per_sample_and_reference():
    cfg = TransTConfig.paper()
    b, n = 5, cfg.num_candidates
    logits, boxes = _random_outputs(b, n)
    window = pp.hanning_window(cfg.score_size)
    center = torch.tensor([[100.0, 80.0], [5.0, 5.0], [300.0, 200.0], [50.0, 60.0], [10.0, 300.0]],
                          dtype=torch.float64)
    s_x = torch.tensor([120.0, 400.0, 64.0, 33.0, 900.0], dtype=torch.float64)
    image_hw = torch.tensor([[240, 320], [100, 100], [480, 640], [120, 90], [360, 360]])

    pscore, score, bx = pp.score_candidates(logits, boxes, window, cfg)
    idx = pp.select_argmax(pscore)
    c_new, s_new = pp.update_state(bx, idx, center, s_x, image_hw, cfg)
    assert pscore.shape == (b, n) and score.shape == (b, n) and bx.shape == (b, n, 4)
    assert c_new.dtype == torch.float64

    for i in range(b):
        p1, _, b1 = pp.score_candidates(logits[i:i + 1], boxes[i:i + 1], window, cfg)
        i1 = pp.select_argmax(p1)
        c1, s1 = pp.update_state(b1, i1, center[i:i + 1], s_x[i:i + 1], image_hw[i:i + 1], cfg)
        assert i1.item() == idx[i].item()
        assert torch.allclose(p1[0], pscore[i])
        assert torch.equal(c1[0], c_new[i]) and torch.equal(s1[0], s_new[i])

        best, ref_p, ref_c, ref_s = _official_step(
            logits[i].double().numpy(), boxes[i].double().numpy(), window.double().numpy(),
            cfg.window_influence, center[i].numpy(), s_x[i].item(), image_hw[i].numpy())
        assert best == idx[i].item()
        assert np.allclose(ref_p, pscore[i].numpy(), atol=1e-6)
        assert np.allclose(ref_c, c_new[i].numpy(), atol=1e-4)
        assert np.allclose(ref_s, s_new[i].numpy(), atol=1e-4)


def test_window_pulls_choice_to_the_centre():
    cfg = TransTConfig.paper()
    n = cfg.num_candidates
    logits = torch.zeros(1, n, 2)
    corner, centre = 0, 16 * 32 + 16
    logits[0, corner, 0] = 2.0   # raw score 0.88 at the corner
    logits[0, centre, 0] = 1.0   # raw score 0.73 at the centre
    boxes = torch.full((1, n, 4), 0.5)
    window = pp.hanning_window(32)
    _, score, _ = pp.score_candidates(logits, boxes, window, cfg)
    assert score.argmax().item() == corner
    pscore, _, _ = pp.score_candidates(logits, boxes, window, cfg)
    assert pp.select_argmax(pscore).item() == centre
    no_window = TransTConfig(window_influence=0.0)
    pscore0, _, _ = pp.score_candidates(logits, boxes, window, no_window)
    assert pp.select_argmax(pscore0).item() == corner
    assert torch.allclose(pscore0, score)
    # softmax index 0 == sigmoid(l0 - l1) (the SLT formulation)
    assert torch.allclose(score, torch.sigmoid(logits[..., 0] - logits[..., 1]))


def test_update_state_geometry_and_clipping():
    cfg = TransTConfig.paper()
    center = torch.tensor([[100.0, 100.0], [10.0, 190.0]], dtype=torch.float64)
    s_x = torch.tensor([200.0, 200.0], dtype=torch.float64)
    image_hw = torch.tensor([[200.0, 300.0], [200.0, 300.0]])
    boxes = torch.tensor([[[0.75, 0.5, 0.2, 0.1]],        # 50 px right of the crop centre, 40x20
                          [[0.0, 1.0, 0.01, 2.0]]])       # far outside: centre clipped, sides clipped
    c, s = pp.update_state(boxes, torch.zeros(2, dtype=torch.long), center, s_x, image_hw, cfg)
    assert torch.allclose(c[0], torch.tensor([150.0, 100.0], dtype=torch.float64))
    assert torch.allclose(s[0], torch.tensor([40.0, 20.0], dtype=torch.float64))
    # x: 0 + 10 - 100 = -90 -> 0; y: 200 + 190 - 100 = 290 -> 200; w: 2 -> 10; h: 400 -> 200
    assert torch.allclose(c[1], torch.tensor([0.0, 200.0], dtype=torch.float64))
    assert torch.allclose(s[1], torch.tensor([10.0, 200.0], dtype=torch.float64))
    # Images smaller than the minimum side: the minimum wins, as in the reference clip.
    c2, s2 = pp.update_state(boxes[:1], torch.zeros(1, dtype=torch.long), center[:1], s_x[:1],
                             torch.tensor([[6.0, 8.0]]), cfg)
    assert torch.allclose(s2[0], torch.tensor([10.0, 10.0], dtype=torch.float64))


def test_image_boxes_to_crop_round_trip():
    cfg = TransTConfig.paper()
    center = torch.tensor([[120.0, 90.0]], dtype=torch.float64)
    size = torch.tensor([[40.0, 30.0]], dtype=torch.float64)
    _, s_x = geometry.crop_sizes(size, cfg)
    gt = torch.tensor([[110.0, 70.0, 44.0, 28.0]], dtype=torch.float64)
    in_crop = pp.image_boxes_to_crop(gt, center, s_x, cfg.search_size)
    norm = torch.cat((in_crop[:, :2] + in_crop[:, 2:] / 2, in_crop[:, 2:]), 1) / cfg.search_size
    c, s = pp.update_state(norm[:, None, :], torch.zeros(1, dtype=torch.long), center, s_x,
                           torch.tensor([[480, 640]]), cfg)
    assert torch.allclose(pp.state_to_xywh(c, s), gt)
    c0, s0 = pp.xywh_to_state(gt)
    assert torch.allclose(pp.state_to_xywh(c0, s0), gt)
