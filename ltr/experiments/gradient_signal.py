"""How much learning signal one SLT batch carries: gradient signal-to-noise of the SCST term and
of the box loss at a checkpoint.

    python ltr/run_experiment.py signal --tracker siamrpnpp --checkpoint FLT_START.pth [--setting slt_tiny]
        [--batches 24] [--set FIELD=VALUE ...] [--seed 0] [--threads 1] [--json FILE]

For N independent batches of the setting's episodes, the script explores once and replays twice
on the same rollouts and keeps each full parameter gradient: once with only the SCST term (weight
1, box terms off: ``box_weight`` 0) and once with the +SS objective (SCST weight 0: the tracker's
frame-level loss on the visited crops, classification included, as the loss table defines it).
``--set`` changes any field of the setting (e.g. ``--set temperature=2 --set
samples_per_episode=3 --set include_invisible=True``). From the N gradients of a term it
estimates the per-batch signal-to-noise ratio

    rho = ||E[g]||^2 / E[||g - E[g]||^2]

(the numerator unbiased: ||mean||^2 minus the trace of the covariance over N). 1 / rho is the
number of batches whose average gradient points along the expected direction as strongly as
the noise around it, i.e. about how many updates the term needs before it moves the weights more
than it jitters them. A term with rho near 0 at a checkpoint has no direction there that a few
hundred updates can follow; a converged frame-level loss is expected to look like that.
Frame-interval augmentation is off (the ``+SS`` / ``+SS+SO`` episodes of Table 5).

The printed table and ``--json`` hold, per term: mean gradient norm, rho, 1 / rho and the mean
cosine between the gradients of different batches, plus the rollouts' reward gap and how often
the sampled action differs from the argmax action (with ``candidate_set=local_maxima`` also the
mean number of candidates per sampled frame and the fraction of frames with two or more).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from ltr.admin.config import ConfigError
from ltr.admin.report import save_report, start_report

#: How this diagnostic is started (for the rerun command in its records).
SCRIPT = "ltr/run_experiment.py signal"
#: Loss weights (scst_weight, box_weight) of the two replays per batch: the self-critical term
#: alone, and the +SS objective (the frame-level loss on the sampled crops).
TERMS = {"scst": (1.0, 0.0), "frame": (0.0, 1.0)}
#: Explore statistics averaged over the batches and reported with the table.
EXPLORE_STATS = ("reward/argmax", "reward/sample", "advantage/abs_mean", "actions/sample_differs")


def gradient_snr(grads: torch.Tensor) -> Dict[str, float]:
    """Signal-to-noise of N gradient samples ``grads`` (N, P), N >= 2, drawn independently.

    Returns ``snr`` (per-sample ||E g||^2 / E||g - E g||^2, unbiased numerator; may be slightly
    negative when the signal is below what N samples resolve), ``samples_for_snr_1`` (1 / snr, inf
    when snr <= 0), ``mean_cosine`` (mean cosine similarity over pairs of different samples) and
    ``mean_norm``.
    """
    if grads.dim() != 2 or grads.shape[0] < 2:
        raise ValueError(f"grads must be (N >= 2, P), got shape {tuple(grads.shape)}")
    g = grads.double()
    n = g.shape[0]
    mean = g.mean(0)
    noise = ((g - mean) ** 2).sum() / (n - 1)
    signal = (mean ** 2).sum() - noise / n
    snr = float(signal / noise) if noise > 0 else float("inf")
    unit = g / g.norm(dim=1, keepdim=True).clamp_min(1e-30)
    cos = unit @ unit.T
    mean_cos = float((cos.sum() - cos.diagonal().sum()) / (n * (n - 1)))
    return {"snr": snr, "samples_for_snr_1": 1.0 / snr if snr > 0 else float("inf"),
            "mean_cosine": mean_cos, "mean_norm": float(g.norm(dim=1).mean())}


def candidate_stats(steps: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """With a restricted candidate set (``candidate_set=local_maxima``): the mean number of candidates
    per sampled frame and the fraction of sampled frames with at least two (only those can differ
    from the argmax); empty otherwise."""
    if "candidates" not in steps:
        return {}
    count = (steps["candidates"] >= 0).sum(dim=-1).float()
    return {"candidates/count": float(count.mean()), "candidates/multiple": float((count >= 2).float().mean())}


def flat_grad(params: Sequence[torch.nn.Parameter]) -> torch.Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1) for p in params])


def batches(trainer):
    """``(epoch, iteration, batch)`` of the trainer's batches, epoch after epoch (a tiny recipe's
    epoch is short), so each batch explores with the generator of its own iteration."""
    epoch = trainer.epoch
    while True:
        for iteration, batch in enumerate(trainer.batches(0, epoch=epoch)):
            yield epoch, iteration, batch
        epoch += 1


def build_trainer(args):
    from ltr.experiments.slt_vs_flt import make_settings, setting_module

    module = setting_module(args.tracker, args.setting)
    settings = make_settings(module, args.setting, Path(args.workdir), args.seed, args.checkpoint,
                             args.assignments, {"interval_prob": 0.0})
    trainer = module.build_trainer(settings, quiet=True)
    adapter = trainer.actor.adapter
    if not all(hasattr(adapter, name) for name in ("scst_weight", "box_weight")):
        raise SystemExit(f"{type(adapter).__name__} has no scst_weight/box_weight attributes: this diagnostic "
                         "switches the two loss terms through them.")
    return trainer, settings


def measure(trainer, num_batches: int) -> Dict[str, object]:
    """Explore ``num_batches`` batches, replay each once per term, and summarise the gradients."""
    adapter = trainer.actor.adapter
    params = [p for p in trainer.net.parameters() if p.requires_grad]
    saved = adapter.scst_weight, adapter.box_weight
    grads: Dict[str, List[torch.Tensor]] = {name: [] for name in TERMS}
    stats: Dict[str, float] = {name: 0.0 for name in EXPLORE_STATS}
    trainer.set_training_mode()  # the SLT actor's mode, the one explore and replay run in
    source = batches(trainer)
    try:
        for _ in range(num_batches):
            epoch, iteration, batch = next(source)
            rollouts = trainer.actor.explore(batch, trainer.exploration_generator(epoch=epoch, iteration=iteration))
            for name, (scst_weight, box_weight) in TERMS.items():
                adapter.scst_weight, adapter.box_weight = scst_weight, box_weight
                trainer.optimizer.zero_grad(set_to_none=True)
                trainer.actor.replay(rollouts)
                grads[name].append(flat_grad(params))
            for name in EXPLORE_STATS:
                stats[name] += float(rollouts.stats.get(name, float("nan"))) / num_batches
            for name, value in candidate_stats(rollouts.records.steps).items():
                stats[name] = stats.get(name, 0.0) + value / num_batches
    finally:
        adapter.scst_weight, adapter.box_weight = saved
        trainer.optimizer.zero_grad(set_to_none=True)
    return {"terms": {name: gradient_snr(torch.stack(g)) for name, g in grads.items()}, "explore": stats}


def format_table(result: Dict[str, object]) -> str:
    lines = [f"{'term':6s} {'grad norm':>10s} {'SNR/batch':>10s} {'batches for SNR 1':>18s} {'mean cos':>9s}"]
    for name, row in result["terms"].items():
        lines.append(f"{name:6s} {row['mean_norm']:10.4f} {row['snr']:10.4f} {row['samples_for_snr_1']:18.1f} "
                     f"{row['mean_cosine']:9.4f}")
    explore = result["explore"]
    lines.append("explore: " + ", ".join(f"{k} {v:.3f}" for k, v in explore.items()))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracker", default="siamrpnpp")
    parser.add_argument("--setting", default="slt_tiny", help="SLT training setting of the tracker")
    parser.add_argument("--checkpoint", required=True, help="the weights to measure at (e.g. an FLT start)")
    parser.add_argument("--batches", type=int, default=24, help="independent batches (at least 2)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="assignments",
                        help="change a field of the setting (repeatable), e.g. --set temperature=2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", default="workspace/slt_signal", help="scratch folder of the trainer")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    args.device = "cpu"
    if args.batches < 2:
        parser.error(f"--batches must be at least 2 to estimate the noise, got {args.batches}")
    if not Path(args.checkpoint).is_file():
        parser.error(f"--checkpoint {args.checkpoint}: no such file")
    machine, command = start_report(args, SCRIPT, argv)
    try:
        trainer, settings = build_trainer(args)
    except ConfigError as error:
        parser.error(str(error))
    tic = time.perf_counter()
    result = measure(trainer, args.batches)
    seconds = time.perf_counter() - tic
    config = {"tracker": args.tracker, "setting": args.setting, "checkpoint": str(args.checkpoint),
              "batches": args.batches, "episodes": settings.episodes_per_batch,
              "samples_per_episode": settings.samples_per_episode, "T": settings.num_frames,
              "temperature": settings.temperature, "include_invisible": settings.include_invisible,
              "assignments": args.assignments, "seed": args.seed}
    print(f"\n{args.batches} batches of {config['episodes']} episodes x {config['samples_per_episode']} "
          f"sampled rollouts x T = {config['T']}, temperature {config['temperature']:g} ({seconds:.0f} s)")
    table = format_table(result)
    print(table)
    save_report(args.json, {"benchmark": "slt_signal", "machine": machine, "command": command, "config": config,
                            "seconds": seconds, **result, "table": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
