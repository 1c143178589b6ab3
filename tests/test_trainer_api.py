"""The trainers' public API and the SLT actor as the one owner of the network's mode.

* ``BaseTrainer.scale_learning_rates`` keeps epoch (StepLR), cosine and lambda schedules working:
  after scaling, every scheduler step gives ``factor`` times the unscaled schedule.
* ``BaseTrainer.batches`` yields exactly the batches ``train`` trains on, and
  ``SLTTrainer.exploration_generator`` exactly the generator ``train`` explores with.
* Explore and replay run the network in the same mode (``SLTActor.mode``), whatever mode the
  network was left in before; a toy network with dropout records what each pass saw.
* An adapter's persistent generators round-trip through the actor's random state.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Callable, Dict, List

import pytest
import torch

from ltr.trainers.base_trainer import BaseTrainer
from slt_plugins.actor import SLTActor
from slt_plugins.policy import LogitSoftmaxPolicy
from slt_plugins.trainer import SLTTrainer
from tests.slt_toy import ToyAdapter, ToyNet, make_toy_episode

FACTOR = 0.3
EPOCHS = 6

SCHEDULERS: Dict[str, Callable[[torch.optim.Optimizer], object]] = {
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    "cosine": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS, eta_min=1e-4),
    "lambda": lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1 + e)),
    "sequential": lambda opt: torch.optim.lr_scheduler.SequentialLR(
        opt, [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2),
              torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=EPOCHS, eta_min=1e-4)], milestones=[2]),
}


class _Samples(torch.utils.data.Dataset):
    """Item ``i`` of epoch ``e`` is the number ``100 e + i``."""

    def __init__(self, size: int) -> None:
        self.size, self.epoch = size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(100 * self.epoch + index)


class _RecordingTrainer(BaseTrainer):
    """Records the batches ``train`` hands to ``train_step``."""

    def __init__(self, tmp_path, **kwargs) -> None:
        net = torch.nn.Linear(1, 1)
        super().__init__(net, torch.optim.SGD(net.parameters(), lr=0.1), _Samples(12), 3,
                         SimpleNamespace(project_path="api", seed=4), "api", "tiny", checkpoint_dir=tmp_path,
                         quiet=True, print_interval=0, **kwargs)
        self.seen: List[torch.Tensor] = []

    def train_step(self, batch) -> Dict[str, float]:
        self.seen.append(batch)
        return {}


def _schedule(make: Callable, factor: float = 1.0) -> List[List[float]]:
    """Every group's rate after each of EPOCHS scheduler steps, scaled by ``factor`` first."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1},
              {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.02}]
    optimizer = torch.optim.SGD(groups, lr=0.1)
    trainer = BaseTrainer(torch.nn.Linear(1, 1), optimizer, _Samples(4), 1, SimpleNamespace(project_path="lr"),
                          "lr", "tiny", lr_scheduler=make(optimizer), checkpoint_dir=".", quiet=True)
    if factor != 1.0:
        trainer.scale_learning_rates(factor)
    rates = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(EPOCHS):
        optimizer.step()
        trainer.lr_scheduler.step()
        rates.append([g["lr"] for g in optimizer.param_groups])
    if factor != 1.0:
        assert [g["initial_lr"] for g in optimizer.param_groups] == pytest.approx([0.1 * factor, 0.02 * factor])
    return rates


@pytest.mark.parametrize("kind", sorted(SCHEDULERS))
def test_scaled_learning_rates_follow_the_scaled_schedule(kind):
    plain = _schedule(SCHEDULERS[kind])
    scaled = _schedule(SCHEDULERS[kind], FACTOR)
    assert len({tuple(r) for r in plain}) > 1, "the schedule never changes the rates"
    for epoch, (want, got) in enumerate(zip(plain, scaled)):
        assert got == pytest.approx([FACTOR * w for w in want], rel=1e-12), f"epoch {epoch}"


def test_scale_learning_rates_rejects_a_non_positive_factor(tmp_path):
    with pytest.raises(ValueError, match="positive"):
        _RecordingTrainer(tmp_path).scale_learning_rates(0.0)


def test_batches_are_the_batches_train_trains_on(tmp_path):
    trainer = _RecordingTrainer(tmp_path)
    trainer.train(2)
    assert trainer.iterations_per_epoch == 4 and len(trainer.seen) == 8
    assert [torch.equal(a, b) for a, b in zip(trainer.seen[:4], trainer.batches(epoch=0))] == [True] * 4
    assert [torch.equal(a, b) for a, b in zip(trainer.seen[6:8], trainer.batches(2, epoch=1))] == [True] * 2
    fresh = _RecordingTrainer(tmp_path)
    assert [b.tolist() for b in fresh.batches(start_iteration=3)] == [trainer.seen[3].tolist()]


# -- SLT: the toy tracker ---------------------------------------------------------------------------

class _DropoutNet(ToyNet):
    """The toy network with dropout on its search features: a pass in train mode changes scores."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = torch.nn.Dropout(0.5)

    def features(self, crops: torch.Tensor) -> torch.Tensor:
        return self.drop(super().features(crops))


class _ModeRecordingAdapter(ToyAdapter):
    """Records ``net.training`` and whether dropout was active in every explore step and replay."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__(net, policy=None)
        self.modes: Dict[str, List[bool]] = {"explore": [], "replay": []}

    def _record(self, phase: str) -> None:
        ones = torch.ones(64)
        self.modes[phase].append(self.net.training)
        self.modes[phase + "_dropout"] = self.modes.get(phase + "_dropout", []) + [
            not torch.equal(self.net.drop(ones), ones)]

    def step(self, frames, sample_mask, generator, gt_xywh):
        self._record("explore")
        return super().step(frames, sample_mask, generator, gt_xywh)

    def replay_loss(self, records, advantage):
        self._record("replay")
        return super().replay_loss(records, advantage)


class _Episodes(torch.utils.data.Dataset):
    def __init__(self, size: int, num_frames: int = 4) -> None:
        self.size, self.num_frames, self.epoch = size, num_frames, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        return make_toy_episode(1000 * self.epoch + index, num_frames=self.num_frames)


def _toy_slt_trainer(tmp_path, mode: str = "eval"):
    torch.manual_seed(0)
    adapter = _ModeRecordingAdapter(_DropoutNet())
    actor = SLTActor(adapter, LogitSoftmaxPolicy(temperature=1.0), mode=mode)
    net = adapter.net
    trainer = SLTTrainer(actor, net, torch.optim.SGD(net.parameters(), lr=0.01), _Episodes(4), 2,
                         SimpleNamespace(project_path="toy", seed=3), tracker_name="toy", model_size="tiny",
                         checkpoint_dir=tmp_path, quiet=True, print_interval=0, seed=3)
    return trainer, adapter


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_explore_and_replay_run_the_network_in_the_actors_mode(tmp_path, mode):
    trainer, adapter = _toy_slt_trainer(tmp_path, mode)
    adapter.net.train(mode == "eval")  # the opposite of the actor's mode before training starts
    explore = trainer.actor.explore

    def explore_then_flip(episodes, generator):
        # Whatever leaves the network in another mode between the passes (a benchmark, a hook)
        # must not decide the mode of replay: the actor sets it again.
        rollouts = explore(episodes, generator)
        adapter.net.train(not adapter.net.training)
        return rollouts

    trainer.actor.explore = explore_then_flip
    trainer.train(1)
    want = mode == "train"
    assert adapter.modes["explore"] and adapter.modes["replay"]
    assert set(adapter.modes["explore"]) == set(adapter.modes["replay"]) == {want}
    assert set(adapter.modes["explore_dropout"]) == set(adapter.modes["replay_dropout"]) == {want}


def test_the_trainer_leaves_the_mode_to_the_actor(tmp_path):
    trainer, adapter = _toy_slt_trainer(tmp_path)
    adapter.net.train()
    trainer.set_training_mode()
    assert not adapter.net.training
    trainer.actor.mode = "sideways"
    with pytest.raises(ValueError, match="mode"):
        trainer.actor.set_network_mode()
    with pytest.raises(ValueError, match="mode"):
        SLTActor(adapter, mode="test")


def test_exploration_generator_is_the_one_train_explores_with(tmp_path):
    trainer, adapter = _toy_slt_trainer(tmp_path)
    drawn = []
    explore = trainer.actor.explore
    trainer.actor.explore = lambda episodes, generator: (drawn.append(generator.get_state()),
                                                         explore(episodes, generator))[1]
    trainer.train(1)
    assert len(drawn) == 2
    for iteration, state in enumerate(drawn):
        assert torch.equal(trainer.exploration_generator(epoch=0, iteration=iteration).get_state(), state)
    assert not torch.equal(drawn[0], drawn[1])


class _StatefulAdapter(ToyAdapter):
    def __init__(self) -> None:
        super().__init__(ToyNet(), policy=LogitSoftmaxPolicy(temperature=1.0))
        self.noise = torch.Generator().manual_seed(5)

    def persistent_generators(self) -> Dict[str, torch.Generator]:
        return {"noise": self.noise}


def test_persistent_generators_round_trip_through_the_actor():
    actor = SLTActor(_StatefulAdapter())
    assert SLTActor(ToyAdapter(ToyNet(), policy=LogitSoftmaxPolicy(1.0))).rng_state() == {}
    torch.rand(3, generator=actor.adapter.noise)
    saved = actor.rng_state()
    expected = torch.rand(4, generator=actor.adapter.noise)
    other = SLTActor(_StatefulAdapter())
    other.load_rng_state(saved)
    assert torch.equal(torch.rand(4, generator=other.adapter.noise), expected)
    with pytest.raises(ValueError, match="does not have"):
        other.load_rng_state({"noise": saved["noise"], "elsewhere": saved["noise"]})
