"""SiamAttn network: the official state-dict layout, the attention arithmetic, tiny shapes, official files."""
import json
from pathlib import Path

import pytest
import torch

from ltr.admin.loading import load_official_checkpoint
from ltr.models.neck.enhance import CAMUse, PAM, cam_attention
from ltr.models.registry import build_network, load_network
from ltr.models.tracking.siamattn import SiamAttnConfig, build_siamattn
from tests.fixtures_checkpoints import with_bbox_head_names, write_pysot_checkpoint

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "ltr" / "admin" / "manifests" / "siamattn.json"  # shipped copy of the spec
SPEC_MANIFEST = REPO.parent / "shared" / "specs" / "checkpoints" / "siamattn.json"


def _entries(path: Path):
    return [(k, tuple(s), d) for k, s, d in json.loads(path.read_text())["state_dict"]]


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return build_siamattn("paper").eval()


def test_paper_state_dict_equals_the_official_manifest(paper_model):
    assert MANIFEST.is_file(), f"the shipped checkpoint manifest {MANIFEST} is missing; restore it from git"
    manifest = _entries(MANIFEST)
    ours = [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in paper_model.state_dict().items()]
    assert ours == manifest  # keys, order, shapes and dtypes
    assert len(ours) == 645
    assert sum(p.numel() for p in paper_model.parameters()) == 140_242_881
    assert "feature_fusion.lateral_convs.0.BN256.weight" in dict(paper_model.state_dict())


def test_shipped_manifest_equals_the_spec():
    if not SPEC_MANIFEST.is_file():
        pytest.skip(f"{SPEC_MANIFEST} is absent (the shared specs are not checked out beside the project)")
    assert _entries(MANIFEST) == _entries(SPEC_MANIFEST)


def test_paper_forward_shapes_and_heads(paper_model):
    z = torch.rand(1, 3, 127, 127) * 255
    x = torch.rand(1, 3, 255, 255) * 255
    with torch.no_grad():
        zf = paper_model.template_features(z)
        out = paper_model.track(zf, x)
        rois = torch.tensor([[0.0, 100.0, 90.0, 160.0, 170.0]])
        deltas, logits = paper_model.refine(out, rois), paper_model.mask(out, rois)
    assert [tuple(f.shape) for f in zf] == [(1, 256, 7, 7)] * 3
    assert tuple(out.cls.shape) == (1, 10, 25, 25) and tuple(out.loc.shape) == (1, 20, 25, 25)
    assert tuple(out.box_feature.shape) == (1, 256, 25, 25) and tuple(out.mask_feature.shape) == (1, 256, 63, 63)
    assert tuple(deltas.shape) == (1, 4) and tuple(logits.shape) == (1, 1, 64, 64)
    assert all(torch.isfinite(t).all() for t in (*out, deltas, logits))
    cfg = paper_model.cfg
    assert (cfg.refine_scale, cfg.mask_scale) == (25 / 255, 63 / 255)
    assert (cfg.penalty_k, cfg.window_influence, cfg.lr, cfg.mask_threshold) == (0.10, 0.25, 0.45, 0.2)


def test_attention_arithmetic_matches_its_definition():
    torch.manual_seed(1)
    x = torch.randn(2, 16, 5, 6)
    pam = PAM(16)
    with torch.no_grad():
        pam.gamma.fill_(0.7)
        q = pam.query_conv(x).flatten(2)  # (B, 2, N)
        k = pam.key_conv(x).flatten(2)
        v = pam.value_conv(x).flatten(2)
        a = torch.softmax(torch.einsum("bci,bcj->bij", q, k), dim=-1)   # A[i, j] = softmax_j(q_i . k_j)
        expected = 0.7 * torch.einsum("bcj,bij->bci", v, a).view_as(x) + x
        torch.testing.assert_close(pam(x), expected)
        f = x.flatten(2)
        e = torch.einsum("bci,bdi->bcd", f, f)
        att = torch.softmax(e.max(-1, keepdim=True).values - e, dim=-1)
        torch.testing.assert_close(cam_attention(x), att)
        use = CAMUse()
        use.gamma.fill_(0.3)
        torch.testing.assert_close(use(x, att), 0.3 * torch.einsum("bcd,bdi->bci", att, f).view_as(x) + x)


def test_fresh_enhance_is_three_identities_before_the_deformable_conv():
    """gamma = 0 and zero offsets: z' = x' = 3 f, then a plain 3x3 conv (the official initialisation)."""
    torch.manual_seed(2)
    net = build_siamattn("tiny").eval()
    z, x = torch.randn(2, 32, 8, 8), torch.randn(2, 32, 16, 16)
    with torch.no_grad():
        ze, xe = net.feature_enhance([z], [x])
        conv = net.feature_enhance.deform_convs[0]
        torch.testing.assert_close(ze[0], torch.nn.functional.conv2d(3 * z, conv.weight, padding=1),
                                   atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(xe[0], torch.nn.functional.conv2d(3 * x, conv.weight, padding=1),
                                   atol=1e-4, rtol=1e-4)


def test_tiny_forward_shapes_per_sample_and_shared_templates():
    net = build_siamattn("tiny").eval()
    cfg = net.cfg
    assert cfg == SiamAttnConfig.tiny() and cfg.mask_size == 16
    z = torch.rand(3, 3, cfg.exemplar_size, cfg.exemplar_size) * 255
    x = torch.rand(3, 3, cfg.instance_size, cfg.instance_size) * 255
    with torch.no_grad():
        out = net(z, x)
        shared = net.track(net.template_features(z[:1]), x)
        single = net(z[:1], x[:1])
    assert tuple(out.cls.shape) == (3, 10, 9, 9) and tuple(out.loc.shape) == (3, 20, 9, 9)
    assert tuple(out.box_feature.shape[2:]) == (9, 9) and tuple(out.mask_feature.shape[2:]) == (32, 32)
    rois = torch.tensor([[0.0, 20.0, 30.0, 80.0, 90.0], [2.0, 50.0, 40.0, 70.0, 60.0]])
    assert tuple(net.mask(out, rois).shape) == (2, 1, 16, 16) and tuple(net.refine(out, rois).shape) == (2, 4)
    for a, b in zip(shared, single):  # a batch-1 template shared by all searches == its own pair
        torch.testing.assert_close(a[:1], b, atol=1e-4, rtol=1e-4)


def test_official_file_with_bbox_head_names_loads_through_the_safe_loader(tmp_path):
    """A pysot container ({'epoch', 'state_dict', 'optimizer'}) of random weights with the original
    SiamAttn 'bbox_head' names: imported, renamed, loaded strictly, every tensor where it belongs."""
    torch.manual_seed(3)
    source = build_network("siamattn", "paper").state_dict()
    state = with_bbox_head_names({k: (torch.randn_like(v) if v.is_floating_point() else v) for k, v in source.items()})
    path = write_pysot_checkpoint(tmp_path / "siamattn.pth", "siamattn", state=state)
    checkpoint = load_official_checkpoint(path)
    assert (checkpoint.format, checkpoint.tracker) == ("pysot", "siamattn")
    assert checkpoint.meta["renamed_legacy_keys"] == 12 and checkpoint.meta["epoch"] == 20
    net, _ = load_network(path, tracker="siamattn", size="paper")
    loaded = net.state_dict()
    assert list(loaded) == list(source)
    for key, value in state.items():
        assert torch.equal(loaded[key.replace("bbox_head", "refine_head")], value), key
