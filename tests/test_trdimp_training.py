"""TrDiMP training: processing (crops, labels, proposals), losses, actor, settings, tiny runs end to end."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr.actors.trdimp_actor import OFFICIAL_LOSS_WEIGHT, TrDiMPActor
from ltr.admin.settings import Settings
from ltr.data.trdimp_processing import (OFFICIAL_PROPOSAL_PARAMS, DiMPProcessing, gaussian_label_function,
                                      sample_box_gmm, sample_region, stack_dimp_batch)
from ltr.data.sampler import FrameLevelSampler
from ltr.dataset.synthetic import SyntheticVideoDataset
from ltr.models.loss.trdimp_loss import KLRegression, LBHinge, kl_regression, lb_hinge
from ltr.models.tracking.trdimp import build_trdimp, gaussian_train_label

REPO = Path(__file__).resolve().parents[1]
OUT, FEAT = 128, 8  # tiny geometry


def _processing(**kwargs):
    return DiMPProcessing(output_sz=OUT, feature_sz=FEAT, **kwargs)


def _sampler(processing, n=4, seed=0):
    return FrameLevelSampler([SyntheticVideoDataset("train", seed=seed)], samples_per_epoch=n, max_gap=30,
                             num_template_frames=3, num_search_frames=3, processing=processing, seed=seed)


def _raw_item(seed=0):
    item = _sampler(None, seed=seed)[0]
    item["rng"] = np.random.default_rng(seed)
    return item


# ----------------------------------------------------------------------------- processing
def test_processing_shapes_and_types():
    sample = _sampler(_processing())[0]
    assert sample["valid"] is True and "rng" not in sample
    assert sample["template_images"].shape == (3, 3, OUT, OUT)
    assert sample["search_images"].shape == (3, 3, OUT, OUT)
    assert sample["template_anno"].shape == (3, 4) and sample["search_anno"].shape == (3, 4)
    assert sample["template_label"].shape == (3, FEAT, FEAT)
    assert sample["search_label"].shape == (3, FEAT + 1, FEAT + 1)   # even 4x4 filter: one extra cell
    assert sample["search_proposals"].shape == (3, 128, 4)
    assert sample["proposal_density"].shape == (3, 128) and sample["gt_density"].shape == (3, 128)
    for key in ("template_images", "search_images", "search_label", "search_proposals", "gt_density"):
        assert sample[key].dtype == torch.float32
    assert 0.0 <= float(sample["search_images"].min()) and float(sample["search_images"].max()) <= 255.0
    batch = stack_dimp_batch([sample, sample])
    assert batch["template_images"].shape == (3, 2, 3, OUT, OUT)
    assert batch["search_proposals"].shape == (3, 2, 128, 4)


def test_processing_is_a_function_of_the_rng():
    proc = _processing()
    a, b = proc(_raw_item(3)), proc(_raw_item(3))
    for key in ("search_images", "search_anno", "search_proposals", "gt_density"):
        assert torch.equal(a[key], b[key])
    c = proc(_raw_item(4))
    assert not torch.equal(a["search_anno"], c["search_anno"])
    # Through the sampler: item i of an epoch is the same sample every time it is drawn.
    x, y = _sampler(proc, seed=5)[1], _sampler(proc, seed=5)[1]
    assert torch.equal(x["search_images"], y["search_images"]) and torch.equal(x["gt_density"], y["gt_density"])


def test_crop_geometry_without_jitter():
    # No jitter and no shrink: the target sits in the crop centre, 1/6 of the crop side wide
    # (geometric mean), exactly as the tracker samples around its estimate.
    proc = _processing(template_center_jitter=0.0, search_center_jitter=0.0, template_scale_jitter=0.0,
                       search_scale_jitter=0.0, border_mode="replicate", flip_prob=0.0, brightness_jitter=0.0)
    out = proc(_raw_item(1))
    boxes = torch.cat([out["template_anno"], out["search_anno"]])
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    torch.testing.assert_close(centres, torch.full_like(centres, OUT / 2), atol=1e-3, rtol=0)
    torch.testing.assert_close(boxes[:, 2:].prod(dim=1).sqrt(), torch.full((6,), OUT / 6.0), atol=1e-3, rtol=0)


def test_labels_peak_at_the_target_and_match_the_network_labels():
    out = _sampler(_processing())[1]
    label = out["search_label"]
    box = out["search_anno"]
    # Peak cell = target centre in score cells (grid centred on the crop, half-cell shift for the even filter).
    centre = box[:, :2] + box[:, 2:] / 2
    expected = FEAT * (centre - OUT / 2) / OUT + 0.5 + (FEAT - 1) / 2
    flat = label.reshape(3, -1).argmax(dim=1)
    peak = torch.stack([flat % (FEAT + 1), flat // (FEAT + 1)], dim=1).float()
    inside = ((expected >= 0) & (expected <= FEAT)).all(dim=1)
    assert inside.any()
    assert ((peak[inside] - expected[inside]).abs() <= 0.5 + 1e-4).all()
    # The transformer labels are the network's own Gaussian (sigma factor 0.1).
    torch.testing.assert_close(out["template_label"],
                               gaussian_train_label(out["template_anno"], (FEAT, FEAT), (OUT, OUT), 4, 0.1))
    # Without the end pad the label function is the same Gaussian (sigma factor relative to the map).
    torch.testing.assert_close(gaussian_label_function(out["template_anno"], 0.1, 4, FEAT, OUT, end_pad_if_even=False),
                               out["template_label"])


def test_flip_moves_boxes_with_pixels():
    base = dict(template_center_jitter=0.0, search_center_jitter=0.0, template_scale_jitter=0.0,
                search_scale_jitter=0.0, brightness_jitter=0.0)
    plain = _processing(flip_prob=0.0, **base)(_raw_item(2))
    flipped = _processing(flip_prob=1.0, **base)(_raw_item(2))
    torch.testing.assert_close(flipped["search_images"], plain["search_images"].flip(-1))
    expected = plain["search_anno"].clone()
    expected[:, 0] = OUT - expected[:, 0] - expected[:, 2]
    torch.testing.assert_close(flipped["search_anno"], expected)


def test_empty_box_marks_sample_invalid():
    item = _raw_item(0)
    item["search_anno"] = [torch.tensor([5.0, 5.0, 0.0, 10.0])] + list(item["search_anno"][1:])
    assert _processing()(item)["valid"] is False


def test_sample_region_inside_major():
    wh = np.array([[100.0, 50.0]])
    # Fits: only shifted inside.
    c, s = sample_region(np.array([[10.0, 25.0]]), np.array([40.0]), wh)
    np.testing.assert_allclose(s, [40.0])
    np.testing.assert_allclose(c, [[20.0, 25.0]])
    # Larger than the short side only: no shrink, centred on the image vertically.
    c, s = sample_region(np.array([[90.0, 10.0]]), np.array([60.0]), wh)
    np.testing.assert_allclose(s, [60.0])
    np.testing.assert_allclose(c, [[70.0, 25.0]])
    # Larger than both sides: shrunk (at most 1.5x) towards the long side.
    c, s = sample_region(np.array([[50.0, 25.0]]), np.array([120.0]), wh)
    np.testing.assert_allclose(s, [100.0])
    c, s = sample_region(np.array([[50.0, 25.0]]), np.array([300.0]), wh)
    np.testing.assert_allclose(s, [200.0])


def test_sample_box_gmm_densities():
    rng = np.random.default_rng(0)
    box = np.array([10.0, 20.0, 40.0, 20.0])
    sigma = OFFICIAL_PROPOSAL_PARAMS["proposal_sigma"]
    proposals, q, p = sample_box_gmm(box, sigma, (0.05, 0.05), 4000, rng)
    assert proposals.shape == (4000, 4) and (proposals[:, 2:] > 0).all()
    # Recover the relative offsets and recompute both densities by hand.
    centre = proposals[:, :2] + proposals[:, 2:] / 2
    off = np.concatenate([(centre - (box[:2] + box[2:] / 2)) / box[2:], np.log(proposals[:, 2:] / box[2:])], axis=1)

    def normal(x, s):
        return np.exp(-0.5 * (x / s) ** 2) / (math.sqrt(2 * math.pi) * s)

    q_ref = np.mean([np.prod(normal(off, np.array([c, c, z, z])), axis=1) for c, z in sigma], axis=0)
    np.testing.assert_allclose(q, q_ref, rtol=1e-6)
    np.testing.assert_allclose(p, np.prod(normal(off, np.array([0.05] * 4)), axis=1), rtol=1e-6)
    # Half the samples come from the narrow component: the median proposal is close to the box.
    assert np.median(np.abs(off[:, 0])) < 0.2


# ----------------------------------------------------------------------------- losses
def test_lb_hinge():
    label = torch.tensor([[0.0, 0.01, 0.5, 1.0]])
    # Background cells (label < 0.05) with negative scores cost nothing; positives regress to the label.
    assert float(lb_hinge(torch.tensor([[-3.0, -1.0, 0.5, 1.0]]), label, 0.05)) == 0.0
    loss = lb_hinge(torch.tensor([[2.0, -1.0, 0.0, 1.0]]), label, 0.05)
    assert math.isclose(float(loss), (4.0 + 0.25) / 4, rel_tol=1e-6)
    assert float(LBHinge()(torch.tensor([[-1.0]]), torch.tensor([[0.0]]))) == 1.0   # no threshold: plain MSE


def test_kl_regression_matches_formula_and_is_minimised_by_the_label_density():
    torch.manual_seed(0)
    scores = torch.randn(5, 64)
    q = torch.rand(5, 64) + 0.1
    p = torch.rand(5, 64)
    ref = (torch.log(torch.mean(torch.exp(scores) / q, dim=1)) - torch.mean(scores * p / q, dim=1)).mean()
    torch.testing.assert_close(kl_regression(scores, q, p), ref)
    torch.testing.assert_close(KLRegression()(scores, q, p), ref)
    # Scores equal to log(label density) beat a flat prediction.
    rng = np.random.default_rng(1)
    _, qd, pd = sample_box_gmm(np.array([0.0, 0.0, 10.0, 10.0]), OFFICIAL_PROPOSAL_PARAMS["proposal_sigma"],
                               (0.05, 0.05), 512, rng)
    qd, pd = torch.from_numpy(qd), torch.from_numpy(pd)
    assert float(kl_regression(torch.log(pd + 1e-12)[None], qd[None], pd[None])) < \
        float(kl_regression(torch.zeros(1, 512, dtype=qd.dtype), qd[None], pd[None]))


# ----------------------------------------------------------------------------- actor
def test_actor_loss_is_finite_with_gradients():
    torch.manual_seed(0)
    net = build_trdimp("tiny").train()
    batch = stack_dimp_batch([_sampler(_processing(), n=2)[i] for i in range(2)])
    actor = TrDiMPActor(net)
    loss, stats = actor(batch)
    assert torch.isfinite(loss)
    loss.backward()
    for prefix in ("feature_extractor.layer3", "classifier.filter_initializer", "classifier.filter_optimizer",
                   "classifier.feature_extractor", "classifier.transformer", "bb_regressor"):
        grads = [p.grad for n, p in net.named_parameters() if n.startswith(prefix) and p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads), prefix
    assert stats["frames_grad"] == 6.0
    w = OFFICIAL_LOSS_WEIGHT
    total = (w["bb_ce"] * stats["Loss/bb_ce"] + stats["Loss/target_clf"] + stats["Loss/test_init_clf"]
             + stats["Loss/test_iter_clf"])
    assert math.isclose(total, stats["Loss/total"], rel_tol=1e-5)
    assert math.isclose(stats["Loss/test_init_clf"], 100 * stats["ClfTrain/test_init_loss"], rel_tol=1e-5)


def test_param_groups_cover_each_trainable_parameter_once():
    from ltr.train_settings.trdimp.common import param_groups
    from ltr.train_settings.trdimp.tiny import TINY_FLT_LR

    net = build_trdimp("tiny")
    groups = param_groups(net, TINY_FLT_LR, ("conv1", "bn1", "layer1", "layer2", "layer3"))
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in net.parameters() if p.requires_grad}
    torch.optim.Adam(groups)   # accepts the groups (no parameter twice)
    only_layer3 = param_groups(net, {"backbone": 1.0}, ("layer3",))
    assert {id(p) for p in only_layer3[0]["params"]} == {id(p) for p in net.feature_extractor.layer3.parameters()}
    with pytest.raises(ValueError, match="Unknown learning-rate groups"):
        param_groups(net, {"head": 1.0}, ())


def test_paper_settings_use_the_reference_numbers():
    from ltr.train_settings.trdimp import slt, trdimp

    s = Settings()
    trdimp.configure(s)
    assert (s.batch_size, s.epochs, s.lr_step, s.lr_gamma, s.max_gap) == (40, 50, 15, 0.2, 500)
    assert s.iterations_per_epoch * s.batch_size == 50000
    assert (s.num_template_frames, s.num_search_frames) == (3, 3)
    assert (s.template_center_jitter, s.search_center_jitter, s.template_scale_jitter, s.search_scale_jitter) == \
        (3.0, 5.5, 0.25, 0.5)
    assert s.loss_weight == {"bb_ce": 0.01, "test_clf": 100.0, "test_init_clf": 100.0, "test_iter_clf": 400.0}
    assert s.lr_groups["transformer"] == 1e-3 and s.lr_groups["backbone"] == 2e-5 and s.backbone_layers == ("layer3",)
    s = Settings(epochs=3)
    slt.configure(s)
    assert s.epochs == 3   # command-line overrides win
    assert (s.episodes_per_batch, s.num_frames, s.replay_chunk, s.grad_clip) == (8, 24, 4, 40.0)
    assert (s.scst_weight, s.box_weight, s.max_gap, s.max_interval, s.interval_prob) == (4.0, 0.01, 300, 10, 0.3)
    assert (s.lr_step, s.lr_gamma, s.iterations_per_epoch) == (8, 0.5, 625)


# ----------------------------------------------------------------------------- end to end
def _run_training(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SLT_WORKSPACE_DIR=str(workspace), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(REPO / "ltr" / "run_training.py"), "trdimp", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def flt_checkpoint(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("trdimp_ws")
    result = _run_training(workspace, "tiny", "--epochs", "1", "--iterations-per-epoch", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[trdimp/tiny] epoch 1 done" in result.stdout
    path = workspace / "checkpoints" / "trdimp" / "tiny" / "latest.pth"
    assert path.is_file()
    return workspace, path


def test_tiny_flt_end_to_end(flt_checkpoint):
    from ltr.models.registry import load_network

    _, path = flt_checkpoint
    net, meta = load_network(str(path), tracker="trdimp")
    assert meta["size"] == "tiny" and meta["epoch"] == 1
    assert net.config.name == "tiny"


def test_tiny_slt_end_to_end(flt_checkpoint):
    workspace, path = flt_checkpoint
    result = _run_training(workspace, "slt_tiny", "--checkpoint", str(path), "--epochs", "1",
                           "--iterations-per-epoch", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[trdimp/slt_tiny] epoch 1 done" in result.stdout
    assert "reward/sample" in result.stdout
    assert (workspace / "checkpoints" / "trdimp" / "slt_tiny" / "latest.pth").is_file()


def test_slt_without_checkpoint_explains_the_fix(tmp_path):
    result = _run_training(tmp_path, "slt_tiny", "--epochs", "1")
    assert result.returncode != 0
    assert "--checkpoint" in (result.stderr + result.stdout)
