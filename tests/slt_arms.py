"""Shared checks of which loss terms each SLT arm computes, for any adapter with a loss table.

An adapter under test exposes ``loss_table`` (:class:`slt_plugins.losses.SLTLossTable`) and the
attributes ``scst_weight`` and ``so_mode``, read at every replay. The checks replay the same
recorded rollouts under each arm and look at the reported terms, the total and the gradient
that reaches the classification branch of the network.
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy as np
import pytest
import torch

from slt_plugins.adapter import LossOutput, ReplayRecords, stack_records


def sampled_records(adapter, videos: Sequence, seed: int = 0) -> ReplayRecords:
    """Replay records of one sampling tracker per video (all frames after the first, all visible)."""
    def boxes(t: int) -> torch.Tensor:
        return torch.tensor(np.stack([v.boxes[t] for v in videos]))

    num = len(videos)
    generators = [torch.Generator().manual_seed(seed + i) for i in range(num)]
    with torch.no_grad():
        init = adapter.initialize([v.frames[0] for v in videos], boxes(0))
        steps = [adapter.step([v.frames[t] for v in videos], torch.ones(num, dtype=torch.bool), generators,
                              boxes(t)).record for t in range(1, videos[0].num_frames)]
    return ReplayRecords(init=init, steps=stack_records(steps),
                         visible=torch.ones(num, len(steps), dtype=torch.bool))


def replay_with_gradients(adapter, records: ReplayRecords, advantage: torch.Tensor,
                          is_classification: Callable[[str], bool], seed: int = 0) -> Tuple[LossOutput, float]:
    """One replay and backward; returns the loss and the summed |gradient| on the classification parameters."""
    net = adapter.net
    net.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # anchor targets draw random subsets of anchors
    out = adapter.replay_loss(records, advantage)
    out.total.backward()
    grads = [p.grad for n, p in net.named_parameters() if is_classification(n) and p.grad is not None]
    size = sum(float(g.abs().sum()) for g in grads)
    net.zero_grad(set_to_none=True)
    return out, size


def _approx(value: float):
    return pytest.approx(value, rel=1e-5, abs=1e-7)


def _expected_total(out: LossOutput, weights: Dict[str, float]) -> float:
    """The total an arm must report: its weights times the reported unweighted terms."""
    return sum(w * (float(out.scst) if term == "scst" else out.stats[f"Loss/{term}"]) for term, w in weights.items())


def check_arm_terms(adapter, records: ReplayRecords, is_classification: Callable[[str], bool]) -> None:
    """Assert the terms, totals and classification gradients of '+SS', '+SS+SO' and ``so_mode='add'``.

    ``is_classification(name)`` tells the parameters that only the classification branch (the
    scores the policy samples from) uses; the box terms must not reach them.
    """
    table = adapter.loss_table
    classification = {f"Loss/{t}" for t in table.classification_terms}
    box = {f"Loss/{t}" for t in table.slt_weights}
    saved = adapter.scst_weight, adapter.so_mode
    rollouts = records.num_rollouts
    zero, one = torch.zeros(rollouts), torch.ones(rollouts)
    try:
        # +SS: the full frame-level loss at the FLT weights, the SCST term out of the total even with A = 1.
        adapter.scst_weight, adapter.so_mode = 0.0, "replace"
        out, grad = replay_with_gradients(adapter, records, one, is_classification)
        assert {f"Loss/{t}" for t in table.flt_weights} <= set(out.stats)
        assert float(out.total.detach()) == _approx(_expected_total(out, dict(table.flt_weights)))
        assert grad > 0, "+SS must train the classification branch through its frame-level loss"

        # +SS+SO (replace): SCST instead of the classification terms; with A = 0 nothing reaches that branch.
        adapter.scst_weight = table.scst_weight
        out, grad = replay_with_gradients(adapter, records, zero, is_classification)
        assert not classification & set(out.stats), "replace mode computed a classification term"
        assert box <= set(out.stats)
        expected = {"scst": table.scst_weight, **table.slt_weights}
        assert float(out.total.detach()) == _approx(_expected_total(out, expected))
        assert grad == 0.0, "replace mode reached the classification branch without an advantage"

        # add: the classification terms at their FLT weights beside SCST.
        adapter.so_mode = "add"
        out, grad = replay_with_gradients(adapter, records, zero, is_classification)
        assert classification <= set(out.stats) and box <= set(out.stats)
        expected.update({t: table.flt_weights[t] for t in table.classification_terms})
        assert float(out.total.detach()) == _approx(_expected_total(out, expected))
        assert grad > 0, "add mode must keep the classification loss"
    finally:
        adapter.scst_weight, adapter.so_mode = saved


def check_argmax_rollout_matches_run_tracker(tracker: str, net: torch.nn.Module, make_adapter: Callable[[], object],
                                             tmp_path) -> None:
    """The adapter's argmax rollout reproduces what ``run_tracker.py TRACKER tiny synthetic`` writes
    with ``net``'s weights, frame for frame, on two generated videos.

    ``make_adapter()`` builds a fresh adapter around ``net`` (one rollout per episode: batching other
    episodes in changes float sums in the last bits; the batched tests cover lockstep execution).
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ltr.admin.checkpoint import save_checkpoint
    from ltr.data.image_loader import imread_rgb
    from ltr.dataset.synthetic import SyntheticConfig
    from ltr.util_scripts.make_synthetic import write_got10k_layout
    from pytracking.analysis.results_io import load_result_file
    from pytracking.evaluation.datasets import get_dataset

    root = tmp_path / "data"
    write_got10k_layout(root, "test", num_videos=2, frames=8, seed=3, config=SyntheticConfig(num_frames=8), quiet=True)
    checkpoint = tmp_path / "tiny.pth"
    save_checkpoint(checkpoint, net.state_dict(), tracker=tracker, size="tiny")
    results = tmp_path / "results"
    repo = Path(__file__).resolve().parents[1]
    # Same thread count as this process: float sums (and so near-tie decisions) depend on it.
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    subprocess.run([sys.executable, str(repo / "pytracking" / "run_tracker.py"), tracker, "tiny", "synthetic",
                    "--dataset-root", str(root), "--checkpoint", str(checkpoint), "--results-dir", str(results)],
                   check=True, cwd=str(repo), capture_output=True, env=env)
    sequences = list(get_dataset("synthetic", root=str(root)))
    files = {p.stem: p for p in results.rglob("*.txt") if not p.stem.endswith("_time")}
    assert set(files) == {s.name for s in sequences}
    for seq in sequences:
        adapter = make_adapter()
        frames = [imread_rgb(f) for f in seq.frames]
        gt = torch.tensor(seq.ground_truth_rect)
        with torch.no_grad():
            adapter.initialize([frames[0]], gt[:1])
            boxes = [gt[0].float()]
            for t in range(1, len(frames)):
                out = adapter.step([frames[t]], torch.zeros(1, dtype=torch.bool), None, gt[t:t + 1])
                boxes.append(out.boxes_xywh[0])
        written = load_result_file(files[seq.name], num_frames=len(seq.frames))
        np.testing.assert_allclose(torch.stack(boxes).numpy(), written, atol=1e-3)
