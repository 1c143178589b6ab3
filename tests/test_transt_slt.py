"""TransT on the SLT seam: the argmax rollout is the test-time tracker; replay has gradients."""
import numpy as np
import pytest
import torch

from ltr.dataset.synthetic import SyntheticConfig, generate_video
from ltr.models.registry import build_network
from ltr.models.tracking.transt import TransTConfig
from pytracking.tracker.transt.core import TransTCore
from pytracking.tracker.transt.slt_adapter import LOSS_TABLE, TransTSLTAdapter
from pytracking.tracker.transt.transt import TransT
from pytracking.utils.params import TrackerParams
from slt_plugins.adapter import ReplayRecords, stack_records
from slt_plugins.policy import LogitSoftmaxPolicy
from slt_plugins.registry import get
from tests.slt_arms import check_arm_terms, sampled_records


def _videos(n, frames=6, seed=0):
    cfg = SyntheticConfig(num_frames=frames)
    return [generate_video(seed + i, cfg) for i in range(n)]


def _boxes(videos, t):
    return torch.tensor(np.stack([v.boxes[t] for v in videos]))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_network("transt", "tiny").eval()


def _adapter(net, **kwargs):
    return TransTSLTAdapter(TransTCore(net, TransTConfig.tiny()), **kwargs)


def _tracker_boxes(net, video):
    tracker = TransT(TrackerParams(model_size="tiny"), core=TransTCore(net, TransTConfig.tiny()))
    frames = video.frames
    tracker.initialize(frames[0], {"init_bbox": video.boxes[0].tolist()})
    return torch.tensor([tracker.track(frames[t])["target_bbox"] for t in range(1, len(frames))])


def test_registered_with_the_official_policy(net):
    assert get("adapter", "transt") is TransTSLTAdapter
    adapter = _adapter(net)
    assert isinstance(adapter.policy, LogitSoftmaxPolicy)
    assert (adapter.policy.temperature, adapter.policy.eps, adapter.policy.squash) == (4.0, 0.01, "affine")
    assert adapter.scst_weight == 15.0 and adapter.so_mode == "replace"
    # official SLT-TransT: 15 SCST + 5 L1 + 2 GIoU, the cross-entropy replaced by SCST
    assert adapter.loss_weights() == {"scst": 15.0, "l1": 5.0, "giou": 2.0}
    assert adapter.loss_table is LOSS_TABLE


def test_batched_argmax_rollout_equals_test_time_tracker(net):
    videos = _videos(3)
    adapter = _adapter(net)
    frames = [v.frames for v in videos]
    with torch.no_grad():
        adapter.initialize([f[0] for f in frames], _boxes(videos, 0))
        boxes = []
        for t in range(1, videos[0].num_frames):
            out = adapter.step([f[t] for f in frames], torch.zeros(3, dtype=torch.bool), None, _boxes(videos, t))
            assert torch.equal(out.actions, out.greedy_actions)
            boxes.append(out.boxes_xywh)
    batched = torch.stack(boxes, dim=1)
    for i, video in enumerate(videos):
        torch.testing.assert_close(batched[i], _tracker_boxes(net, video).float(), atol=1e-3, rtol=0)


def test_sampling_trackers_follow_the_policy_and_replay_has_gradients(net):
    videos = _videos(2, frames=5, seed=10)
    adapter = _adapter(net, policy=LogitSoftmaxPolicy(1.0, 0.01))
    frames = [v.frames for v in videos]
    mask = torch.tensor([False, True])
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        init = adapter.initialize([f[0] for f in frames], _boxes(videos, 0))
        records, differs = [], 0
        for t in range(1, 5):
            out = adapter.step([f[t] for f in frames], mask, gen, _boxes(videos, t))
            assert out.actions[0] == out.greedy_actions[0]
            differs += int(out.actions[1] != out.greedy_actions[1])
            assert out.record["gt_crop"].shape == (2, 4)
            records.append({k: v[1:] for k, v in out.record.items()})
    assert differs > 0  # temperature 1 over 256 candidates practically never picks the argmax
    assert set(records[0]) == {"search", "action", "gt_crop"}  # no state-dependent constants
    visible = torch.tensor([[True, True, False, True]])
    rec = ReplayRecords(init={k: v[1:] for k, v in init.items()}, steps=stack_records(records), visible=visible)
    net.zero_grad()
    loss = adapter.replay_loss(rec, torch.tensor([0.5]))
    assert torch.isfinite(loss.total) and torch.isfinite(loss.box)
    assert loss.stats["box/num_pos"] > 0
    loss.total.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    net.zero_grad()


def test_frame_terms_skip_invisible_frames(net):
    adapter = _adapter(net)
    torch.manual_seed(1)
    outputs = {"pred_logits": torch.randn(3, 256, 2), "pred_boxes": torch.rand(3, 256, 4) * 0.5 + 0.25}
    gt = torch.tensor([[40.0, 50.0, 30.0, 20.0], [10.0, 10.0, 60.0, 60.0], [0.0, 0.0, 0.0, 0.0]])
    names = ("ce", "l1", "giou")
    only_first, _ = adapter.frame_terms({k: v[:1] for k, v in outputs.items()}, gt[:1], torch.tensor([True]), names)
    masked, _ = adapter.frame_terms(outputs, gt, torch.tensor([True, False, True]), names)  # 2nd hidden, 3rd empty
    for name in names:
        torch.testing.assert_close(masked[name], only_first[name])
    none, _ = adapter.frame_terms(outputs, gt, torch.zeros(3, dtype=torch.bool), names)
    assert all(float(v) == 0.0 for v in none.values())


def test_each_arm_computes_the_terms_of_the_loss_table(net):
    """+SS trains the class head through cross-entropy; +SS+SO replaces it by SCST (no class-head
    gradient without an advantage, L1 and GIoU train the box head); 'add' keeps the cross-entropy."""
    adapter = _adapter(net)
    records = sampled_records(adapter, _videos(2, frames=4, seed=40))
    check_arm_terms(adapter, records, lambda name: name.startswith("class_embed."))


def test_bad_so_mode_is_refused(net):
    with pytest.raises(ValueError, match="'replace', 'add'"):
        _adapter(net, so_mode="drop")


def test_replayed_log_probs_equal_explore_log_probs(net):
    videos = _videos(1, frames=4, seed=20)
    adapter = _adapter(net, box_weight=0.0)
    frames = videos[0].frames
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        init = adapter.initialize([frames[0]], torch.tensor(videos[0].boxes[:1]))
        outs = [adapter.step([frames[t]], torch.tensor([True]), gen, torch.tensor(videos[0].boxes[t:t + 1]))
                for t in range(1, 4)]
    rec = ReplayRecords(init=init, steps=stack_records([o.record for o in outs]),
                        visible=torch.ones(1, 3, dtype=torch.bool))
    explore_logp = torch.stack([o.log_prob for o in outs], dim=1)
    loss = adapter.replay_loss(rec, torch.tensor([1.0]))
    # scst (mean reduction, advantage 1) = -mean log p: equal to the explore-time log-probabilities
    torch.testing.assert_close(loss.scst, -explore_logp.mean(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(loss.stats["logp/mean"]), explore_logp.mean(), atol=1e-4, rtol=1e-4)
