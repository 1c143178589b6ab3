"""Helpers every training setting uses: defaults that command-line overrides win over, DDP
wrapping under torchrun, and the run-with-resume entry."""
from __future__ import annotations

import torch

from ltr.admin import distributed
from ltr.admin.settings import Settings


def set_defaults(settings: Settings, **defaults) -> None:
    """Fill fields not already set (command-line overrides win)."""
    for key, value in defaults.items():
        if getattr(settings, key, None) is None:
            setattr(settings, key, value)


def wrap_ddp(net: torch.nn.Module, settings: Settings) -> torch.nn.Module:
    """DDP around ``net`` under torchrun (frame-level actors call the network's forward, so DDP
    averages their gradients); ``net`` itself in a single process."""
    if getattr(settings, "world_size", 1) > 1:
        return distributed.wrap_ddp(net, str(settings.device))
    return net


def run_trainer(trainer, settings: Settings) -> None:
    """Resume from ``latest.pth`` unless ``--no-resume``, then train ``settings.epochs`` epochs."""
    if settings.resume:
        trainer.load_checkpoint()
    trainer.train(settings.epochs)
