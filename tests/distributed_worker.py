"""One process of the distributed-training equivalence check (started by tests/test_distributed.py).

    RANK=r WORLD_SIZE=n MASTER_ADDR=127.0.0.1 MASTER_PORT=p python tests/distributed_worker.py OUT --start CKPT
    python tests/distributed_worker.py OUT --start CKPT            # the single-process reference

With ``n`` processes of per-rank batch ``b / n`` or one process of batch ``b``, it trains tiny
SiamRPN++ for a few iterations frame-level (FLT) and sequence-level (SLT, once with the adapter's
replay module under DDP and once with the generic gradient all-reduce) and writes each run's final
parameters to ``OUT/<run>_rank<r>.pt`` (SLT also after its first step: ``<run>_step1_rank<r>.pt``).

Plain SGD replaces the settings' Adam, so that the parameters reflect the gradients linearly.
Two further departures from the shipped settings make the runs comparable exactly, since DDP
averages per-rank gradients and only a loss that is a mean of per-sample terms splits that way:

* FLT: SiamRPN++'s loss averages the cross-entropy over all sampled anchors of the batch and
  samples anchors with torch's global RNG (seeded per rank). The check uses the same loss per
  sample, averaged over samples, with every positive and negative anchor kept (no sampling).
* SLT: only the self-critical term (``box_weight=0``): it is a mean over rollout-frames, while
  the anchor loss on the sampled crops has the batch-level normalisation above.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Dict, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ltr.actors.siamrpnpp_actor import SiamRPNActor  # noqa: E402
from ltr.admin import distributed  # noqa: E402
from ltr.data.crop import to_model_input  # noqa: E402
from ltr.models.loss.siamrpnpp_loss import siamrpn_loss  # noqa: E402
from ltr.run_training import build_settings  # noqa: E402
from ltr.admin.distributed import unwrap_ddp  # noqa: E402
from pytracking.tracker.siamrpnpp.slt_adapter import crop_xywh_to_anchor_xyxy  # noqa: E402


class PerSampleMeanActor(SiamRPNActor):
    """SiamRPN++'s FLT loss computed per sample and averaged, with all anchors kept."""

    def __call__(self, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, Dict[str, float]]:
        template = to_model_input(batch["template"].to(self.device), "bgr255")
        search = to_model_input(batch["search"].to(self.device), "bgr255")
        cls, loc = self.net(template, search)
        targets = self.anchor_target(crop_xywh_to_anchor_xyxy(batch["search_box"].to(self.device).float()))
        losses = [siamrpn_loss(cls[j:j + 1], loc[j:j + 1], targets.cls[j:j + 1], targets.delta[j:j + 1],
                               targets.delta_weight[j:j + 1], cls_weight=self.cfg.cls_weight,
                               loc_weight=self.cfg.loc_weight).total for j in range(cls.shape[0])]
        loss = torch.stack(losses).mean()
        return loss, {"Loss/total": float(loss.detach())}


class PlainReplay:
    """The replay network pass as a plain callable (not a module): exercises the trainer's
    generic gradient all-reduce, the path of adapters without a ``replay_module``."""

    def __init__(self, core) -> None:
        self.core = core

    def __call__(self, template_input: torch.Tensor, search_input: torch.Tensor, steps: int):
        from pytracking.tracker.common.siamese_slt import repeat_rows
        feat = self.core.compute_template_features(template_input)
        return self.core.run_network(repeat_rows(feat, steps), search_input)


def use_sgd(trainer, lr: float) -> None:
    """Plain SGD: parameters then move linearly with the gradients, so a wrongly scaled gradient
    average shows (Adam would normalise it away)."""
    trainer.optimizer = torch.optim.SGD([p for p in trainer.net.parameters() if p.requires_grad], lr=lr)
    trainer.lr_scheduler = None


def save_params(trainer, path: Path) -> None:
    torch.save({k: v.detach().clone() for k, v in unwrap_ddp(trainer.net).state_dict().items()}, path)


def run_flt(out: Path, world: int, rank: int, batch: int, iterations: int) -> None:
    from ltr.train_settings.siamrpnpp import tiny
    settings = build_settings("siamrpnpp", "tiny", seed=3, device="cpu", workspace=str(out / "ws"), resume=False,
                              batch_size=batch // world, iterations_per_epoch=iterations, epochs=1,
                              print_interval=0)
    trainer = tiny.build_trainer(settings, quiet=True)
    use_sgd(trainer, lr=0.02)
    actor = trainer.actor
    cfg = dataclasses.replace(actor.cfg, pos_num=10 ** 6, total_num=2 * 10 ** 6)
    trainer.actor = PerSampleMeanActor(actor.net, cfg, device="cpu")
    save_params(trainer, out / f"flt_start_rank{rank}.pt")  # DDP has broadcast rank 0's random init
    trainer.train(1)
    save_params(trainer, out / f"flt_rank{rank}.pt")


def run_slt(out: Path, world: int, rank: int, episodes: int, iterations: int, start: str, mode: str) -> None:
    from ltr.train_settings.siamrpnpp import slt_tiny
    settings = build_settings("siamrpnpp", "slt_tiny", seed=5, device="cpu", workspace=str(out / f"ws_{mode}"),
                              resume=False, checkpoint=start, episodes_per_batch=episodes // world,
                              iterations_per_epoch=iterations, epochs=1, num_frames=5, box_weight=0.0,
                              replay_chunk=1, print_interval=0)
    if mode == "plain":
        import pytracking.tracker.common.siamese_slt as siamese_slt
        original = siamese_slt.SiameseReplayNet
        siamese_slt.SiameseReplayNet = PlainReplay  # type: ignore[misc,assignment]
        try:
            trainer = slt_tiny.build_trainer(settings, quiet=True)
        finally:
            siamese_slt.SiameseReplayNet = original  # type: ignore[misc]
        assert world == 1 or trainer.replay_ddp is None
    else:
        trainer = slt_tiny.build_trainer(settings, quiet=True)
        assert world == 1 or trainer.replay_ddp is not None
    use_sgd(trainer, lr=0.05)
    # Exploration is discontinuous in the parameters (argmax and sampled candidates): the float
    # difference of a first step can flip a later action, so the single-process comparison is
    # made after the first step and only the ranks' agreement after all steps.
    trainer.train(1, max_iterations=1)
    save_params(trainer, out / f"slt_{mode}_step1_rank{rank}.pt")
    trainer.train(1)
    save_params(trainer, out / f"slt_{mode}_rank{rank}.pt")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--start", required=True, help="SLT start checkpoint")
    parser.add_argument("--flt-batch", type=int, default=4, help="global FLT batch")
    parser.add_argument("--slt-episodes", type=int, default=4, help="global SLT episodes per iteration")
    parser.add_argument("--iterations", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out)
    torch.set_num_threads(1)
    try:
        rank, world, _ = distributed.init_distributed_from_env("cpu")
        run_flt(out, world, rank, args.flt_batch, args.iterations)
        for mode in ("module", "plain"):
            run_slt(out, world, rank, args.slt_episodes, args.iterations, args.start, mode)
    finally:
        distributed.cleanup()


if __name__ == "__main__":
    main()
