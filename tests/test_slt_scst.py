"""Rewards, self-critical advantage and the SCST loss (slt_plugins.scst)."""
import pytest
import torch

from slt_plugins import registry
from slt_plugins.policy import LogitSoftmaxPolicy
from slt_plugins.scst import (average_overlap, iou_xywh, scst_loss, self_critical_advantage,
                              success_auc, success_rate)

GT = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 3)
# IoU 1, IoU 1/3 (half shifted: 50 / 150), IoU 0 (disjoint)
PRED = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 10.0, 10.0], [20.0, 20.0, 5.0, 5.0]])


def test_iou_hand_cases():
    assert iou_xywh(PRED, GT).tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert iou_xywh(torch.zeros(4), torch.zeros(4)).item() == 0.0  # empty union


def test_average_overlap_counts_visible_frames_only():
    vis = torch.tensor([True, True, False])
    assert average_overlap(PRED, GT, vis).item() == pytest.approx((1 + 1 / 3) / 2)
    assert average_overlap(PRED, GT).item() == pytest.approx((1 + 1 / 3) / 3)
    assert average_overlap(PRED, GT, torch.zeros(3, dtype=torch.bool)).item() == 0.0


def test_rewards_batch_over_leading_dims():
    pred = torch.stack([PRED, GT])  # (2, T, 4)
    r = average_overlap(pred, GT.unsqueeze(0), torch.ones(1, 3, dtype=torch.bool))
    assert r.shape == (2,) and r.tolist() == pytest.approx([(1 + 1 / 3) / 3, 1.0])


def test_success_auc_and_rate():
    # IoU 1 everywhere: exceeds thresholds 0..0.95 (20 of 21), not 1.0
    assert success_auc(GT, GT).item() == pytest.approx(20 / 21)
    # IoU 1/3 everywhere: exceeds 0, 0.05, ..., 0.30 -> 7 of 21
    third = PRED[1:2].repeat(3, 1)
    assert success_auc(third, GT).item() == pytest.approx(7 / 21)
    vis = torch.tensor([True, True, False])
    assert success_auc(PRED, GT, vis).item() == pytest.approx((20 / 21 + 7 / 21) / 2)
    assert success_rate(PRED, GT, threshold=0.3).item() == pytest.approx(2 / 3)
    assert success_rate(PRED, GT, vis, threshold=0.5).item() == pytest.approx(1 / 2)


def test_reward_registry_names():
    assert {"ao", "auc", "sr50", "sr75"} <= set(registry.available("reward"))
    assert registry.get("reward", "ao") is average_overlap
    assert registry.get("reward", "sr50")(PRED, GT).item() == pytest.approx(1 / 3)
    assert registry.get("reward", "sr75")(PRED, GT).item() == pytest.approx(1 / 3)


def test_self_critical_advantage_argmax_and_mean():
    adv = self_critical_advantage(torch.tensor([[0.5], [0.2]]), torch.tensor([0.4, 0.3]))
    assert adv.flatten().tolist() == pytest.approx([0.1, -0.1])
    r = torch.tensor([[0.2, 0.4, 0.9], [0.5, 0.5, 0.5]])
    adv = self_critical_advantage(r, torch.tensor([0.0, 1.0]), baseline="mean")
    assert adv.tolist()[0] == pytest.approx([-0.3, -0.1, 0.4])
    assert adv.tolist()[1] == pytest.approx([0.0, 0.0, 0.0])
    with pytest.raises(ValueError):
        self_critical_advantage(torch.tensor([[0.5]]), torch.tensor([0.4]), baseline="mean")
    with pytest.raises(ValueError):
        self_critical_advantage(r, torch.zeros(2), baseline="median")


def test_scst_loss_reductions_by_hand():
    log_p = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -1.0]], requires_grad=True)
    adv = torch.tensor([1.0, -2.0])
    # terms -A * log p: row 0 -> 1, 2, 3 ; row 1 -> -1, -1, -2
    assert scst_loss(log_p, adv, "mean").item() == pytest.approx((6 - 4) / 6)
    assert scst_loss(log_p, adv, "sum").item() == pytest.approx((6 - 4) / 2)
    assert scst_loss(log_p, adv, "none").tolist() == pytest.approx([6.0, -4.0])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    assert scst_loss(log_p, adv, "mean", mask).item() == pytest.approx((1 + 2 - 1) / 3)
    scst_loss(log_p, adv, "mean").backward()
    assert torch.allclose(log_p.grad, (-adv / 6).unsqueeze(1).expand(2, 3))
    # (k, S, T) works as well
    assert scst_loss(log_p.detach().view(2, 1, 3), adv.view(2, 1), "mean").item() == pytest.approx(2 / 6)


def test_scst_loss_treats_advantage_as_constant():
    adv = torch.tensor([0.5], requires_grad=True)
    log_p = torch.tensor([[-1.0]], requires_grad=True)
    scst_loss(log_p, adv).backward()
    assert adv.grad is None


@pytest.mark.parametrize("advantage, direction", [(1.0, 1), (-1.0, -1)])
def test_scst_step_moves_probability_of_sampled_action(advantage, direction):
    torch.manual_seed(0)
    raw = torch.randn(1, 6, requires_grad=True)
    policy = LogitSoftmaxPolicy(temperature=2.0)
    action = torch.tensor([2])

    def prob_of_action():
        return policy.log_probs(torch.sigmoid(raw)).exp()[0, action].item()

    before = prob_of_action()
    opt = torch.optim.SGD([raw], lr=0.1)
    log_pa = policy.log_probs(torch.sigmoid(raw)).gather(1, action[:, None])  # (R=1, T=1)
    scst_loss(log_pa, torch.tensor([advantage])).backward()
    opt.step()
    after = prob_of_action()
    assert (after - before) * direction > 0


@pytest.mark.parametrize("name", ["ao", "auc", "sr50", "sr75"])
def test_reward_to_go_starts_at_the_reward_and_ends_at_the_last_frame(name):
    from slt_plugins.scst import reward_to_go
    gen = torch.Generator().manual_seed(3)
    gt = torch.tensor([[10.0, 10.0, 20.0, 20.0]]).repeat(2, 5, 1)
    pred = gt + torch.randn(2, 5, 4, generator=gen) * 6
    visible = torch.tensor([[True, True, False, True, True], [True] * 5])
    to_go = reward_to_go(name, pred, gt, visible)
    assert to_go.shape == (2, 5)
    torch.testing.assert_close(to_go[:, 0], registry.get("reward", name)(pred, gt, visible))
    # the last frame's own share; an invisible frame adds nothing to what follows it
    iou = iou_xywh(pred, gt)
    if name == "ao":
        torch.testing.assert_close(to_go[:, -1], iou[:, -1] / visible.sum(-1))
        torch.testing.assert_close(to_go[0, 2], to_go[0, 3])
    assert (to_go[:, :-1] >= to_go[:, 1:] - 1e-7).all()  # scores are >= 0, so G_t never grows with t
    with pytest.raises(ValueError, match="per-frame split"):
        reward_to_go("custom", pred, gt, visible)


def test_scst_loss_with_per_frame_advantage():
    log_p = torch.log(torch.tensor([[0.5, 0.25, 0.5], [0.8, 0.5, 0.1]]))
    constant = torch.tensor([0.2, -0.1])
    # a per-frame advantage that is the same on every frame is the episode advantage
    torch.testing.assert_close(scst_loss(log_p, constant[:, None].expand(2, 3)), scst_loss(log_p, constant))
    per_frame = torch.tensor([[0.3, 0.2, 0.1], [-0.2, 0.0, 0.4]])
    expected = -(per_frame * log_p).sum() / 6
    torch.testing.assert_close(scst_loss(log_p, per_frame), expected)
    # k=2 episodes, S=1 samples, T=3: advantages keep the frame dimension
    adv = self_critical_advantage(per_frame[:, None, :], torch.zeros(2, 3))
    assert adv.shape == (2, 1, 3)
    with pytest.raises(ValueError, match="does not match"):
        self_critical_advantage(per_frame[:, None, :], torch.zeros(2))


def test_rewards_ignore_whatever_a_hidden_frame_holds():
    from slt_plugins.scst import average_overlap, visible_mean
    pred = torch.tensor([[[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]]])
    gt = torch.tensor([[[0.0, 0.0, 10.0, 10.0], [float("nan")] * 4, [5.0, 0.0, 10.0, 10.0]]])
    visible = torch.tensor([[True, False, True]])
    expected = (1.0 + 50.0 / 150.0) / 2
    assert average_overlap(pred, gt, visible).item() == pytest.approx(expected)
    assert visible_mean(torch.tensor([[1.0, float("nan"), 3.0]]), visible).item() == pytest.approx(2.0)
    assert visible_mean(torch.tensor([[1.0, 2.0]]), torch.tensor([[False, False]])).item() == 0.0
