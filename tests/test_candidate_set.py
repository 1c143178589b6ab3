"""The SCST options: candidate set of local maxima (policy, adapters, replay) and the baseline field."""
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr.admin.checkpoint import save_checkpoint
from ltr.admin.config import ConfigError
from ltr.dataset.synthetic import SyntheticConfig, generate_video
from ltr.models.registry import build_network
from ltr.run_training import build_settings
from slt_plugins.adapter import ReplayRecords, stack_records
from slt_plugins.policy import (LocalMaximaPolicy, LogitSoftmaxPolicy, candidate_mask, local_maxima,
                                replay_log_probs, select_candidates, with_candidate_set)


def _two_peaks() -> torch.Tensor:
    """One 1 x 5 x 5 map with a peak of 0.9 at (1, 1), one of 0.6 at (3, 3), low elsewhere."""
    m = torch.full((5, 5), 0.1)
    m[1, 1], m[3, 3] = 0.9, 0.6
    m[1, 2] = 0.5  # a shoulder of the first peak, not a maximum
    return m.reshape(1, 25)


def test_local_maxima_of_a_known_map() -> None:
    idx = local_maxima(_two_peaks(), (1, 5), top_k=4)
    assert idx.tolist() == [[1 * 5 + 1, 3 * 5 + 3, -1, -1]]


def test_anchor_maps_reduce_over_anchors_and_keep_the_best_anchor() -> None:
    scores = torch.full((1, 3, 5, 5), 0.1)
    scores[0, 2, 1, 1] = 0.9   # best anchor of cell (1, 1) is anchor 2
    scores[0, 0, 1, 1] = 0.8
    scores[0, 1, 3, 3] = 0.7   # cell (3, 3): anchor 1
    idx = local_maxima(scores.reshape(1, -1), (3, 5), top_k=2)
    assert idx.tolist() == [[2 * 25 + 6, 1 * 25 + 18]]


def _smooth_maps(rows: int, side: int = 9, anchors: int = 1, seed: int = 0) -> torch.Tensor:
    """Window-mixed random maps in (0, 1), with a few peaks each, like post-processed scores."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.rand(rows * anchors, 1, side, side, generator=gen)
    smooth = torch.nn.functional.avg_pool2d(raw, 3, stride=1, padding=1).reshape(rows, anchors * side * side)
    han = torch.hann_window(side, periodic=False, dtype=torch.float32)
    window = torch.outer(han, han).flatten().repeat(anchors)
    return smooth * 0.6 + window * 0.4


def test_argmax_is_unchanged_and_probabilities_sum_to_one_over_the_set() -> None:
    scores = _smooth_maps(32, anchors=5)
    base = LogitSoftmaxPolicy(4.0, 0.01)
    policy = LocalMaximaPolicy(base, top_k=3)
    cands = policy.candidates(scores, (5, 9))
    assert torch.equal(cands[:, 0], scores.argmax(1))
    log_p = policy.log_probs_over(scores, cands)
    mask = candidate_mask(cands, scores.shape[1])
    assert torch.allclose(log_p.exp().sum(1), torch.ones(32, dtype=log_p.dtype))
    assert torch.isinf(log_p[~mask]).all() and torch.isfinite(log_p[mask]).all()
    assert torch.equal(log_p.argmax(1), base.log_probs(scores).argmax(1))
    assert (mask.sum(1) <= 3).all() and (mask.sum(1) >= 2).any()


def test_only_local_maxima_are_sampled() -> None:
    scores = _smooth_maps(16, seed=3)
    policy = with_candidate_set(LogitSoftmaxPolicy(1.0, 0.01), "local_maxima", top_k=5)
    gens = [torch.Generator().manual_seed(i) for i in range(16)]
    seen_other = False
    for _ in range(20):
        actions, log_prob, record = select_candidates(policy, scores, torch.ones(16, dtype=torch.bool), gens, (1, 9))
        members = candidate_mask(record["candidates"], scores.shape[1])
        assert members.gather(1, actions[:, None]).all()
        assert torch.isfinite(log_prob).all()
        seen_other |= bool((actions != scores.argmax(1)).any())
    assert seen_other  # temperature 1 over a few peaks does pick other peaks
    with pytest.raises(ValueError, match="grid"):
        policy.select(scores, torch.ones(16, dtype=torch.bool), gens)


def test_all_is_the_plain_policy_and_bad_names_fail() -> None:
    base = LogitSoftmaxPolicy(4.0, 0.01)
    assert with_candidate_set(base, "all") is base
    with pytest.raises(ValueError, match="candidate_set"):
        with_candidate_set(base, "peaks")
    with pytest.raises(ValueError, match="wraps"):
        LocalMaximaPolicy(LocalMaximaPolicy(base))


def test_replay_needs_the_recorded_set() -> None:
    policy = LocalMaximaPolicy(LogitSoftmaxPolicy(4.0, 0.01))
    with pytest.raises(ValueError, match="candidates"):
        replay_log_probs(policy, _smooth_maps(2), {})


# ---------------------------------------------------------------- through the adapters
def _videos(n, frames=5, seed=20):
    cfg = SyntheticConfig(num_frames=frames)
    return [generate_video(seed + i, cfg) for i in range(n)]


def _siamrpn_adapter(policy):
    from ltr.models.tracking.siamrpnpp import SiamRPNConfig
    from pytracking.tracker.siamrpnpp.core import SiamRPNCore
    from pytracking.tracker.siamrpnpp.slt_adapter import SiamRPNSLTAdapter
    torch.manual_seed(0)
    net = build_network("siamrpnpp", "tiny").eval()
    with torch.no_grad():  # spread the random head's scores so the map has distinct peaks
        for name, param in net.named_parameters():
            if ".cls.head.3." in name:
                param.mul_(30.0)
            if ".loc.head.3." in name:
                param.mul_(0.1)
    return SiamRPNSLTAdapter(SiamRPNCore(net, SiamRPNConfig.tiny()), policy)


def _transt_adapter(policy):
    from ltr.models.tracking.transt import TransTConfig
    from pytracking.tracker.transt.core import TransTCore
    from pytracking.tracker.transt.slt_adapter import TransTSLTAdapter
    torch.manual_seed(0)
    net = build_network("transt", "tiny").eval()
    return TransTSLTAdapter(TransTCore(net, TransTConfig.from_size("tiny")), policy)


def _rollout(adapter, videos, mask):
    boxes = lambda t: torch.tensor(np.stack([v.boxes[t] for v in videos]))  # noqa: E731
    gens = [torch.Generator().manual_seed(i) if m else None for i, m in enumerate(mask.tolist())]
    outs = []
    with torch.no_grad():
        init = adapter.initialize([v.frames[0] for v in videos], boxes(0))
        for t in range(1, videos[0].num_frames):
            outs.append(adapter.step([v.frames[t] for v in videos], mask, gens, boxes(t)))
    return init, outs


@pytest.mark.parametrize("make", [_siamrpn_adapter, _transt_adapter], ids=["siamrpnpp", "transt"])
def test_adapters_sample_local_maxima_keep_the_argmax_and_replay_the_same_distribution(make) -> None:
    videos = _videos(2, seed=77)  # videos whose score maps have several peaks (asserted below)
    base = LogitSoftmaxPolicy(1.0, 0.01)
    plain = make(base)
    restricted = make(LocalMaximaPolicy(base, top_k=3))
    argmax_only = torch.zeros(2, dtype=torch.bool)
    _, plain_outs = _rollout(plain, videos, argmax_only)
    _, lm_outs = _rollout(restricted, videos, argmax_only)
    for a, b in zip(plain_outs, lm_outs):  # the argmax tracker is untouched by the option
        assert torch.equal(a.actions, b.actions)
        torch.testing.assert_close(a.boxes_xywh, b.boxes_xywh)

    init, outs = _rollout(restricted, videos, torch.ones(2, dtype=torch.bool))
    for out in outs:
        assert (out.record["candidates"] == out.actions[:, None]).any(1).all()
    # not vacuous: some rows had a choice between two or more local maxima
    assert any(bool(((o.record["candidates"] >= 0).sum(1) > 1).any()) for o in outs)
    records = ReplayRecords(init=init, steps=stack_records([o.record for o in outs]),
                            visible=torch.ones(2, len(outs), dtype=torch.bool))
    restricted.scst_weight, restricted.box_weight = 1.0, 0.0
    restricted.net.zero_grad(set_to_none=True)
    result = restricted.replay_loss(records, torch.tensor([0.5, -0.25]))
    result.total.backward()
    grad = sum(float(p.grad.abs().sum()) for p in restricted.net.parameters() if p.grad is not None)
    assert grad > 0
    # replay's log p(a) is the explore-time log p(a) over the same candidate set
    explore_logp = torch.stack([o.log_prob for o in outs], dim=1)
    assert result.stats["logp/mean"] == pytest.approx(float(explore_logp.mean()), abs=1e-4)


# ---------------------------------------------------------------- settings fields
@pytest.fixture(scope="module")
def siamrpn_start(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("start") / "start.pth"
    return save_checkpoint(path, build_network("siamrpnpp", "tiny").state_dict(), tracker="siamrpnpp", size="tiny")


def _trainer(tracker: str, checkpoint: Path, tmp_path: Path, *assignments: str):
    settings = build_settings(tracker, "slt_tiny", checkpoint=str(checkpoint), workspace=str(tmp_path),
                              assignments=list(assignments))
    return importlib.import_module(f"ltr.train_settings.{tracker}.slt_tiny").build_trainer(settings, quiet=True)


def test_settings_fields_reach_the_actor(siamrpn_start: Path, tmp_path: Path) -> None:
    plain = _trainer("siamrpnpp", siamrpn_start, tmp_path)
    assert plain.actor.baseline == "argmax" and isinstance(plain.actor.policy, LogitSoftmaxPolicy)
    trainer = _trainer("siamrpnpp", siamrpn_start, tmp_path, "scst_baseline=mean", "samples_per_episode=2",
                       "candidate_set=local_maxima", "candidate_top_k=4")
    assert trainer.actor.baseline == "mean" and trainer.actor.num_samples == 2
    assert isinstance(trainer.actor.policy, LocalMaximaPolicy) and trainer.actor.policy.top_k == 4
    with pytest.raises(ConfigError, match="samples_per_episode >= 2"):
        _trainer("siamrpnpp", siamrpn_start, tmp_path, "scst_baseline=mean")
    with pytest.raises(ConfigError):
        build_settings("siamrpnpp", "slt_tiny", assignments=["candidate_top_k=0"])
    with pytest.raises(ConfigError):
        build_settings("siamrpnpp", "slt_tiny", assignments=["scst_baseline=median"])


def test_mean_baseline_advantages_sum_to_zero_per_episode(siamrpn_start: Path, tmp_path: Path) -> None:
    trainer = _trainer("siamrpnpp", siamrpn_start, tmp_path, "scst_baseline=mean", "samples_per_episode=3",
                       "episodes_per_batch=2", "num_frames=3")
    batch = next(iter(trainer.batches(0, epoch=1)))
    rollouts = trainer.actor.explore(batch, torch.Generator().manual_seed(0))
    assert rollouts.advantage.shape == (2, 3)
    assert torch.allclose(rollouts.advantage.sum(1), torch.zeros(2), atol=1e-6)


def test_trdimp_rejects_the_local_maxima_set(tmp_path: Path) -> None:
    torch.manual_seed(0)
    start = save_checkpoint(tmp_path / "trdimp.pth", build_network("trdimp", "tiny").state_dict(),
                            tracker="trdimp", size="tiny")
    with pytest.raises(ValueError, match="not wired for TrDiMPSLTAdapter"):
        _trainer("trdimp", start, tmp_path, "candidate_set=local_maxima")
