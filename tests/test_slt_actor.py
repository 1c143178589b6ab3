"""The SLT actor (slt_plugins.actor) with the toy tracker of tests/slt_toy.py."""
import contextlib

import pytest
import torch

from slt_plugins.adapter import SLTAdapter, stack_records
from slt_plugins.actor import SLTActor
from slt_plugins.policy import LogitSoftmaxPolicy
from tests.slt_toy import ToyAdapter, ToyNet, make_toy_episode

T = 6


def _setup(temperature: float = 1.0, **actor_kwargs):
    torch.manual_seed(0)
    net = ToyNet()
    adapter = ToyAdapter(net, policy=None)
    actor = SLTActor(adapter, LogitSoftmaxPolicy(temperature=temperature), **actor_kwargs)
    episodes = [make_toy_episode(s, num_frames=T) for s in range(3)]
    return net, adapter, actor, episodes


def test_toy_adapter_implements_protocol_and_actor_takes_the_policy():
    net, adapter, actor, _ = _setup()
    assert isinstance(adapter, SLTAdapter)
    assert adapter.policy is actor.policy  # the actor's policy replaced the adapter's


def test_explore_shapes_records_and_no_graph():
    _, _, actor, episodes = _setup(num_samples=2)
    ro = actor.explore(episodes, torch.Generator().manual_seed(0))
    k, S, B, Tt = 3, 2, 9, T - 1
    assert ro.pred_boxes_xywh.shape == (B, Tt, 4) and ro.actions.shape == (B, Tt)
    assert ro.rewards.shape == (B,) and ro.advantage.shape == (k, S) and ro.iou.shape == (B, Tt)
    assert ro.records.num_rollouts == k * S and ro.records.num_steps == Tt
    assert ro.records.steps["search_crop"].shape == (k * S, Tt, 3, 32, 32)
    assert ro.records.init["template_crop"].shape == (k * S, 3, 16, 16)
    assert all(not v.requires_grad for v in ro.records.steps.values())
    # record rows are the sampling rows in order: record row (s-1)*k + i <-> tracker row s*k + i
    assert torch.equal(ro.records.steps["action"], ro.actions[k:])
    r = ro.rewards.view(1 + S, k)
    assert torch.allclose(ro.advantage, r[1:].t() - r[0].unsqueeze(1))
    assert torch.allclose(ro.record_advantage, (r[1:] - r[0]).reshape(-1))
    for key in ("reward/argmax", "reward/sample", "mIoU/argmax", "mIoU/sample", "advantage/abs_mean",
                "actions/sample_differs"):
        assert key in ro.stats


def test_batched_explore_equals_one_by_one():
    _, _, actor, episodes = _setup(num_samples=2)
    batched = actor.explore(episodes, torch.Generator().manual_seed(11))
    single = actor.explore_sequential(episodes, torch.Generator().manual_seed(11))
    assert torch.equal(batched.actions, single.actions)
    # equal up to float differences between batched and single network passes (bitwise on CPU here)
    assert torch.allclose(batched.pred_boxes_xywh, single.pred_boxes_xywh, atol=1e-5)
    assert torch.allclose(batched.rewards, single.rewards, atol=1e-5)
    for key in batched.records.steps:
        assert torch.allclose(batched.records.steps[key].float(), single.records.steps[key].float(), atol=1e-5)
    assert (batched.actions[3:] != batched.actions[:3].repeat(2, 1)).any()  # sampling really happened


def test_argmax_rollouts_do_not_depend_on_the_seed():
    _, _, actor, episodes = _setup()
    a = actor.explore(episodes, torch.Generator().manual_seed(1))
    b = actor.explore(episodes, torch.Generator().manual_seed(2))
    assert torch.equal(a.actions[:3], b.actions[:3])
    assert not torch.equal(a.actions[3:], b.actions[3:])
    c = actor.explore(episodes, torch.Generator().manual_seed(1))
    assert torch.equal(a.actions, c.actions)


def test_start_modes():
    _, _, actor, episodes = _setup(start="template")
    ro = actor.explore(episodes, torch.Generator().manual_seed(0))
    assert ro.actions.shape == (6, T)
    with pytest.raises(ValueError):
        SLTActor(ToyAdapter(ToyNet(), LogitSoftmaxPolicy()), start="middle")


def _grads(net):
    return [p.grad.clone() for p in net.parameters()]


def test_replay_loss_finite_differentiable_and_chunk_invariant():
    net, _, actor, episodes = _setup(num_samples=2)
    ro = actor.explore(episodes, torch.Generator().manual_seed(0))
    net.zero_grad()
    full = actor.replay(ro, backward=False)
    assert not full.backward_done and full.total.requires_grad and torch.isfinite(full.total)
    full.total.backward()
    g_full = _grads(net)
    assert any(g.abs().sum() > 0 for g in g_full)

    actor.chunk_size = 2  # 6 rollouts -> chunks of 2, 2, 2
    net.zero_grad()
    chunked = actor.replay(ro)
    assert chunked.backward_done and not chunked.total.requires_grad
    assert chunked.total.item() == pytest.approx(full.total.item(), rel=1e-5)
    for a, b in zip(g_full, _grads(net)):
        assert torch.allclose(a, b, atol=1e-6)


def test_no_sync_context_wraps_all_chunks_but_the_last():
    _, _, actor, episodes = _setup(chunk_size=1)
    ro = actor.explore(episodes, torch.Generator().manual_seed(0))
    entered = []

    @contextlib.contextmanager
    def no_sync():
        entered.append(True)
        yield

    actor.replay(ro, no_sync_ctx=no_sync)
    assert len(entered) == 2  # 3 sampling rollouts in chunks of 1


def test_scst_gradient_follows_advantage_sign():
    # With only the SCST term, flipping the advantages flips the gradient.
    net, adapter, actor, episodes = _setup(temperature=0.5)
    adapter.box_weight = 0.0
    ro = actor.explore(episodes, torch.Generator().manual_seed(4))
    ro.advantage = torch.ones_like(ro.advantage)
    net.zero_grad()
    actor.replay(ro)
    g_pos = _grads(net)
    ro.advantage = -torch.ones_like(ro.advantage)
    net.zero_grad()
    actor.replay(ro)
    for a, b in zip(g_pos, _grads(net)):
        assert torch.allclose(a, -b, atol=1e-7)


def test_toy_slt_iteration_end_to_end():
    net, _, actor, episodes = _setup(num_samples=1, chunk_size=2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in net.parameters()]
    for it in range(2):
        opt.zero_grad()
        out = actor(episodes, torch.Generator().manual_seed(it))
        assert out.backward_done and torch.isfinite(out.total)
        opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    for key in ("Loss/total", "Loss/scst", "Loss/box", "reward/argmax", "mIoU/sample", "time/explore"):
        assert key in out.stats


def test_actor_rejects_bad_configuration_and_episodes():
    adapter = ToyAdapter(ToyNet(), LogitSoftmaxPolicy())
    with pytest.raises(ValueError):
        SLTActor(adapter, num_samples=0)
    with pytest.raises(ValueError):
        SLTActor(adapter, num_samples=1, baseline="mean")
    with pytest.raises(ValueError):
        SLTActor(ToyAdapter(ToyNet(), None))
    actor = SLTActor(adapter)
    with pytest.raises(ValueError, match="same number of frames"):
        actor.explore([make_toy_episode(0, 4), make_toy_episode(1, 5)], torch.Generator())
    with pytest.raises(ValueError, match="same keys"):
        stack_records([{"a": torch.zeros(1)}, {"b": torch.zeros(1)}])


def test_reward_to_go_advantage_per_frame():
    """advantage='reward_to_go': frame 0 holds the episode advantage, later frames the difference
    of what the sample and the argmax rollout earned from that frame on; replay uses all of them."""
    from slt_plugins.scst import reward_to_go
    net, _, episode_actor, episodes = _setup(num_samples=2)
    _, _, actor, _ = _setup(num_samples=2, advantage="reward_to_go")
    actor.adapter = episode_actor.adapter  # the same network for both
    ro = actor.explore(episodes, torch.Generator().manual_seed(5))
    ro_episode = episode_actor.explore(episodes, torch.Generator().manual_seed(5))
    k, S, Tt = 3, 2, T - 1
    assert ro.advantage.shape == (k, S, Tt) and ro.record_advantage.shape == (k * S, Tt)
    assert torch.equal(ro.actions, ro_episode.actions)
    torch.testing.assert_close(ro.advantage[..., 0], ro_episode.advantage)
    pred = ro.pred_boxes_xywh.view(1 + S, k, Tt, 4)
    to_go = reward_to_go("ao", pred, ro.gt_boxes_xywh.unsqueeze(0), ro.visible.unsqueeze(0))
    torch.testing.assert_close(ro.advantage, (to_go[1:] - to_go[0]).transpose(0, 1))
    net.zero_grad()
    out = actor.replay(ro)
    assert torch.isfinite(out.total) and any(p.grad.abs().sum() > 0 for p in net.parameters())
    with pytest.raises(ValueError, match="per-frame split"):
        SLTActor(ToyAdapter(ToyNet(), LogitSoftmaxPolicy()), reward=lambda p, g, v: p.sum(), advantage="reward_to_go")
    with pytest.raises(ValueError, match="advantage must be"):
        SLTActor(ToyAdapter(ToyNet(), LogitSoftmaxPolicy()), advantage="frame")
