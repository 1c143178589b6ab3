"""TransT frame-level and sequence-level training end to end on synthetic data (tiny sizes)."""
import json
import math

import numpy as np
import pytest
import torch

from ltr.actors.transt_actor import TransTActor
from ltr.admin.checkpoint import load_checkpoint
from ltr.admin.settings import Settings
from ltr.data.processing import stack_siamese_batch
from ltr.data.transt_processing import TransTProcessing
from ltr.models.registry import build_network
from ltr.models.tracking.transt import TransTConfig
from ltr.run_training import run_training
from ltr.train_settings.transt import slt as slt_setting
from ltr.train_settings.transt import common as transt_common
from ltr.train_settings.transt import transt as flt_setting


def _sample(seed=0, size=(120, 160)):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
    return {"template_images": [image], "template_anno": [torch.tensor([50.0, 40.0, 30.0, 20.0])],
            "search_images": [image], "search_anno": [torch.tensor([60.0, 45.0, 32.0, 22.0])],
            "rng": np.random.default_rng(seed)}


def test_processing_without_jitter_centres_the_target_in_tracker_sized_regions():
    cfg = TransTConfig.tiny()
    proc = TransTProcessing(cfg, search_center_jitter=0.0, search_scale_jitter=0.0, brightness_jitter=0.0,
                            gray_prob=0.0)
    out = proc(_sample())
    assert out["valid"] and out["template"].shape == (3, 64, 64) and out["search"].shape == (3, 128, 128)
    for key, box, size, factor in (("template_box", (30.0, 20.0), 64, 0.5), ("search_box", (32.0, 22.0), 128, 1.5)):
        x, y, w, h = out[key].tolist()
        assert x + w / 2 == pytest.approx(size / 2, abs=1e-4) and y + h / 2 == pytest.approx(size / 2, abs=1e-4)
        bw, bh = box
        pad = factor * (bw + bh)
        side = math.ceil(math.sqrt((bw + pad) * (bh + pad)))  # the tracker's context side
        assert w == pytest.approx(bw * size / side, rel=1e-5)


def test_processing_jitter_moves_the_search_target_and_keeps_the_sample_reproducible():
    proc = TransTProcessing(TransTConfig.tiny())
    a, b = proc(_sample(1)), proc(_sample(1))
    torch.testing.assert_close(a["search"], b["search"])
    centres = [proc(_sample(s))["search_box"] for s in range(8)]
    cx = [float(c[0] + c[2] / 2) for c in centres]
    assert max(cx) - min(cx) > 5.0
    assert not proc({**_sample(2), "search_anno": [torch.tensor([5.0, 5.0, 0.0, 10.0])]})["valid"]


def test_actor_loss_is_finite_with_gradients():
    torch.manual_seed(0)
    net = build_network("transt", "tiny")
    proc = TransTProcessing(TransTConfig.tiny())
    batch = stack_siamese_batch([proc(_sample(s)) for s in range(3)])
    loss, stats = TransTActor(net)(batch)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert stats["frames_grad"] == 3.0 and stats["Loss/total"] == pytest.approx(
        8.334 * stats["Loss/ce"] + 5 * stats["Loss/bbox"] + 2 * stats["Loss/giou"], rel=1e-4)


def test_paper_settings_follow_the_official_recipes():
    flt = Settings()
    flt_setting.configure(flt)
    assert (flt.batch_size, flt.lr, flt.backbone_lr, flt.weight_decay, flt.lr_drop_epochs) == (38, 1e-4, 1e-5, 1e-4, 500)
    assert (flt.search_center_jitter, flt.search_scale_jitter, flt.max_gap) == (3.0, 0.25, 100)
    slt = Settings()
    slt_setting.configure(slt)
    assert (slt.episodes_per_batch, slt.num_frames, slt.max_interval, slt.interval_prob) == (8, 24, 10, 0.3)
    assert (slt.scst_weight, slt.temperature, slt.eps, slt.replay_chunk, slt.grad_clip) == (15.0, 4.0, 0.01, 2, 100.0)
    assert (slt.lr, slt.backbone_lr) == (1e-5, 1e-6)
    net = build_network("transt", "tiny")
    groups = transt_common.param_groups(net, 1e-4, 1e-5)
    n_backbone = sum(p.numel() for n, p in net.named_parameters() if n.startswith("backbone."))
    assert sum(p.numel() for p in groups[1]["params"]) == n_backbone > 0


def test_tiny_flt_then_slt_through_run_training(tmp_path, monkeypatch):
    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path))
    run_training("transt", "tiny", workspace=str(tmp_path), resume=False, epochs=1, iterations_per_epoch=2,
                 batch_size=4)
    flt_ckpt = tmp_path / "checkpoints" / "transt" / "tiny" / "latest.pth"
    flt_state = load_checkpoint(flt_ckpt)
    assert flt_state["tracker"] == "transt" and flt_state["size"] == "tiny" and flt_state["epoch"] == 1

    # SLT from the FLT checkpoint, validated by tracking 2 synthetic videos with the saved weights
    run_training("transt", "slt_tiny", workspace=str(tmp_path), resume=False, checkpoint=str(flt_ckpt), epochs=1,
                 iterations_per_epoch=1, episodes_per_batch=2, num_frames=4, validate_every=1,
                 validation_dataset="synthetic", validation_root=str(tmp_path / "val"), validation_videos=2,
                 validation_frames=8)
    slt_state = load_checkpoint(tmp_path / "checkpoints" / "transt" / "slt_tiny" / "latest.pth")
    record = slt_state["stats"]["history"][-1]
    for key in ("Loss/total", "Loss/scst", "Loss/box", "reward/argmax", "reward/sample", "grad_norm"):
        assert math.isfinite(record[key]), key
    best = json.loads((tmp_path / "checkpoints" / "transt" / "slt_tiny" / "best.json").read_text())
    assert 0.0 <= best["AO"] <= 100.0
    changed = [k for k, v in slt_state["net"].items() if v.is_floating_point() and not torch.equal(v, flt_state["net"][k])]
    assert changed  # the SLT step moved the weights

    from pytracking.parameter.transt import tiny
    from pytracking.tracker.transt.transt import TransT
    params = tiny.parameters()
    params.checkpoint = str(tmp_path / "checkpoints" / "transt" / "slt_tiny" / "latest.pth")
    tracker = TransT(params)
    image = np.zeros((96, 128, 3), dtype=np.uint8)
    tracker.initialize(image, {"init_bbox": [40.0, 30.0, 20.0, 16.0]})
    assert all(math.isfinite(v) for v in tracker.track(image)["target_bbox"])


def test_slt_without_a_checkpoint_names_the_fix():
    settings = Settings(project_path="transt/slt_tiny")
    from ltr.train_settings.transt import slt_tiny
    with pytest.raises(SystemExit, match="run_training.py transt tiny"):
        slt_tiny.build_trainer(settings)
