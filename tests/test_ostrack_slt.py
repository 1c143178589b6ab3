"""OSTrack on the SLT seam: the argmax rollout is the test-time tracker (also as run_tracker.py
writes it); sampling follows the policy over the windowed cells; replay has gradients, uses the
test-time keep rate and reproduces the explore-time log-probabilities."""

import numpy as np
import pytest
import torch

from ltr.dataset.synthetic import SyntheticConfig, generate_video
from ltr.models.registry import build_network
from ltr.models.tracking.ostrack import OSTrackConfig
from pytracking.tracker.ostrack.core import OSTrackCore
from pytracking.tracker.ostrack.ostrack import OSTrack
from pytracking.tracker.ostrack.slt_adapter import LOSS_TABLE, OSTrackSLTAdapter
from pytracking.utils.params import TrackerParams
from slt_plugins.adapter import ReplayRecords, stack_records
from slt_plugins.policy import LogitSoftmaxPolicy
from slt_plugins.registry import get
from tests.slt_arms import check_argmax_rollout_matches_run_tracker, check_arm_terms, sampled_records


def _videos(n, frames=6, seed=0):
    cfg = SyntheticConfig(num_frames=frames)
    return [generate_video(seed + i, cfg) for i in range(n)]


def _boxes(videos, t):
    return torch.tensor(np.stack([v.boxes[t] for v in videos]))


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = build_network("ostrack", "tiny").eval()
    # A random head predicts boxes of half the search crop, so the region grows every frame; small
    # sizes keep the tracker near the target as a trained one is, and spread scores keep the
    # argmax well defined.
    with torch.no_grad():
        model.box_head.conv5_size.bias.fill_(-2.0)
        model.box_head.conv5_ctr.weight.mul_(20.0)
    return model


def _adapter(net, **kwargs):
    return OSTrackSLTAdapter(OSTrackCore(net, OSTrackConfig.tiny()), **kwargs)


def _tracker_boxes(net, video):
    tracker = OSTrack(TrackerParams(model_size="tiny"), core=OSTrackCore(net, OSTrackConfig.tiny()))
    tracker.initialize(video.frames[0], {"init_bbox": video.boxes[0].tolist()})
    return torch.tensor([tracker.track(video.frames[t])["target_bbox"] for t in range(1, len(video.frames))])


def test_registered_with_its_policy_and_loss_table(net):
    assert get("adapter", "ostrack") is OSTrackSLTAdapter
    adapter = _adapter(net)
    assert (adapter.policy.temperature, adapter.policy.eps, adapter.policy.squash) == (4.0, 0.01, "affine")
    assert adapter.loss_weights() == {"scst": 15.0, "l1": 5.0, "giou": 2.0}
    adapter.scst_weight = 0.0
    assert adapter.loss_weights() == {"focal": 1.0, "l1": 5.0, "giou": 2.0}   # +SS: the full FLT loss
    assert adapter.loss_table is LOSS_TABLE


def test_batched_argmax_rollout_equals_test_time_tracker(net):
    videos = _videos(3)
    adapter = _adapter(net)
    with torch.no_grad():
        adapter.initialize([v.frames[0] for v in videos], _boxes(videos, 0))
        boxes = []
        for t in range(1, videos[0].num_frames):
            out = adapter.step([v.frames[t] for v in videos], torch.zeros(3, dtype=torch.bool), None, _boxes(videos, t))
            assert torch.equal(out.actions, out.greedy_actions)
            boxes.append(out.boxes_xywh)
    batched = torch.stack(boxes, dim=1)
    for i, video in enumerate(videos):
        torch.testing.assert_close(batched[i], _tracker_boxes(net, video).float(), atol=1e-3, rtol=0)


def test_argmax_rollout_equals_run_tracker_result_files(net, tmp_path):
    """The adapter's argmax rollout reproduces what `run_tracker.py ostrack tiny` writes, frame for frame."""
    check_argmax_rollout_matches_run_tracker("ostrack", net, lambda: _adapter(net), tmp_path)


def test_sampling_trackers_follow_the_policy_and_replay_has_gradients(net):
    videos = _videos(2, frames=5, seed=10)
    adapter = _adapter(net, policy=LogitSoftmaxPolicy(1.0, 0.01))
    mask = torch.tensor([False, True])
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        init = adapter.initialize([v.frames[0] for v in videos], _boxes(videos, 0))
        records, differs = [], 0
        for t in range(1, 5):
            out = adapter.step([v.frames[t] for v in videos], mask, gen, _boxes(videos, t))
            assert out.actions[0] == out.greedy_actions[0]
            differs += int(out.actions[1] != out.greedy_actions[1])
            records.append({k: v[1:] for k, v in out.record.items()})
    assert differs > 0  # temperature 1 over 256 cells practically never picks the argmax
    assert set(records[0]) == {"search", "action", "gt_crop"}  # the window is the only constant
    rec = ReplayRecords(init={k: v[1:] for k, v in init.items()}, steps=stack_records(records),
                        visible=torch.tensor([[True, True, False, True]]))
    # Replay runs candidate elimination at the test-time keep rate, whatever the FLT schedule says.
    outputs = adapter.replay_module(rec.init["template"], rec.steps["search"].flatten(0, 1), 4)
    assert int(outputs["removed"]) == 256 - 126
    net.zero_grad()
    loss = adapter.replay_loss(rec, torch.tensor([0.5]))
    assert torch.isfinite(loss.total) and "box/iou" in loss.stats
    loss.total.backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    net.zero_grad()


def test_replayed_log_probs_equal_explore_log_probs(net):
    video = _videos(1, frames=4, seed=20)[0]
    adapter = _adapter(net, box_weight=0.0)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        init = adapter.initialize([video.frames[0]], torch.tensor(video.boxes[:1]))
        outs = [adapter.step([video.frames[t]], torch.tensor([True]), gen, torch.tensor(video.boxes[t:t + 1]))
                for t in range(1, 4)]
    rec = ReplayRecords(init=init, steps=stack_records([o.record for o in outs]),
                        visible=torch.ones(1, 3, dtype=torch.bool))
    explore_logp = torch.stack([o.log_prob for o in outs], dim=1)
    loss = adapter.replay_loss(rec, torch.tensor([1.0]))
    torch.testing.assert_close(loss.scst, -explore_logp.mean(), atol=1e-4, rtol=1e-4)


def test_frame_terms_skip_invisible_frames(net):
    adapter = _adapter(net)
    torch.manual_seed(1)
    outputs = {"score_map": torch.rand(3, 1, 16, 16).clamp(1e-4, 1 - 1e-4),
               "pred_boxes": torch.rand(3, 4) * 0.5 + 0.25}
    gt = torch.tensor([[40.0, 50.0, 30.0, 20.0], [10.0, 10.0, 60.0, 60.0], [0.0, 0.0, 0.0, 0.0]])
    names = ("focal", "l1", "giou")
    only_first, _ = adapter.frame_terms({k: v[:1] for k, v in outputs.items()}, gt[:1], torch.tensor([True]), names)
    masked, _ = adapter.frame_terms(outputs, gt, torch.tensor([True, False, True]), names)  # 2nd hidden, 3rd empty
    for name in names:
        torch.testing.assert_close(masked[name], only_first[name])
    none, _ = adapter.frame_terms(outputs, gt, torch.zeros(3, dtype=torch.bool), names)
    assert all(float(v) == 0.0 for v in none.values())


def test_each_arm_computes_the_terms_of_the_loss_table(net):
    """+SS trains the centre branch through the focal loss; +SS+SO replaces it by SCST (no gradient
    to the centre branch without an advantage; L1 and GIoU train size and offset); 'add' keeps focal."""
    adapter = _adapter(net)
    records = sampled_records(adapter, _videos(2, frames=4, seed=40))
    check_arm_terms(adapter, records, lambda name: name.startswith("box_head.") and name.split(".")[1].endswith("_ctr"))
