"""SiamAttn frame-level training: RoI sampling, refine and mask targets, the mask path from datasets
with masks, the schedule and the staged backbone, the settings' recipes."""
import math

import numpy as np
import pytest
import torch

from ltr.actors.siamattn_actor import SiamAttnActor, flt_weights
from ltr.admin.settings import Settings
from ltr.data.processing import SiameseProcessing, crop_mask, stack_siamese_batch
from ltr.data.sampler import FrameLevelSampler
from ltr.models.loss.siamattn_loss import mask_loss_bce, mask_targets, refine_targets, sample_refine_rois
from ltr.models.registry import build_network
from ltr.models.siamese.anchor_target import AnchorTarget
from ltr.models.siamese.anchors import box_iou_xyxy
from ltr.models.tracking.siamattn import SiamAttnConfig
from ltr.train_settings.siamattn import common as siamattn_common
from tests.doubles.masked_dataset import MaskedRectangles


def test_refine_rois_are_foreground_and_include_the_ground_truth():
    cfg = SiamAttnConfig.tiny()
    anchors = AnchorTarget(cfg).anchors
    gt = torch.tensor([[40.0, 50.0, 80.0, 90.0], [20.0, 30.0, 70.0, 60.0]])
    gen = torch.Generator().manual_seed(0)
    loc = torch.randn(2, 4 * cfg.anchor_num, cfg.score_size, cfg.score_size, generator=gen) * 0.1
    rois, targets = sample_refine_rois(loc, anchors, gt, 16, 0.5, generator=gen)
    assert rois.shape == (32, 5) and targets.shape == (32, 4)
    assert torch.equal(rois[:16, 0], torch.zeros(16)) and torch.equal(rois[16:, 0], torch.ones(16))
    iou = box_iou_xyxy(rois[:, 1:], gt.repeat_interleave(16, dim=0))
    assert (iou >= 0.5 - 1e-6).all()
    # Far-off proposals only: the ground truth is the single foreground box, repeated.
    far = torch.zeros_like(loc)
    far[:, 2 * cfg.anchor_num:] = -8.0   # tiny widths and heights
    rois, targets = sample_refine_rois(far, anchors, gt, 16, 0.5, generator=gen)
    torch.testing.assert_close(rois[:16, 1:], gt[:1].expand(16, 4))
    torch.testing.assert_close(targets, torch.zeros_like(targets))


def test_refine_targets_are_normalised_faster_rcnn_deltas():
    roi = torch.tensor([[10.0, 20.0, 50.0, 40.0]])     # centre (30, 30), 40 x 20
    gt = torch.tensor([[14.0, 22.0, 54.0, 62.0]])      # centre (34, 42), 40 x 40
    expected = torch.tensor([[4 / 40 / 0.1, 12 / 20 / 0.1, 0.0, math.log(2.0) / 0.2]])
    torch.testing.assert_close(refine_targets(roi, gt), expected)


def test_mask_targets_crop_the_integer_roi_and_resize_nearest():
    masks = torch.zeros(2, 20, 20)
    masks[1, 5:10, 5:15] = 1.0
    rois = torch.tensor([[1.0, 5.2, 5.9, 14.7, 9.0], [0.0, 0.0, 0.0, 19.0, 19.0]])
    out = mask_targets(masks, rois, 8)
    assert out.shape == (2, 8, 8)
    assert torch.equal(out[0], torch.ones(8, 8))   # [5:10, 5:15] exactly covers the rectangle
    assert torch.equal(out[1], torch.zeros(8, 8))


def test_mask_loss_keeps_the_hardest_pixels_of_masked_rois_only():
    logits = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    targets = (torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    weight = torch.tensor([1.0, 0.0, 1.0])
    pixel = torch.nn.functional.binary_cross_entropy_with_logits(logits[[0, 2]].flatten(), targets[[0, 2]].flatten(),
                                                                 reduction="none")
    expected = pixel.sort(descending=True).values[:int(0.7 * 32)].mean()
    torch.testing.assert_close(mask_loss_bce(logits, targets, weight, 0.7), expected)
    assert float(mask_loss_bce(logits, targets, torch.zeros(3))) == 0.0


def test_crop_mask_follows_the_crop_geometry():
    mask = np.zeros((100, 100), dtype=np.uint8)
    mask[40:60, 30:50] = 1
    crop = crop_mask(mask, np.array([40.0, 50.0]), 40.0, 80)   # 2x zoom of [20, 60) x [30, 70)
    assert crop.shape == (80, 80)
    assert crop[25:55, 25:55].min() > 0.99 and crop[:, :15].max() == 0.0
    rows, cols = np.nonzero(crop > 0.5)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 59, 20, 59)


def _mask_batch(datasets, n=6, seed=0):
    cfg = SiamAttnConfig.tiny()
    processing = SiameseProcessing(cfg.exemplar_size, cfg.instance_size, template_shift=0.0, template_scale=0.0,
                                   search_shift=0.1, search_scale=0.1, blur_prob=0.0)
    sampler = FrameLevelSampler(datasets, [1] * len(datasets), samples_per_epoch=n, max_gap=5, processing=processing,
                                seed=seed, return_masks=True)
    samples = [sampler[i] for i in range(n)]
    return samples, stack_siamese_batch(samples)


def test_datasets_with_masks_feed_the_mask_loss_sample_by_sample():
    masked, plain = MaskedRectangles(with_masks=True, seed=1), MaskedRectangles("plain", with_masks=False, seed=2)
    samples, batch = _mask_batch([masked, plain], n=8)
    from_masked = torch.tensor([s["dataset"] == "masked_rectangles" for s in samples], dtype=torch.float32)
    assert 0 < from_masked.sum() < 8
    assert torch.equal(batch["mask_weight"], from_masked)   # one weight per sample, no shifting
    for s in samples:
        if s["mask_weight"] > 0:   # the warped mask fills the warped box
            x, y, w, h = s["search_box"].tolist()
            inner = s["search_mask"][int(y) + 2:int(y + h) - 2, int(x) + 2:int(x + w) - 2]
            assert inner.min() > 0.99 and float(s["search_mask"].sum()) == pytest.approx(w * h, rel=0.15)
        else:
            assert float(s["search_mask"].abs().sum()) == 0.0
    torch.manual_seed(0)
    net = build_network("siamattn", "tiny")
    loss, stats = SiamAttnActor(net, net.cfg)(batch)
    loss.backward()
    assert stats["Loss/mask"] > 0 and stats["mask_frames"] == float(from_masked.sum())
    assert all(math.isfinite(stats[f"Loss/{k}"]) for k in ("cls", "loc", "refine", "mask"))
    assert float(net.mask_head.conv_logits.weight.grad.abs().sum()) > 0
    assert float(net.refine_head.tail_det_box.weight.grad.abs().sum()) > 0

    # Without masks in the batch the mask head gets no gradient at all.
    _, batch = _mask_batch([plain], n=4)
    net.zero_grad(set_to_none=True)
    loss, stats = SiamAttnActor(net, net.cfg)(batch)
    loss.backward()
    assert stats["Loss/mask"] == 0.0
    grad = net.mask_head.conv_logits.weight.grad
    assert grad is None or float(grad.abs().sum()) == 0.0


def test_official_loss_weights_and_schedule():
    assert flt_weights(SiamAttnConfig.paper()) == {"cls": 1.0, "loc": 0.5, "refine": 0.5, "mask": 0.2}
    factor = siamattn_common.schedule_factor
    # pysot's lr space x base_lr / 0.005 with base lr 0.01: 0.002 -> 0.01 at epoch 5 -> 0.001 at epoch 19
    lrs = [0.01 * factor(e, 20, "pysot", 0.1) for e in range(20)]
    assert lrs[0] == pytest.approx(0.002) and lrs[5] == pytest.approx(0.01) and lrs[19] == pytest.approx(0.001)
    assert all(a < b for a, b in zip(lrs[:5], lrs[1:6])) and all(a > b for a, b in zip(lrs[5:], lrs[6:]))
    assert factor(0, 20, "log", 0.1) == 1.0 and factor(19, 20, "log", 0.1) == pytest.approx(0.1)


def _configured(name, **values):
    import importlib
    settings = Settings(project_path=f"siamattn/{name}")
    importlib.import_module(f"ltr.train_settings.siamattn.{name}").configure(settings)
    for key, value in values.items():
        setattr(settings, key, value)
    return settings


def test_paper_settings_follow_the_official_recipes():
    flt = _configured("siamattn")
    assert (flt.optimizer, flt.lr, flt.schedule, flt.epochs, flt.batch_size, flt.grad_clip) == ("sgd", 0.01, "pysot",
                                                                                               20, 56, 10.0)
    assert (flt.backbone_train_epoch, flt.backbone_train_layers, flt.backbone_lr_factor) == (
        10, ("layer2", "layer3", "layer4"), 0.05)
    slt = _configured("slt")
    assert (slt.episodes_per_batch, slt.num_frames, slt.temperature, slt.eps) == (12, 24, 8.0, 0.01)
    assert (slt.max_interval, slt.interval_prob, slt.lr, slt.grad_clip, slt.network_mode) == (7, 0.5, 1e-5, 10.0, "eval")
    assert (slt.schedule, slt.final_lr_factor, slt.backbone_lr_factor) == ("log", 0.1, 0.05)
    assert _configured("got10k").use_masks is False


def test_staged_backbone_and_parameter_groups():
    torch.manual_seed(0)
    net = build_network("siamattn", "tiny")
    settings = _configured("tiny", backbone_train_layers=("layer3", "layer4"), backbone_lr_factor=0.1, lr=1e-3)
    optimizer, _ = siamattn_common.build_optimizer(net, settings, "sgd")
    heads, backbone = optimizer.param_groups
    assert backbone["lr"] == pytest.approx(1e-4) and heads["lr"] == pytest.approx(1e-3)
    ids = {id(p) for p in backbone["params"]}
    assert ids == {id(p) for m in (net.backbone.layer3, net.backbone.layer4) for p in m.parameters()}
    net.train()
    siamattn_common.set_backbone_training(net, settings.backbone_train_layers, False)
    assert not any(p.requires_grad for p in net.backbone.parameters()) and not net.backbone.training
    siamattn_common.set_backbone_training(net, settings.backbone_train_layers, True)
    assert all(p.requires_grad for p in net.backbone.layer3.parameters()) and net.backbone.layer4.training
    assert not any(p.requires_grad for p in net.backbone.layer1.parameters()) and not net.backbone.layer1.training
    assert all(p.requires_grad for p in net.rpn_head.parameters())


def test_flt_trainer_unfreezes_the_backbone_at_its_epoch_and_resets_momentum_once():
    torch.manual_seed(0)
    net = build_network("siamattn", "tiny")
    settings = _configured("tiny", backbone_train_epoch=2, backbone_train_layers=("layer4",))
    optimizer, _ = siamattn_common.build_optimizer(net, settings, "sgd")
    trainer = object.__new__(siamattn_common.SiamAttnFLTTrainer)   # the hook only, without data
    trainer.net, trainer.settings, trainer.optimizer = net, settings, optimizer
    net.train()
    for epoch, iteration, trains, keeps_state in ((0, 0, False, True), (2, 5, True, True), (2, 0, True, False),
                                                  (3, 0, True, True)):
        optimizer.state[net.rpn_head.cls_weight] = {"momentum_buffer": torch.ones(3)}
        trainer.epoch, trainer.iteration_in_epoch = epoch, iteration
        trainer.on_epoch_start()
        assert all(p.requires_grad == trains for p in net.backbone.layer4.parameters())
        assert not any(p.requires_grad for p in net.backbone.layer3.parameters())
        assert (len(optimizer.state) > 0) == keeps_state, (epoch, iteration)
