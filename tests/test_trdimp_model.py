"""TrDiMP network: checkpoint layout, shared attention, forward passes, DiMP optimiser sanity."""
import copy
import json
import math
import os
import time

import pytest
import torch
import torch.nn.functional as F

from ltr.models.target_classifier.filter_ops import apply_feat_transpose, apply_filter
from ltr.models.target_classifier.optimizer import DiMPSteepestDescentGN, dimp_objective
from ltr.models.target_classifier.transformer import Transformer
from ltr.models.tracking.trdimp import (TrDiMPConfig, build_trdimp, dimpnet50, gaussian_train_label,
                                        normalize_images)

MANIFEST = os.path.join(os.path.dirname(__file__), "..", "ltr", "admin", "manifests", "trdimp.json")  # shipped copy of the spec
ENC = "classifier.transformer.encoder.layers.0.self_attn.head.0."
DEC = "classifier.transformer.decoder.layers.0.self_attn.head.0."


@pytest.fixture(scope="module")
def paper_net():
    return build_trdimp("paper")


def _manifest():
    path = os.path.abspath(MANIFEST)
    # Shipped with the project: a missing file is a broken checkout, not a reason to skip.
    assert os.path.isfile(path), f"the shipped checkpoint manifest {path} is missing; restore it from git"
    with open(path) as f:
        return json.load(f)


def _boxes(n, b, lo=30.0, span=40.0, size_lo=20.0, size_span=30.0):
    xy = torch.rand(n, b, 2) * span + lo
    wh = torch.rand(n, b, 2) * size_span + size_lo
    return torch.cat((xy, wh), dim=-1)


def test_state_dict_matches_manifest(paper_net):
    manifest = _manifest()
    mine = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in paper_net.state_dict().items()]
    assert mine == manifest["state_dict"]
    assert len(mine) == 419
    unique = sum(p.numel() for p in paper_net.parameters())
    assert unique == manifest["summary"]["total_parameters_unique"] == 43753943


def test_strict_load_of_manifest_shaped_state_dict(paper_net):
    manifest = _manifest()
    gen = torch.Generator().manual_seed(1)
    state = {}
    for key, shape, dtype in manifest["state_dict"]:
        if dtype == "int64":
            state[key] = torch.randint(0, 100, shape, generator=gen, dtype=torch.int64)
        else:
            state[key] = torch.randn(shape, generator=gen, dtype=getattr(torch, dtype))
    for alias, original in manifest["summary"]["aliased_keys"]:
        state[alias] = state[original].clone()  # a real file stores them as one tensor
    net = copy.deepcopy(paper_net)
    result = net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    own = net.state_dict()
    for key in ("feature_extractor.fc.weight", "classifier.filter_optimizer.filter_reg",
                "bb_regressor.iou_predictor.weight", ENC + "WK.weight",
                "feature_extractor.layer3.5.bn3.num_batches_tracked"):
        assert torch.equal(own[key], state[key])
    assert own[DEC + "WK.weight"].data_ptr() == own[ENC + "WK.weight"].data_ptr()


def test_decoder_self_attention_aliases_encoder(paper_net):
    tf = paper_net.classifier.transformer
    assert tf.decoder.layers[0].self_attn is tf.encoder.layers[0].self_attn
    assert tf.decoder.layers[0].cross_attn is not tf.encoder.layers[0].self_attn
    sd = paper_net.state_dict()
    for suffix in ("WK.weight", "WK.bias", "WV.weight", "WV.bias"):
        assert sd[DEC + suffix].data_ptr() == sd[ENC + suffix].data_ptr()
    # Parameters are counted once: the 4 aliased tensors are not duplicated.
    names = [n for n, _ in paper_net.named_parameters()]
    assert not any(n.startswith(DEC) for n in names)


def test_frozen_backbone_layers(paper_net):
    fe = paper_net.feature_extractor
    for name in ("conv1", "bn1", "layer1", "layer2"):
        assert all(not p.requires_grad for p in getattr(fe, name).parameters())
    assert all(p.requires_grad for p in fe.layer3.parameters())
    net = copy.deepcopy(paper_net).train()
    assert not net.feature_extractor.layer2.training and net.feature_extractor.layer3.training


def test_paper_forward_small_input(paper_net):
    net = paper_net.eval()
    size, num_seq = 128, 1
    train = torch.randn(2, num_seq, 3, size, size)
    test = torch.randn(1, num_seq, 3, size, size)
    train_bb = _boxes(2, num_seq)
    proposals = _boxes(4, num_seq).reshape(1, 4, num_seq, 4).transpose(1, 2)
    start = time.perf_counter()
    with torch.no_grad():
        scores, iou = net(train, test, train_bb, proposals)
    elapsed = time.perf_counter() - start
    print(f"paper-size forward (2 train + 1 test, 128x128, CPU): {elapsed:.3f} s")
    assert len(scores) == 6  # initial filter + 5 steepest-descent iterates
    assert scores[-1].shape == (1, num_seq, 9, 9)  # 128/16 = 8 cells, 4x4 filter -> 9x9
    assert iou.shape == (1, num_seq, 4)
    assert all(torch.isfinite(s).all() for s in scores) and torch.isfinite(iou).all()
    feats = net.extract_backbone_features(train[:, 0])
    assert feats["layer2"].shape == (2, 512, 16, 16) and feats["layer3"].shape == (2, 1024, 8, 8)
    assert net.extract_classification_feat(feats).shape == (2, 512, 8, 8)


def test_tiny_forward_shapes_and_gradients():
    torch.set_num_threads(1)
    net = build_trdimp("tiny").train()
    cfg = net.config
    assert cfg.feature_size == 8 and cfg.score_size == 9
    num_seq, size = 2, cfg.image_sample_size
    train = normalize_images(torch.rand(3, num_seq, 3, size, size) * 255)
    test = normalize_images(torch.rand(3, num_seq, 3, size, size) * 255)
    train_bb = _boxes(3, num_seq)
    proposals = _boxes(3 * 8, num_seq).reshape(3, 8, num_seq, 4).transpose(1, 2)
    net(train, test, train_bb, proposals)  # warm-up
    start = time.perf_counter()
    scores, iou = net(train, test, train_bb, proposals)
    elapsed = time.perf_counter() - start
    print(f"tiny forward (3 train + 3 test, 2 sequences, 128x128, 1 thread): {elapsed:.3f} s")
    assert elapsed < 1.0
    assert len(scores) == cfg.optim_iter + 1
    assert all(s.shape == (3, num_seq, 9, 9) for s in scores)
    assert iou.shape == (3, num_seq, 8)
    test_label = gaussian_train_label(_boxes(3, num_seq), (9, 9), (size, size))
    loss = sum(F.mse_loss(s, test_label) for s in scores) + F.mse_loss(iou, torch.rand_like(iou))
    assert torch.isfinite(loss)
    loss.backward()
    for name, p in net.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name
            assert torch.isfinite(p.grad).all(), name
    assert net.classifier.filter_optimizer.log_step_length.grad.abs().sum() > 0


def test_explicit_train_label_is_used_and_default_matches():
    net = build_trdimp("tiny").eval()
    size = 128
    train, test = torch.randn(2, 1, 3, size, size), torch.randn(1, 1, 3, size, size)
    train_bb = _boxes(2, 1)
    proposals = _boxes(1, 1).reshape(1, 1, 1, 4).expand(1, 1, 3, 4)
    with torch.no_grad():
        default, _ = net(train, test, train_bb, proposals)
        label = gaussian_train_label(train_bb, (8, 8), (size, size), 4, 0.1)
        explicit, _ = net(train, test, train_bb, proposals, train_label=label)
        other, _ = net(train, test, train_bb, proposals, train_label=torch.zeros_like(label))
    assert torch.allclose(default[-1], explicit[-1])
    assert not torch.allclose(default[-1], other[-1])


def test_gaussian_train_label_peak():
    # Target centred at image pixel (96, 40) in a 128x128 sample with an 8x8 map.
    bb = torch.tensor([[[86.0, 30.0, 20.0, 20.0]]])
    label = gaussian_train_label(bb, (8, 8), (128, 128), filter_size=4, sigma_factor=0.1)
    assert label.shape == (1, 1, 8, 8)
    row, col = divmod(int(label.reshape(-1).argmax()), 8)
    # Centre in cells from the map centre: 8*(96-64)/128 + 0.5 = 2.5 -> column 3.5 + 2.5 = 6.
    assert (row, col) == (round(3.5 + 8 * (40 - 64) / 128 + 0.5), 6)


def _reference_transformer(tf, train_feat, test_feat, label):
    """Literal per-image transcription of the published encoder/decoder computation."""
    shared = tf.encoder.layers[0].self_attn.head[0]
    cross = tf.decoder.layers[0].cross_attn.head[0]
    norm = tf.encoder.layers[0].norm

    def attn(unit, q, k, v):
        wk = F.normalize(unit.WK(k), p=2, dim=-1).permute(1, 2, 0)
        wq = F.normalize(unit.WK(q), p=2, dim=-1).permute(1, 0, 2)
        a = F.softmax(torch.bmm(wq, wk) * 30, dim=-1)
        return torch.bmm(a, v.permute(1, 0, 2)).permute(1, 0, 2)

    def inorm(src, shape):
        n, b, c, h, w = shape
        x = src.reshape(n, h, w, b, c).permute(0, 3, 4, 1, 2).reshape(-1, c, h, w)
        x = norm(x)
        return x.reshape(n, b, c, -1).permute(0, 3, 1, 2).reshape(-1, b, c)

    def tokens(x):
        n, b, c, h, w = x.shape
        return x.reshape(n, b, c, -1).permute(0, 3, 1, 2).reshape(-1, b, c)

    def maps(t, shape):
        n, b, c, h, w = shape
        return t.reshape(n, h, w, b, c).permute(0, 3, 4, 1, 2).reshape(-1, c, h, w)

    src = tokens(train_feat)
    memory = inorm(src + attn(shared, src, src, src), train_feat.shape)
    n, b, c, h, w = train_feat.shape
    pos = label.reshape(n, b, 1, -1).permute(0, 3, 1, 2).reshape(-1, b, 1).repeat(1, 1, c)

    def decode(feat):
        outs = []
        for i in range(feat.shape[0]):
            x = feat[i:i + 1]
            t = tokens(x)
            t = inorm(t + attn(shared, t, t, t), x.shape)
            mask = attn(cross, t, memory, pos)
            t2 = inorm(t * mask, x.shape)
            t4 = inorm(t + attn(cross, t, memory, memory * pos), x.shape)
            outs.append(maps(inorm(t2 + t4, x.shape), x.shape))
        return torch.cat(outs, dim=0)

    return decode(train_feat), decode(test_feat)


def test_transformer_matches_reference_computation():
    tf = Transformer(d_model=16, key_feature_dim=8, filter_size=4).double()
    train = torch.randn(3, 2, 16, 5, 6, dtype=torch.float64)
    test = torch.randn(2, 2, 16, 5, 6, dtype=torch.float64)
    label = torch.rand(3, 2, 5, 6, dtype=torch.float64)
    enc, dec = tf(train, test, label)
    ref_enc, ref_dec = _reference_transformer(tf, train, test, label)
    assert enc.shape == (6, 16, 5, 6) and dec.shape == (4, 16, 5, 6)
    assert torch.allclose(enc, ref_enc, atol=1e-10) and torch.allclose(dec, ref_dec, atol=1e-10)
    with pytest.raises(ValueError):
        tf(train, test, torch.rand(3, 2, 6, 6, dtype=torch.float64))


def _toy_problem(num_images=3, num_seq=2, channels=8, side=10, stride=16):
    feat = torch.randn(num_images, num_seq, channels, side, side, dtype=torch.float64)
    bb = _boxes(num_images, num_seq, lo=40.0, span=50.0).double()
    opt = DiMPSteepestDescentGN(num_iter=1, feat_stride=stride, init_step_length=0.9, init_filter_reg=0.1,
                                init_gauss_sigma=1.0 / 4.0 / 6.0 * side, num_dist_bins=100, bin_displacement=0.1,
                                mask_init_factor=3.0, score_act="relu", mask_act="sigmoid").double()
    weights = 0.1 * torch.randn(num_seq, channels, 4, 4, dtype=torch.float64)
    return opt, feat, bb, weights


def test_filter_gradient_matches_autograd():
    opt, feat, bb, weights = _toy_problem()
    label, mask, spatial = opt.loss_maps(bb, 3, 2, (11, 11), (4, 4))
    sample_weight = math.sqrt(1 / 3) * spatial
    w = weights.clone().requires_grad_(True)
    obj = dimp_objective(w, feat, label, mask, sample_weight, opt.reg_weight(), opt.score_activation)
    (auto,) = torch.autograd.grad(obj, w)
    scores = apply_filter(feat, weights)
    resid = sample_weight * (opt.score_activation(scores, mask) - label)
    manual = (apply_feat_transpose(feat, opt.score_activation_deriv(scores, mask) * sample_weight * resid, (4, 4))
              + opt.reg_weight().detach() * weights)
    # The objective is averaged over sequences and the optimiser's gradient omits the factor 2.
    assert torch.allclose(manual, auto * weights.shape[0] / 2, atol=1e-10)


def test_steepest_descent_step_lowers_objective():
    opt, feat, bb, weights = _toy_problem()
    with torch.no_grad():
        new_weights, iterates, losses = opt(weights, feat=feat, bb=bb)
        label, mask, spatial = opt.loss_maps(bb, 3, 2, (11, 11), (4, 4))
        before = dimp_objective(weights, feat, label, mask, math.sqrt(1 / 3) * spatial, opt.reg_weight())
        after = dimp_objective(new_weights, feat, label, mask, math.sqrt(1 / 3) * spatial, opt.reg_weight())
    assert len(iterates) == 2 and len(losses) == 2
    assert torch.allclose(losses[0], before) and torch.allclose(losses[1], after)
    assert after < before
    with torch.no_grad():
        _, _, many = opt(weights, feat=feat, bb=bb, num_iter=5)
    assert many[-1] < many[1] < many[0]


def test_iou_prediction_is_differentiable_in_boxes():
    net = build_trdimp("tiny").eval()
    im = torch.randn(2, 3, 128, 128)
    feats = net.extract_backbone_features(im)
    bbreg = net.get_backbone_bbreg_feat(feats)
    ref_bb = torch.tensor([[40.0, 30.0, 35.0, 50.0], [20.0, 60.0, 50.0, 30.0]])
    with torch.no_grad():
        modulation = net.bb_regressor.get_modulation([f for f in bbreg], ref_bb)
        iou_feat = net.bb_regressor.get_iou_feat(bbreg)
    proposals = (ref_bb[:, None, :] + torch.randn(2, 5, 4)).requires_grad_(True)
    iou = net.bb_regressor.predict_iou([m.reshape(2, -1) for m in modulation], iou_feat, proposals)
    assert iou.shape == (2, 5)
    iou.sum().backward()
    assert torch.isfinite(proposals.grad).all() and proposals.grad.abs().sum() > 0


def test_dimpnet50_accepts_official_constructor_kwargs():
    kwds = _manifest()["container"]["constructor"]["kwds"]
    with pytest.warns(UserWarning):
        net = dimpnet50(**kwds)
    assert [k for k in net.state_dict()] == [k for k, _, _ in _manifest()["state_dict"]]
    assert isinstance(net.config, TrDiMPConfig)
