"""OSTrack frame-level and sequence-level training on synthetic data (tiny sizes), and the whole
chain FLT -> SLT -> run_tracker -> run_analysis."""
import json
import math

import numpy as np
import pytest
import torch

from ltr.actors.ostrack_actor import OSTrackActor
from ltr.admin.checkpoint import load_checkpoint
from ltr.admin.settings import Settings
from ltr.data.ostrack_processing import OSTrackProcessing
from ltr.data.processing import stack_siamese_batch
from ltr.models.loss.ostrack_loss import focal_loss, gaussian_heatmap
from ltr.models.registry import build_network
from ltr.models.tracking.ostrack import OSTrackConfig
from ltr.run_training import run_training
from ltr.train_settings.ostrack import common as ostrack_common
from ltr.train_settings.ostrack import ostrack as flt_setting
from ltr.train_settings.ostrack import slt as slt_setting


def _sample(seed=0, size=(120, 160)):
    rng = np.random.default_rng(seed)
    image = rng.integers(1, 255, size=(*size, 3), dtype=np.uint8)
    return {"template_images": [image], "template_anno": [torch.tensor([50.0, 40.0, 30.0, 20.0])],
            "search_images": [image], "search_anno": [torch.tensor([60.0, 45.0, 32.0, 22.0])],
            "rng": np.random.default_rng(seed)}


def test_processing_without_jitter_centres_the_target_in_ostrack_regions_with_zero_padding():
    proc = OSTrackProcessing(OSTrackConfig.tiny(), search_center_jitter=0.0, search_scale_jitter=0.0,
                             brightness_jitter=0.0, gray_prob=0.0, flip_prob=0.0)
    out = proc(_sample())
    assert out["valid"] and out["template"].shape == (3, 64, 64) and out["search"].shape == (3, 128, 128)
    for key, (bw, bh), size, factor in (("template_box", (30.0, 20.0), 64, 2.0), ("search_box", (32.0, 22.0), 128, 4.0)):
        x, y, w, h = out[key].tolist()
        assert x + w / 2 == pytest.approx(size / 2, abs=1e-4) and y + h / 2 == pytest.approx(size / 2, abs=1e-4)
        assert w == pytest.approx(bw * size / math.ceil(math.sqrt(bw * bh) * factor), rel=1e-5)
    # A target at the top edge: its 107-px search region starts 37.5 px above the image, zero-padded.
    edge = proc({**_sample(), "search_anno": [torch.tensor([60.0, 5.0, 32.0, 22.0])]})
    assert float(edge["search"][:, :40].abs().max()) == 0.0 and float(edge["search"][:, 50:].min()) > 0.0
    flipped = OSTrackProcessing(OSTrackConfig.tiny(), search_center_jitter=0.0, search_scale_jitter=0.0,
                                brightness_jitter=0.0, gray_prob=0.0, flip_prob=1.0)(_sample())
    torch.testing.assert_close(flipped["search"], out["search"].flip(-1))
    assert float(flipped["search_box"][0]) == pytest.approx(128 - float(out["search_box"][0] + out["search_box"][2]), abs=1e-4)


def test_heatmap_and_focal_loss():
    heat = gaussian_heatmap(torch.tensor([[0.25, 0.25, 0.5, 0.5]]), 16)[0, 0]
    assert heat[8, 8] == 1.0 and int((heat == 1).sum()) == 1 and 0 < float(heat[8, 9]) < 1
    assert float(heat[0, 0]) == 0.0
    good = heat.clamp(1e-4, 1 - 1e-4).view(1, 1, 16, 16)
    assert float(focal_loss(good, heat.view(1, 1, 16, 16))) < float(focal_loss(1 - good, heat.view(1, 1, 16, 16)))


def test_actor_loss_follows_the_weights_and_the_ce_schedule():
    torch.manual_seed(0)
    net = build_network("ostrack", "tiny")
    proc = OSTrackProcessing(OSTrackConfig.tiny())
    batch = stack_siamese_batch([proc(_sample(s)) for s in range(3)])
    actor = OSTrackActor(net, ce_start_epoch=3, ce_warm_epochs=4, ce_keep_ratio=0.7)
    loss, stats = actor(batch)
    assert stats["ce_keep_rate"] == 1.0   # epoch 1: no elimination yet
    assert torch.isfinite(loss) and stats["Loss/total"] == pytest.approx(
        stats["Loss/focal"] + 5 * stats["Loss/l1"] + 2 * stats["Loss/giou"], rel=1e-4)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    actor.set_epoch(5)
    assert actor.keep_rate == pytest.approx(0.85)
    actor.set_epoch(7)
    assert actor(batch)[1]["ce_keep_rate"] == 0.7


def test_paper_settings_follow_the_recipes():
    flt = Settings()
    flt_setting.configure(flt)
    assert (flt.batch_size, flt.lr, flt.backbone_lr, flt.weight_decay, flt.grad_clip) == (32, 4e-4, 4e-5, 1e-4, 0.1)
    assert (flt.epochs, flt.lr_drop_epochs, flt.ce_start_epoch, flt.ce_warm_epochs) == (300, 240, 20, 80)
    assert (flt.search_center_jitter, flt.search_scale_jitter, flt.max_gap, flt.mixed_precision) == (3.0, 0.25, 200, "off")
    slt = Settings()
    slt_setting.configure(slt)
    assert (slt.episodes_per_batch, slt.num_frames, slt.max_interval, slt.interval_prob) == (8, 24, 10, 0.3)
    assert (slt.scst_weight, slt.temperature, slt.eps, slt.replay_chunk, slt.network_mode) == (15.0, 4.0, 0.01, 2, "eval")
    assert (slt.lr, slt.backbone_lr) == pytest.approx((flt.lr / 10, flt.backbone_lr / 10))
    net = build_network("ostrack", "tiny")
    optimizer, _ = ostrack_common.backbone_adamw_optimizer(net, flt)
    groups = optimizer.param_groups
    assert [g["lr"] for g in groups] == [4e-4, 4e-5] and groups[0]["weight_decay"] == 1e-4
    trainable = [p for p in net.backbone.parameters() if p.requires_grad]   # cls_token, pos_embed are frozen
    assert sum(p.numel() for p in groups[1]["params"]) == sum(p.numel() for p in trainable) > 0


def test_tiny_flt_slt_run_tracker_run_analysis_chain(tmp_path, monkeypatch, capsys):
    from ltr.dataset.synthetic import SyntheticConfig
    from ltr.util_scripts.make_synthetic import write_got10k_layout
    from pytracking.analysis.cli import main as analysis_main
    from pytracking.run_tracker import main as tracker_main

    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path))
    run_training("ostrack", "tiny", workspace=str(tmp_path), resume=False, epochs=1, iterations_per_epoch=2,
                 batch_size=4)
    flt_ckpt = tmp_path / "checkpoints" / "ostrack" / "tiny" / "latest.pth"
    flt_state = load_checkpoint(flt_ckpt)
    assert flt_state["tracker"] == "ostrack" and flt_state["size"] == "tiny" and flt_state["epoch"] == 1

    run_training("ostrack", "slt_tiny", workspace=str(tmp_path), resume=False, checkpoint=str(flt_ckpt), epochs=1,
                 iterations_per_epoch=1, episodes_per_batch=2, num_frames=4)
    slt_ckpt = tmp_path / "checkpoints" / "ostrack" / "slt_tiny" / "latest.pth"
    slt_state = load_checkpoint(slt_ckpt)
    record = slt_state["stats"]["history"][-1]
    for key in ("Loss/total", "Loss/scst", "Loss/box", "reward/argmax", "reward/sample", "grad_norm"):
        assert math.isfinite(record[key]), key
    changed = [k for k, v in slt_state["net"].items() if v.is_floating_point() and not torch.equal(v, flt_state["net"][k])]
    assert changed and all(not k.endswith(("running_mean", "running_var")) for k in changed)  # BN frozen (eval)

    root = tmp_path / "data"
    write_got10k_layout(root, "test", num_videos=2, frames=6, seed=5, config=SyntheticConfig(num_frames=6), quiet=True)
    results = tmp_path / "results"
    assert tracker_main(["ostrack", "tiny", "synthetic", "--dataset-root", str(root), "--checkpoint", str(slt_ckpt),
                         "--results-dir", str(results)]) in (0, None)
    folders = {p.parent for p in results.rglob("*.txt")}
    assert len(folders) == 1
    report = tmp_path / "scores.json"
    assert analysis_main(["--dataset", "synthetic", "--dataset-root", str(root), "--results-dir",
                          str(folders.pop()), "--json", str(report)]) in (0, None)
    scores = json.loads(report.read_text())
    assert len(scores["sequence_names"]) == 2 and 0.0 <= scores["AO"] <= 100.0 and 0.0 <= scores["AUC"] <= 100.0


def test_slt_without_a_checkpoint_names_the_fix():
    from ltr.train_settings.ostrack import slt_tiny
    with pytest.raises(SystemExit, match="run_training.py ostrack tiny"):
        slt_tiny.build_trainer(Settings(project_path="ostrack/slt_tiny"))
