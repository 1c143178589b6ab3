"""SiamAttn on the SLT seam and end to end: the argmax rollout is the test-time tracker (in lockstep and
against run_tracker's result files), replay reproduces explore's log-probabilities, the arms compute
the loss table's terms, and tiny FLT -> SLT -> run_tracker -> run_analysis runs as a chain."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr.dataset.synthetic import SyntheticConfig, generate_video
from ltr.models.registry import build_network
from ltr.models.tracking.siamattn import SiamAttnConfig
from pytracking.tracker.siamattn.core import SiamAttnCore
from pytracking.tracker.siamattn.siamattn import SiamAttnTracker
from pytracking.tracker.siamattn.slt_adapter import LOSS_TABLE, SiamAttnSLTAdapter
from pytracking.utils.params import TrackerParams
from slt_plugins.adapter import ReplayRecords, stack_records
from slt_plugins.policy import LogitSoftmaxPolicy
from tests.slt_arms import check_arm_terms, sampled_records

REPO = Path(__file__).resolve().parents[1]


def _videos(n, frames=6, seed=0):
    cfg = SyntheticConfig(num_frames=frames)
    return [generate_video(seed + i, cfg) for i in range(n)]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = build_network("siamattn", "tiny").eval()
    # As for SiamRPN++: spread the cls logits (a well-defined argmax) and damp the box deltas and the
    # refinement (steady boxes), so float noise between batch sizes cannot flip decisions.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".cls.head.3." in name:
                param.mul_(30.0)
            if ".loc.head.3." in name or "tail_det_box" in name:
                param.mul_(0.1)
    return model


def _adapter(net, temperature=8.0, **kwargs):
    return SiamAttnSLTAdapter(SiamAttnCore(net, SiamAttnConfig.tiny()), LogitSoftmaxPolicy(temperature, 0.01), **kwargs)


def _tracker_outputs(net, video):
    tracker = SiamAttnTracker(TrackerParams(model_size="tiny"), core=SiamAttnCore(net, SiamAttnConfig.tiny()))
    tracker.initialize(video.frames[0], {"init_bbox": video.boxes[0].tolist()})
    return [tracker.track(video.frames[t]) for t in range(1, len(video.frames))]


def test_tracker_reports_the_state_box_and_a_mask_polygon(net):
    video = _videos(1, seed=7)[0]
    outs = _tracker_outputs(net, video)
    h, w = video.frames[0].shape[:2]
    for out in outs:
        x, y, bw, bh = out["target_bbox"]
        assert bw >= 10 and bh >= 10 and -bw / 2 <= x <= w and -bh / 2 <= y <= h
        assert len(out["polygon"]) == 8 and all(math.isfinite(v) for v in out["polygon"])


def test_refine_moves_the_box_from_the_chosen_anchor(net):
    """The state follows the refined box: a refine head with a constant +dx moves the centre right."""
    video = _videos(1, frames=3, seed=8)[0]
    shifted = build_network("siamattn", "tiny").eval()
    shifted.load_state_dict(net.state_dict())
    with torch.no_grad():
        shifted.refine_head.tail_det_box.weight.zero_()
        shifted.refine_head.tail_det_box.bias.copy_(torch.tensor([5.0, 0.0, 0.0, 0.0]))  # dx = 0.5 w
    plain = _tracker_outputs(net, video)[0]["target_bbox"]
    moved = _tracker_outputs(shifted, video)[0]["target_bbox"]
    assert moved[0] > plain[0] + 2.0


def test_batched_argmax_rollout_equals_test_time_tracker(net):
    videos = _videos(3)
    adapter = _adapter(net)
    frames = [v.frames for v in videos]
    with torch.no_grad():
        adapter.initialize([f[0] for f in frames], torch.tensor(np.stack([v.boxes[0] for v in videos])))
        boxes = []
        for t in range(1, videos[0].num_frames):
            out = adapter.step([f[t] for f in frames], torch.zeros(3, dtype=torch.bool), None,
                               torch.tensor(np.stack([v.boxes[t] for v in videos])))
            boxes.append(out.boxes_xywh)
    batched = torch.stack(boxes, dim=1)
    for i, video in enumerate(videos):
        expected = torch.tensor([o["target_bbox"] for o in _tracker_outputs(net, video)]).float()
        torch.testing.assert_close(batched[i], expected, atol=1e-3, rtol=0)


def test_replayed_log_probs_equal_explore_log_probs_and_replay_has_gradients(net):
    adapter = _adapter(net, temperature=4.0, box_weight=0.0)
    video = _videos(1, frames=4, seed=20)[0]
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        init = adapter.initialize([video.frames[0]], torch.tensor(video.boxes[:1]))
        outs = [adapter.step([video.frames[t]], torch.tensor([True]), gen, torch.tensor(video.boxes[t:t + 1]))
                for t in range(1, 4)]
    explore_logp = torch.stack([o.log_prob for o in outs], dim=1)
    records = ReplayRecords(init=init, steps=stack_records([o.record for o in outs]),
                            visible=torch.ones(1, 3, dtype=torch.bool))
    loss = adapter.replay_loss(records, torch.tensor([1.0]))
    torch.testing.assert_close(loss.scst, -explore_logp.mean(), atol=1e-4, rtol=1e-4)
    adapter.box_weight = 1.0
    net.zero_grad(set_to_none=True)
    loss = adapter.replay_loss(records, torch.tensor([0.5]))
    loss.total.backward()
    assert set(loss.stats) >= {"Loss/loc", "Loss/refine", "Loss/mask"} and "Loss/cls" not in loss.stats
    assert float(net.refine_head.tail_det_box.weight.grad.abs().sum()) > 0
    net.zero_grad(set_to_none=True)


def test_each_arm_computes_the_terms_of_the_loss_table(net):
    adapter = _adapter(net, temperature=4.0)
    assert adapter.loss_table is LOSS_TABLE and adapter.scst_weight == 1.0
    assert adapter.loss_weights() == {"scst": 1.0, "loc": 0.5, "refine": 0.5, "mask": 0.2}
    records = sampled_records(adapter, _videos(2, frames=4, seed=40))
    check_arm_terms(adapter, records, lambda name: name.startswith("rpn_head.") and "cls" in name)


def test_argmax_rollout_equals_run_tracker_result_files(net, tmp_path):
    """The adapter's argmax rollout reproduces what `run_tracker.py siamattn tiny` writes, frame for frame."""
    from ltr.admin.checkpoint import save_checkpoint
    from ltr.data.image_loader import imread_rgb
    from ltr.util_scripts.make_synthetic import write_got10k_layout
    from pytracking.analysis.results_io import load_result_file
    from pytracking.evaluation.datasets import get_dataset

    root = tmp_path / "data"
    write_got10k_layout(root, "test", num_videos=2, frames=8, seed=3, config=SyntheticConfig(num_frames=8), quiet=True)
    checkpoint = tmp_path / "tiny.pth"
    save_checkpoint(checkpoint, net.state_dict(), tracker="siamattn", size="tiny")
    results = tmp_path / "results"
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    subprocess.run([sys.executable, str(REPO / "pytracking" / "run_tracker.py"), "siamattn", "tiny", "synthetic",
                    "--dataset-root", str(root), "--checkpoint", str(checkpoint), "--results-dir", str(results)],
                   check=True, cwd=str(REPO), capture_output=True, env=env)
    sequences = list(get_dataset("synthetic", root=str(root)))
    files = {p.stem: p for p in results.rglob("*.txt") if not p.stem.endswith("_time")}
    assert set(files) == {s.name for s in sequences}
    for seq in sequences:
        adapter = _adapter(net)
        frames = [imread_rgb(f) for f in seq.frames]
        gt = torch.tensor(seq.ground_truth_rect)
        with torch.no_grad():
            adapter.initialize([frames[0]], gt[:1])
            boxes = [gt[0].float()]
            for t in range(1, len(frames)):
                boxes.append(adapter.step([frames[t]], torch.zeros(1, dtype=torch.bool), None, gt[t:t + 1]).boxes_xywh[0])
        written = load_result_file(files[seq.name], num_frames=len(seq.frames))
        np.testing.assert_allclose(torch.stack(boxes).numpy(), written, atol=1e-3)


def test_tiny_flt_slt_run_tracker_run_analysis_chain(tmp_path, monkeypatch, capsys):
    from ltr.admin.checkpoint import load_checkpoint
    from ltr.run_training import run_training
    from ltr.util_scripts.make_synthetic import write_got10k_layout
    from pytracking.analysis.cli import main as analysis_main
    from pytracking.run_tracker import main as tracker_main

    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path))
    run_training("siamattn", "tiny", workspace=str(tmp_path), resume=False, epochs=1, iterations_per_epoch=2,
                 batch_size=4)
    flt = tmp_path / "checkpoints" / "siamattn" / "tiny" / "latest.pth"
    flt_state = load_checkpoint(flt)
    assert (flt_state["tracker"], flt_state["size"], flt_state["epoch"]) == ("siamattn", "tiny", 1)
    run_training("siamattn", "slt_tiny", workspace=str(tmp_path), resume=False, checkpoint=str(flt), epochs=1,
                 iterations_per_epoch=1, episodes_per_batch=2, num_frames=4)
    slt = tmp_path / "checkpoints" / "siamattn" / "slt_tiny" / "latest.pth"
    slt_state = load_checkpoint(slt)
    record = slt_state["stats"]["history"][-1]
    for key in ("Loss/total", "Loss/scst", "Loss/refine", "reward/argmax", "reward/sample", "grad_norm"):
        assert math.isfinite(record[key]), key
    assert any(v.is_floating_point() and not torch.equal(v, flt_state["net"][k]) for k, v in slt_state["net"].items())

    root = tmp_path / "data"
    write_got10k_layout(root, "test", num_videos=2, frames=6, seed=5, config=SyntheticConfig(num_frames=6), quiet=True)
    results = tmp_path / "results"
    assert tracker_main(["siamattn", "tiny", "synthetic", "--dataset-root", str(root), "--checkpoint", str(slt),
                         "--results-dir", str(results)]) == 0
    capsys.readouterr()
    out_json = tmp_path / "scores.json"
    assert analysis_main(["--dataset", "synthetic", "--dataset-root", str(root), "--results-dir",
                          str(results / "siamattn" / "tiny"), "--json", str(out_json)]) == 0
    scores = json.loads(out_json.read_text())
    assert 0.0 <= scores["AO"] <= 100.0 and 0.0 <= scores["AUC"] <= 100.0


def test_mask_is_warped_over_its_roi_and_gives_the_rotated_rectangle():
    from pytracking.tracker.siamattn.mask import box_polygon, mask_polygon, warp_mask_to_image

    # Crop of side 100 px centred at image point (60, 50), 2 crop pixels per image pixel: the RoI
    # [40, 30, 80, 70] of the crop is the image region x in [55, 75), y in [40, 60).
    image_mask = warp_mask_to_image(np.ones((16, 16), np.float32), [40.0, 30.0, 80.0, 70.0], [60.0, 50.0],
                                    2.0, 100, (100, 120))
    rows, cols = np.nonzero(image_mask > 0.5)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (55, 74, 40, 59)
    polygon = np.array(mask_polygon(image_mask, 0.5, [0, 0, 10, 10])).reshape(4, 2)
    np.testing.assert_allclose(np.sort(polygon[:, 0])[[0, -1]], [55, 74], atol=1)
    np.testing.assert_allclose(np.sort(polygon[:, 1])[[0, -1]], [40, 59], atol=1)
    # A mask below the area limit falls back to the box's corners.
    assert mask_polygon(np.zeros((100, 120), np.float32), 0.5, [1, 2, 3, 4]) == box_polygon([1, 2, 3, 4])
