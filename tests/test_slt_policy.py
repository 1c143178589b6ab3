"""Candidate distributions (slt_plugins.policy) and the plugin registry."""
import math
from importlib.metadata import EntryPoint

import pytest
import torch

from slt_plugins import registry
from slt_plugins.policy import (OFFICIAL_SETTINGS, LogitSoftmaxPolicy, SoftmaxPolicy, official_policy,
                                sample_from_log_probs)


# ---------------------------------------------------------------- logit-softmax maths
def test_logit_softmax_three_candidates_by_hand():
    # x' = 0.01 + 0.98 x = (0.206, 0.5, 0.892); logits = 2 log(x'/(1-x'))
    policy = LogitSoftmaxPolicy(temperature=2.0, eps=0.01)
    x = torch.tensor([[0.2, 0.5, 0.9]], dtype=torch.float64)
    logits = policy.logits(x)[0]
    expected_logits = [2 * math.log(0.206 / 0.794), 0.0, 2 * math.log(0.892 / 0.108)]
    assert logits.tolist() == pytest.approx(expected_logits, abs=1e-12)
    probs = policy.log_probs(x).exp()[0]
    assert probs.tolist() == pytest.approx([0.0009715581166742765, 0.014433622698738442, 0.9845948191845871],
                                           abs=1e-12)


def test_logit_softmax_gradient_matches_chain_rule():
    policy = LogitSoftmaxPolicy(temperature=2.0, eps=0.01)
    x = torch.tensor([[0.2, 0.5, 0.9]], dtype=torch.float64, requires_grad=True)
    log_p = policy.log_probs(x)
    log_p[0, 1].backward()
    p = log_p.detach().exp()[0]
    xs = x.detach()[0] * 0.98 + 0.01
    # d log p_1 / d logit_n = [n == 1] - p_n ; d logit_n / d x_n = T (1 - 2 eps) / (x'_n (1 - x'_n))
    expected = (torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64) - p) * 2.0 * 0.98 / (xs * (1 - xs))
    assert torch.allclose(x.grad[0], expected, atol=1e-12)


def test_eps_clamp_keeps_logits_finite():
    x = torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64, requires_grad=True)
    clamp = LogitSoftmaxPolicy(temperature=1.0, eps=0.1, squash="clamp")
    probs = clamp.log_probs(x).exp()[0]
    # clamp -> (0.1, 0.5, 0.9): exp(logit) = (1/9, 1, 9)
    assert probs.tolist() == pytest.approx([1 / 91, 9 / 91, 81 / 91], abs=1e-12)
    clamp.log_probs(x)[0, 2].backward()
    assert x.grad[0, 0] == 0 and x.grad[0, 2] == 0  # clamped ends pass no gradient
    # the official affine squash stays finite and keeps a gradient at 0 and 1
    x2 = x.detach().clone().requires_grad_(True)
    affine = LogitSoftmaxPolicy(temperature=1.0, eps=0.1)
    lp = affine.log_probs(x2)
    assert torch.isfinite(lp).all()
    lp[0, 2].backward()
    assert (x2.grad[0] != 0).all()


def test_invalid_parameters_rejected():
    with pytest.raises(ValueError):
        LogitSoftmaxPolicy(temperature=0)
    with pytest.raises(ValueError):
        LogitSoftmaxPolicy(eps=0.5)
    with pytest.raises(ValueError):
        LogitSoftmaxPolicy(squash="tanh")
    with pytest.raises(ValueError):
        SoftmaxPolicy(temperature=-1)


# ---------------------------------------------------------------- softmax (TrDiMP)
def test_softmax_policy_raw_scores():
    y = torch.tensor([[1.0, 2.0, -1.0, 0.5]])
    assert torch.allclose(SoftmaxPolicy(2.0).log_probs(y), torch.log_softmax(2.0 * y, -1))


def test_softmax_policy_mean_max_normalisation():
    y = torch.tensor([[0.0, 1.0, 2.0, 5.0]], dtype=torch.float64)  # mean 2, max 5
    logits = SoftmaxPolicy(1.0, mean_max_range=(-7, 7)).logits(y)[0]
    # (y - 2) / 3 * 14 - 7
    assert logits.tolist() == pytest.approx([-2 / 3 * 14 - 7, -1 / 3 * 14 - 7, -7.0, 7.0])
    flat = SoftmaxPolicy(1.0, mean_max_range=(-7, 7)).log_probs(torch.zeros(1, 5))
    assert torch.allclose(flat.exp(), torch.full((1, 5), 0.2))


def test_official_settings_table():
    assert OFFICIAL_SETTINGS["siamrpnpp"][1]["temperature"] == 8.0
    assert OFFICIAL_SETTINGS["transt"][1]["temperature"] == 4.0
    p = official_policy("siamattn")
    assert isinstance(p, LogitSoftmaxPolicy) and p.temperature == 8.0 and p.eps == 0.01
    assert isinstance(official_policy("trdimp"), SoftmaxPolicy)
    with pytest.raises(KeyError):
        official_policy("nope")


# ---------------------------------------------------------------- selection
def test_select_argmax_where_mask_false():
    policy = LogitSoftmaxPolicy(temperature=1.0)
    scores = torch.tensor([[0.1, 0.8, 0.3], [0.9, 0.2, 0.1]])
    actions, log_prob = policy.select(scores, torch.tensor([False, False]), None)
    assert actions.tolist() == [1, 0]
    assert torch.allclose(log_prob, policy.log_probs(scores).gather(1, actions[:, None])[:, 0])


def test_select_sampling_is_reproducible_and_batch_independent():
    policy = LogitSoftmaxPolicy(temperature=1.0)
    scores = torch.rand(6, 50, generator=torch.Generator().manual_seed(3))
    mask = torch.tensor([False, True, True, False, True, True])

    def gens():
        return [None if not m else torch.Generator().manual_seed(100 + i) for i, m in enumerate(mask.tolist())]

    a1, lp1 = policy.select(scores, mask, gens())
    a2, _ = policy.select(scores, mask, gens())
    assert torch.equal(a1, a2)
    # one row at a time with the same per-row generators gives the same actions
    g = gens()
    one_by_one = torch.cat([policy.select(scores[i:i + 1], mask[i:i + 1], [g[i]])[0] for i in range(6)])
    assert torch.equal(a1, one_by_one)
    assert torch.equal(a1[~mask], scores[~mask].argmax(1))
    # a single generator for the whole batch is reproducible too
    b1, _ = policy.select(scores, mask, torch.Generator().manual_seed(5))
    b2, _ = policy.select(scores, mask, torch.Generator().manual_seed(5))
    assert torch.equal(b1, b2)


def test_sampling_follows_the_distribution():
    policy = SoftmaxPolicy(1.0)
    scores = torch.log(torch.tensor([[0.1, 0.2, 0.7]])).repeat(20000, 1)
    actions, _ = policy.select(scores, torch.ones(20000, dtype=torch.bool), torch.Generator().manual_seed(0))
    freq = torch.bincount(actions, minlength=3).float() / 20000
    assert torch.allclose(freq, torch.tensor([0.1, 0.2, 0.7]), atol=0.015)


def test_zero_probability_candidate_never_drawn():
    log_p = torch.log(torch.tensor([[0.0, 0.5, 0.0, 0.5]])).repeat(2000, 1)
    idx = sample_from_log_probs(log_p, torch.Generator().manual_seed(1))
    assert set(idx.tolist()) <= {1, 3}


def test_sampling_without_generator_is_an_error():
    with pytest.raises(ValueError):
        LogitSoftmaxPolicy().select(torch.rand(2, 4), torch.tensor([True, False]), None)


# ---------------------------------------------------------------- registry
def test_registry_build_available_and_unknown_name():
    assert {"logit_softmax", "softmax"} <= set(registry.available("policy"))
    p = registry.build("policy", "logit_softmax", temperature=8.0, eps=0.01)
    assert isinstance(p, LogitSoftmaxPolicy) and p.temperature == 8.0
    with pytest.raises(registry.RegistryError, match="logit_softmax"):
        registry.build("policy", "logitsoftmax")
    with pytest.raises(registry.RegistryError, match="kinds"):
        registry.available("tracker")


def test_register_conflict_and_unregister():
    @registry.register("reward", "test_dummy_reward")
    def dummy():
        return 1

    try:
        assert registry.get("reward", "test_dummy_reward") is dummy
        registry.register("reward", "test_dummy_reward")(dummy)  # same object again: fine
        with pytest.raises(registry.RegistryError, match="already registered"):
            @registry.register("reward", "test_dummy_reward")
            def other():
                return 2
    finally:
        registry.unregister("reward", "test_dummy_reward")
    assert "test_dummy_reward" not in registry.available("reward")


def test_only_kinds_that_settings_look_up():
    # actor, sampler and loss had one implementation each and nothing looked them up by name
    assert registry.KINDS == ("policy", "reward", "adapter")
    with pytest.raises(registry.RegistryError, match="policy, reward, adapter"):
        registry.register("actor", "slt")


def test_adapter_entry_point_loaded_lazily(monkeypatch):
    ep = EntryPoint(name="toy_ep", value="tests.slt_toy:ToyAdapter", group=registry.ADAPTER_ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "_adapter_entry_points", lambda: [ep])
    try:
        assert "toy_ep" in registry.available("adapter")
        from tests.slt_toy import ToyAdapter, ToyNet
        assert registry.get("adapter", "toy_ep") is ToyAdapter
        adapter = registry.build("adapter", "toy_ep", net=ToyNet(), policy=LogitSoftmaxPolicy())
        assert isinstance(adapter, ToyAdapter)
        with pytest.raises(registry.RegistryError, match="toy_ep"):
            registry.get("adapter", "missing_adapter")
    finally:
        registry.unregister("adapter", "toy_ep")
