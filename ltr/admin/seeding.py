"""Seeding the global random generators that model construction and augmentation draw from."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch's default generator.

    torch's default generator starts from a random seed in every process, so a network built
    without this (random initial weights) differs from run to run even under the same ``--seed``.
    """
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
