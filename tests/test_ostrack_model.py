"""OSTrack model: official state-dict layout of the 256 and 384 configs, candidate elimination,
the centre head's box decoding, the window, MAE weights from a local file, bf16 autocast."""
import json
import math
from pathlib import Path

import pytest
import torch

from ltr.models.backbone.vit_ce import candidate_elimination, ctr_point_token, resize_pos_embed
from ltr.models.head.center_head import boxes_at
from ltr.models.loss.ostrack_loss import OSTrackLoss
from ltr.models.tracking.ostrack import OSTrackConfig, build_ostrack, ce_keep_rate, crop_sizes
from pytracking.tracker.ostrack.core import hann2d

MANIFESTS = Path(__file__).resolve().parents[1] / "ltr" / "admin" / "manifests"
SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs" / "checkpoints"


def _meta_model(size):
    # The paper sizes are built on the meta device: shapes and keys without 370 MB of weights.
    with torch.device("meta"):
        return build_ostrack(size)


def _layout(net):
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in net.state_dict().items()]


@pytest.mark.parametrize("size, manifest, params", [("paper", "ostrack_vitb_256", 92_518_533),
                                                   ("paper384", "ostrack_vitb_384", 92_825_733)])
def test_paper_configs_equal_the_official_state_dicts(size, manifest, params):
    net = _meta_model(size)
    expected = json.loads((MANIFESTS / f"{manifest}.json").read_text())["state_dict"]
    assert _layout(net) == expected and len(expected) == 242
    assert sum(p.numel() for p in net.parameters()) == params
    assert sum(p.numel() for n, p in net.named_parameters() if n.startswith("backbone.")) == 86_044_416 + (
        0 if size == "paper" else params - 92_518_533)


@pytest.mark.skipif(not SPECS.is_dir(), reason="the official checkpoint specs (../shared/specs) are not beside this checkout")
@pytest.mark.parametrize("size, manifest", [("paper", "ostrack_vitb_256"), ("paper384", "ostrack_vitb_384")])
def test_paper_configs_equal_the_specs(size, manifest):
    assert _layout(_meta_model(size)) == json.loads((SPECS / f"{manifest}.json").read_text())["state_dict"]


@pytest.mark.parametrize("size, grid, kept", [("paper", 16, 89), ("paper384", 24, 199)])
def test_paper_candidate_elimination_keeps_the_official_token_counts(size, grid, kept):
    net = _meta_model(size).eval()
    cfg = net.cfg
    out = net(torch.zeros(1, 3, cfg.template_size, cfg.template_size, device="meta"),
              torch.zeros(1, 3, cfg.search_size, cfg.search_size, device="meta"))
    assert out["score_map"].shape == (1, 1, grid, grid) and out["size_map"].shape == (1, 2, grid, grid)
    assert int(out["removed"]) == grid * grid - kept  # 256 -> 180 -> 126 -> 89; 576 -> 404 -> 283 -> 199
    assert net.backbone.template_rows == ((27,) if size == "paper" else (65,))


def test_ctr_point_token_and_crop_rule():
    assert (ctr_point_token(8), ctr_point_token(12), ctr_point_token(4)) == (27, 65, 5)
    s_z, s_x = crop_sizes(torch.tensor([30.0, 20.0]), OSTrackConfig.paper())
    assert (float(s_z), float(s_x)) == (math.ceil(math.sqrt(600) * 2), math.ceil(math.sqrt(600) * 4))
    assert float(crop_sizes(torch.tensor([30.0, 20.0]), OSTrackConfig.paper384())[1]) == math.ceil(math.sqrt(600) * 5)


def test_elimination_keeps_the_most_attended_search_tokens_and_zeroes_the_rest():
    tokens = torch.arange(2 * 6 * 1, dtype=torch.float32).view(2, 6, 1)        # 2 template + 4 search tokens
    attn = torch.zeros(2, 1, 1, 6)
    attn[0, 0, 0, 2:] = torch.tensor([0.1, 0.4, 0.2, 0.3])
    attn[1, 0, 0, 2:] = torch.tensor([0.4, 0.1, 0.3, 0.2])
    index = torch.arange(4).expand(2, 4)
    out, kept, removed = candidate_elimination(attn, tokens, 2, 0.5, index)
    assert kept.tolist() == [[1, 3], [0, 2]] and removed.tolist() == [[2, 0], [3, 1]]
    assert out[:, :2].equal(tokens[:, :2]) and out[0, 2:, 0].tolist() == [3.0, 5.0]

    torch.manual_seed(0)
    net = build_ostrack("tiny").eval()
    z, x = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        search, gone = net.backbone.forward_tokens(net.template_features(z), x)
        zero_rows = (search.abs().sum(-1) == 0).sum(dim=1)
        assert zero_rows.tolist() == [256 - 126] * 2 and sum(g.shape[1] for g in gone) == 130
        # A keep rate >= 1 turns elimination off (the first epochs of the FLT schedule).
        assert int(net(z, x, ce_keep_rate=1.0)["removed"]) == 0
        assert int(net(z, x, ce_keep_rate=0.5)["removed"]) == 256 - 64


def test_ce_keep_rate_schedule_turns_elimination_on_after_the_start_epoch():
    assert ce_keep_rate(1, 20, 80, 0.7) == 1.0 and ce_keep_rate(19, 20, 80, 0.7) == 1.0
    assert ce_keep_rate(20, 20, 80, 0.7) == pytest.approx(1.0)
    assert ce_keep_rate(60, 20, 80, 0.7) == pytest.approx(0.85)
    assert ce_keep_rate(100, 20, 80, 0.7) == ce_keep_rate(300, 20, 80, 0.7) == 0.7


def test_box_decoding_reads_size_and_offset_at_the_cell():
    size_map = torch.rand(2, 2, 4, 4)
    offset_map = torch.rand(2, 2, 4, 4)
    index = torch.tensor([6, 13])                                           # (row 1, col 2), (row 3, col 1)
    boxes = boxes_at(index, size_map, offset_map)
    for b, (row, col) in enumerate([(1, 2), (3, 1)]):
        expected = [(col + offset_map[b, 0, row, col]) / 4, (row + offset_map[b, 1, row, col]) / 4,
                    size_map[b, 0, row, col], size_map[b, 1, row, col]]
        torch.testing.assert_close(boxes[b], torch.stack([torch.as_tensor(e) for e in expected]))


def test_hanning_window_is_the_official_centred_one():
    window = hann2d(16).view(16, 16)
    first = [0.033764, 0.130496, 0.277131, 0.453866, 0.636831, 0.801317, 0.925109, 0.991487]
    torch.testing.assert_close(window[7, :8] / window[7, 7] * 0.991487, torch.tensor(first), atol=1e-6, rtol=0)
    assert float(window.min()) == pytest.approx(0.001140, abs=1e-6)
    assert float(window.max()) == pytest.approx(0.983046, abs=1e-6)
    assert float(hann2d(24).min()) == pytest.approx(0.000247, abs=1e-6)


def test_mae_weights_load_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    source = build_ostrack("tiny").backbone.state_dict()
    mae = {k: torch.randn_like(v) for k, v in source.items() if k not in ("pos_embed_z", "pos_embed_x")}
    mae["decoder_embed.weight"] = torch.zeros(3, 3)                          # MAE decoder: ignored
    torch.save({"model": mae}, tmp_path / "mae_tiny.pth")
    net = build_ostrack("tiny", backbone_weights=str(tmp_path / "mae_tiny.pth"))
    torch.testing.assert_close(net.backbone.blocks[0].attn.qkv.weight, mae["blocks.0.attn.qkv.weight"])
    torch.testing.assert_close(net.backbone.pos_embed_x, resize_pos_embed(mae["pos_embed"][:, 1:], 16))
    torch.testing.assert_close(net.backbone.pos_embed_z, mae["pos_embed"][:, 1:])   # 8x8 grid: unchanged
    with pytest.raises(FileNotFoundError, match="local MAE"):
        build_ostrack("tiny", backbone_weights=str(tmp_path / "missing.pth"))


def test_bf16_autocast_runs_on_cpu_with_float32_maps_and_losses():
    torch.manual_seed(0)
    net = build_ostrack("tiny").set_mixed_precision("bf16").train()
    out = net(torch.randn(2, 3, 64, 64), torch.randn(2, 3, 128, 128), ce_keep_rate=0.7)
    assert all(out[k].dtype == torch.float32 for k in ("score_map", "size_map", "offset_map", "pred_boxes"))
    score = out["score_map"].detach()
    assert float(score.max()) <= 1 - 1e-4 and float(score.min()) >= 1e-4
    loss = OSTrackLoss()(out, torch.tensor([[0.4, 0.4, 0.2, 0.2], [0.3, 0.35, 0.3, 0.25]]))
    assert loss["total"].dtype == torch.float32 and torch.isfinite(loss["total"])
    loss["total"].backward()
    assert net.backbone.blocks[0].attn.qkv.weight.grad is not None
    with pytest.raises(ValueError, match="mixed_precision"):
        net.set_mixed_precision("fp16")
