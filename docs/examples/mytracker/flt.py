"""Frame-level training (FLT) of the example tracker: the tracker's own trainer, outside ltr/train_settings.

    python -m docs.examples.mytracker.flt --out flt.pth --iterations 200

SLT fine-tunes a frame-level checkpoint, and the generic SLT setting only needs that file: a
project checkpoint (:func:`ltr.admin.checkpoint.save_checkpoint`) whose ``tracker`` is the
registered network name and whose ``size`` is the network size, so
:func:`ltr.models.registry.load_network` rebuilds the network from it. How the weights were
learnt is the tracker's business; here: search crops centred on a jittered ground truth of
synthetic videos, cross-entropy on the candidate nearest the target plus the offset L1.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Union

import torch

from ltr.admin.checkpoint import save_checkpoint
from ltr.dataset.synthetic import SyntheticConfig, SyntheticVideoDataset
from ltr.models.registry import build_network
from slt_plugins.sampler import SequenceSampler

from .model import MyTrackerCore, classification_loss, offset_loss
from .tracker import NAME

__all__ = ["train_flt", "main"]


def train_flt(out: Union[str, Path], size: str = "tiny", iterations: int = 200, batch_size: int = 8,
              lr: float = 1e-3, jitter: float = 0.5, image_size: int = 64, seed: int = 0,
              device: str = "cpu") -> Path:
    """Train a fresh ``mytracker`` network frame by frame and write it to ``out``.

    Args:
        out: checkpoint file to write (a project checkpoint, see the module docstring).
        size: network size, 'tiny' or 'paper'.
        iterations: optimiser steps.
        batch_size: (template, search) pairs per step.
        lr: Adam learning rate.
        jitter: largest shift of the search-crop centre from the target centre, in units of the
            target size sqrt(w h), so the network learns to find a target off the crop centre.
        image_size: side of the synthetic frames in pixels.
        seed: seed of the weights, the videos and the jitter.
        device: 'cpu' or 'cuda:N'.
    Returns:
        The path written.
    """
    torch.manual_seed(seed)
    net = build_network(NAME, size).to(device).train()
    core = MyTrackerCore(net, device=device)
    videos = SyntheticVideoDataset("train", seed=seed, config=SyntheticConfig(image_size=(image_size, image_size)))
    pairs = SequenceSampler([videos], num_episodes=iterations * batch_size, num_frames=1, max_gap=20,
                            max_interval=1, interval_prob=0.0, seed=seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    loss = torch.zeros(())
    for it in range(iterations):
        episodes = [pairs[it * batch_size + i] for i in range(batch_size)]
        templates = torch.stack([e.template_box_xywh for e in episodes]).float()
        gt = torch.stack([e.boxes_xywh[0] for e in episodes]).float()
        shift = (torch.rand(batch_size, 2, generator=generator) * 2 - 1) * jitter
        start = gt.clone()
        start[:, :2] += shift * (gt[:, 2] * gt[:, 3]).sqrt().unsqueeze(1)
        core.initialize([e.template_frame for e in episodes], templates, start_boxes_xywh=start)
        result = core.search([e.frames[0] for e in episodes])
        gt_crop = result.to_crop(gt)
        visible = torch.stack([e.visible[0] for e in episodes]).to(device)
        loss = classification_loss(result.logits, gt_crop, visible) + offset_loss(result.offsets, gt_crop, visible)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return save_checkpoint(out, net.state_dict(), tracker=NAME, size=size, epoch=1, iteration=iterations,
                           stats={"loss": float(loss.detach())})


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="checkpoint file to write")
    parser.add_argument("--size", default="tiny", choices=("tiny", "paper"))
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    path = train_flt(args.out, size=args.size, iterations=args.iterations, batch_size=args.batch_size,
                     seed=args.seed, device=args.device)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
