"""TrDiMP on the SLT seam: argmax rollouts are the test-time tracker; replay has gradients."""
import numpy as np
import pytest
import torch

from ltr.dataset.synthetic import SyntheticConfig, generate_video
from ltr.models.registry import build_network
from pytracking.parameter.trdimp.tiny import parameters as tiny_parameters
from ltr.models.loss.trdimp_loss import kl_regression
from pytracking.tracker.trdimp.slt_adapter import LOSS_TABLE, TrDiMPSLTAdapter, sample_box_gmm, slt_explore_parameters
from pytracking.tracker.trdimp.trdimp import TrDiMP, build_core
from slt_plugins.actor import SLTActor
from slt_plugins.adapter import ReplayRecords, stack_records
from slt_plugins.policy import SoftmaxPolicy
from slt_plugins.registry import get
from slt_plugins.sampler import Episode
from tests.slt_arms import check_arm_terms, sampled_records


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_network("trdimp", "tiny").eval()


def _test_time_params():
    params = tiny_parameters()
    # random weights stay below the official not-found threshold; see test_trdimp_tracker
    params.update(target_not_found_threshold=0.1, train_skipping=3)
    return params


def _videos(n, frames, seed=0):
    return [generate_video(seed + i, SyntheticConfig(num_frames=frames)) for i in range(n)]


def _tracker_boxes(net, params, video):
    tracker = TrDiMP(params, core=build_core(params, net))
    tracker.initialize(video.frames[0], {"init_bbox": video.boxes[0].tolist()})
    return torch.tensor([tracker.track(video.frames[t])["target_bbox"] for t in range(1, video.num_frames)],
                        dtype=torch.float32)


def _explore(adapter, videos, sample_mask, generator):
    frames = [v.frames for v in videos]
    with torch.no_grad():
        init = adapter.initialize([f[0] for f in frames], torch.tensor(np.stack([v.boxes[0] for v in videos])))
        outs = [adapter.step([f[t] for f in frames], sample_mask, generator,
                             torch.tensor(np.stack([v.boxes[t] for v in videos])))
                for t in range(1, videos[0].num_frames)]
    return init, outs


@pytest.mark.parametrize("official_explore", [False, True])
def test_batched_argmax_rollout_equals_test_time_tracker(net, official_explore):
    videos = _videos(3, frames=8)
    params = _test_time_params()
    adapter = TrDiMPSLTAdapter.from_network(net, params, official_explore=official_explore)
    tracker_params = slt_explore_parameters(params) if official_explore else params
    _, outs = _explore(adapter, videos, torch.zeros(3, dtype=torch.bool), None)
    batched = torch.stack([o.boxes_xywh for o in outs], dim=1)
    for i, video in enumerate(videos):
        torch.testing.assert_close(batched[i], _tracker_boxes(net, tracker_params, video), atol=1e-3, rtol=0)
    for o in outs:
        assert torch.equal(o.actions, o.greedy_actions)


def test_sampling_trackers_differ_and_replay_has_gradients(net):
    videos = _videos(2, frames=6, seed=10)
    # a softer policy than the official one so that a few frames suffice to see a deviation
    adapter = TrDiMPSLTAdapter.from_network(net, _test_time_params(), official_explore=False,
                                            policy=SoftmaxPolicy(0.5, (-7.0, 7.0)))
    mask = torch.tensor([False, True])
    init, outs = _explore(adapter, videos, mask, torch.Generator().manual_seed(0))
    assert all(int(o.actions[0]) == int(o.greedy_actions[0]) for o in outs)
    assert sum(int(o.actions[1] != o.greedy_actions[1]) for o in outs) > 0
    records = ReplayRecords(init={k: v[1:] for k, v in init.items()},
                            steps=stack_records([{k: v[1:] for k, v in o.record.items()} for o in outs]),
                            visible=torch.ones(1, len(outs), dtype=torch.bool))
    net.zero_grad()
    loss = adapter.replay_loss(records, torch.tensor([0.5]))
    assert torch.isfinite(loss.total) and torch.isfinite(loss.box) and float(loss.box) != 0.0
    loss.total.backward()
    grads = {n: p.grad for n, p in net.named_parameters() if p.grad is not None}
    assert grads and all(torch.isfinite(g).all() for g in grads.values())
    # the SCST term reaches the classifier and the transformer, the box loss the IoU-Net
    assert any(n.startswith("classifier.transformer") and g.abs().sum() > 0 for n, g in grads.items())
    assert any(n.startswith("classifier.filter_optimizer") and g.abs().sum() > 0 for n, g in grads.items())
    assert any(n.startswith("bb_regressor") and g.abs().sum() > 0 for n, g in grads.items())
    net.zero_grad()


def test_replayed_log_probs_equal_explore_log_probs(net):
    # Equal by design with the reference explore procedure (no online model update).
    videos = _videos(2, frames=5, seed=20)
    adapter = TrDiMPSLTAdapter.from_network(net, _test_time_params(), official_explore=True, box_weight=0.0)
    mask = torch.tensor([True, True])
    init, outs = _explore(adapter, videos, mask, [torch.Generator().manual_seed(s) for s in (1, 2)])
    records = ReplayRecords(init=init, steps=stack_records([o.record for o in outs]),
                            visible=torch.ones(2, len(outs), dtype=torch.bool))
    with torch.no_grad():
        scores, _ = adapter.replay_scores(records)
        replay_logp = adapter.policy.log_probs(scores).gather(-1, records.steps["action"].unsqueeze(-1)).squeeze(-1)
    explore_logp = torch.stack([o.log_prob for o in outs], dim=1)
    torch.testing.assert_close(replay_logp, explore_logp, atol=1e-4, rtol=1e-4)
    loss = adapter.replay_loss(records, torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(loss.scst, -explore_logp.mean(), atol=1e-4, rtol=1e-4)


def test_actor_explore_batched_equals_sequential_and_replays(net):
    episodes = []
    for v in _videos(2, frames=5, seed=30):
        episodes.append(Episode(template_frame=v.frames[0], template_box_xywh=torch.tensor(v.boxes[0]),
                                frames=list(v.frames[1:]), boxes_xywh=torch.tensor(v.boxes[1:]),
                                visible=torch.ones(4, dtype=torch.bool)))
    adapter = get("adapter", "trdimp").from_network(net, _test_time_params())
    actor = SLTActor(adapter, backward_in_replay=False)
    batched = actor.explore(episodes, torch.Generator().manual_seed(5))
    sequential = actor.explore_sequential(episodes, torch.Generator().manual_seed(5))
    assert torch.equal(batched.actions, sequential.actions)
    torch.testing.assert_close(batched.pred_boxes_xywh, sequential.pred_boxes_xywh, atol=1e-3, rtol=0)
    loss = actor.replay(batched)
    assert torch.isfinite(loss.total) and loss.total.requires_grad


def test_box_proposals_and_kl_loss():
    gen = torch.Generator().manual_seed(0)
    gt = torch.tensor([[30.0, 40.0, 20.0, 10.0], [5.0, 5.0, 50.0, 60.0]])
    proposals, density, gt_density = sample_box_gmm(gt, ((0.05, 0.05), (0.5, 0.5)), (0.05, 0.05), 64, gen)
    assert proposals.shape == (2, 64, 4) and (proposals[..., 2:] > 0).all()
    assert (density > 0).all() and (gt_density >= 0).all()
    # a predictor whose scores follow the label density has a lower loss than a flat one
    good = kl_regression(torch.log(gt_density + 1e-6), density, gt_density)
    flat = kl_regression(torch.zeros_like(density), density, gt_density)
    assert good < flat


@pytest.mark.parametrize("setting", ["slt", "slt_tiny"])
def test_slt_loss_weights_are_the_papers_ratio(setting):
    """Official 4 * SCST + 0.01 * IoU-Net loss == 4 * (SCST + 0.0025 * IoU-Net loss), the paper's weight."""
    import importlib
    from ltr.admin.settings import Settings
    settings = Settings()
    importlib.import_module(f"ltr.train_settings.trdimp.{setting}").configure(settings)
    assert settings.box_weight / settings.scst_weight == pytest.approx(0.0025)


def test_each_arm_computes_the_terms_of_the_loss_table(net):
    """+SS trains the target classifier through its hinge losses; +SS+SO replaces them by SCST (no
    classifier gradient without an advantage, the IoU-Net loss stays); 'add' keeps the hinge losses."""
    adapter = TrDiMPSLTAdapter.from_network(net, _test_time_params())
    assert adapter.loss_weights() == {"scst": 4.0, "bb_ce": 0.01}   # the official SLT-TrDiMP pair
    records = sampled_records(adapter, _videos(2, frames=4, seed=40))
    check_arm_terms(adapter, records, lambda name: name.startswith("classifier."))


def test_hinge_terms_follow_the_ground_truth(net):
    """The classifier terms score the replayed maps against a label at the recorded ground truth:
    moving the ground truth changes them, hiding every frame leaves nothing to score."""
    adapter = TrDiMPSLTAdapter.from_network(net, _test_time_params(), scst_weight=0.0)
    records = sampled_records(adapter, _videos(1, frames=4, seed=50))
    with torch.no_grad():
        _, extras = adapter.replay_scores(records, all_iterates=True)
        gt = records.steps["gt_crop"]
        terms = adapter.classifier_terms(extras["iterate_scores"], extras["feature_sz"], gt, records.visible)
        moved = adapter.classifier_terms(extras["iterate_scores"], extras["feature_sz"], gt + torch.tensor(
            [30.0, 30.0, 0.0, 0.0]), records.visible)
        hidden = adapter.classifier_terms(extras["iterate_scores"], extras["feature_sz"], gt,
                                          torch.zeros_like(records.visible))
    assert set(terms) == {"test_clf", "test_init_clf", "test_iter_clf"}
    assert all(float(terms[k]) != float(moved[k]) for k in terms)
    assert all(float(v) == 0.0 for v in hidden.values())


def test_box_weight_keeps_its_meaning_and_bad_so_mode_is_refused(net):
    adapter = TrDiMPSLTAdapter.from_network(net, _test_time_params(), scst_weight=1.0, box_weight=0.0025)
    assert adapter.loss_weights() == {"scst": 1.0, "bb_ce": 0.0025}
    adapter.scst_weight = 0.0   # +SS: the IoU-Net term scaled alike, the classifier terms at their FLT weights
    assert adapter.loss_weights() == pytest.approx({**LOSS_TABLE.flt_weights, "bb_ce": 0.0025})
    with pytest.raises(ValueError, match="'replace', 'add'"):
        TrDiMPSLTAdapter.from_network(net, _test_time_params(), so_mode="both")
