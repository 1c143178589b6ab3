"""The TransT online tracker on synthetic videos (random tiny weights)."""
import math

import numpy as np
import pytest
import torch

from ltr.admin.checkpoint import save_checkpoint
from ltr.dataset.synthetic import SyntheticConfig, generate_video
from ltr.models.registry import build_network
from ltr.models.tracking.transt import TransTConfig
from ltr.models.tracking.transt import crop_sizes
from pytracking.parameter.transt import tiny as tiny_params
from pytracking.parameter.transt import transt as paper_params
from pytracking.tracker import resolve_tracker
from pytracking.tracker.transt.core import TransTCore
from pytracking.tracker.transt.transt import TransT, build_core


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_network("transt", "tiny").eval()


def _run(tracker, video):
    frames = video.frames
    tracker.initialize(frames[0], {"init_bbox": video.boxes[0].tolist()})
    return [tracker.track(frames[t]) for t in range(1, len(frames))]


def test_boxes_are_finite_and_clipped_to_the_image(net):
    video = generate_video(3, SyntheticConfig(num_frames=12))
    params = tiny_params.parameters()
    tracker = TransT(params, core=TransTCore(net, TransTConfig.tiny()))
    outs = _run(tracker, video)
    h, w = video.frames[0].shape[:2]
    for out in outs:
        x, y, bw, bh = out["target_bbox"]
        assert all(math.isfinite(v) for v in (x, y, bw, bh))
        cx, cy = x + bw / 2, y + bh / 2
        # the official clip: centre inside [0, W] x [0, H], sides in [10, image side]
        assert -1e-6 <= cx <= w + 1e-6 and -1e-6 <= cy <= h + 1e-6
        assert 10 - 1e-6 <= bw <= w + 1e-6 and 10 - 1e-6 <= bh <= h + 1e-6


def test_debug_outputs_for_the_live_view(net):
    video = generate_video(4, SyntheticConfig(num_frames=3))
    params = tiny_params.parameters()
    params.debug = 1
    tracker = TransT(params, core=TransTCore(net, TransTConfig.tiny()))
    out = _run(tracker, video)[-1]
    cfg = TransTConfig.tiny()
    assert out["score_map"].shape == (cfg.score_size, cfg.score_size)
    assert out["search_crop"].shape == (cfg.search_size, cfg.search_size, 3)
    assert out["search_crop"].dtype == np.uint8
    assert 0 <= out["info"]["index"] < cfg.num_candidates
    assert out["info"]["max_pscore"] == pytest.approx(float(out["score_map"].max()), abs=1e-6)


def test_search_crop_follows_the_official_context_formula(net):
    # search side s_x = ceil(sqrt((w + 1.5(w+h)) (h + 1.5(w+h)))) around the previous centre
    video = generate_video(5, SyntheticConfig(num_frames=2))
    tracker = TransT(tiny_params.parameters(), core=TransTCore(net, TransTConfig.tiny()))
    tracker.initialize(video.frames[0], {"init_bbox": video.boxes[0].tolist()})
    w, h = (float(v) for v in video.boxes[0][2:])
    result = tracker.core.search([video.frames[1]])
    expected = math.ceil(math.sqrt((w + 1.5 * (w + h)) * (h + 1.5 * (w + h))))
    assert float(result.crop_side[0]) == expected
    s_z, _ = crop_sizes(torch.tensor([w, h]), TransTConfig.tiny())
    assert float(s_z) == math.ceil(math.sqrt((w + 0.5 * (w + h)) * (h + 0.5 * (w + h))))


def test_tracker_resolves_and_loads_a_project_checkpoint(net, tmp_path):
    entry = resolve_tracker("transt")
    assert entry.tracker_class is TransT
    assert {"transt", "tiny"} <= set(entry.parameter_sets())
    path = save_checkpoint(tmp_path / "transt_tiny.pth", net.state_dict(), tracker="transt", size="tiny")
    params = tiny_params.parameters()
    params.checkpoint = str(path)
    params.window_influence = 0.3
    core = build_core(params)
    assert core.cfg.window_influence == 0.3 and core.cfg.search_size == 128
    video = generate_video(6, SyntheticConfig(num_frames=4))
    ours = _run(TransT(params, core=core), video)
    core_ref = TransTCore(net, TransTConfig.tiny())
    core_ref.cfg.window_influence = 0.3
    ref = _run(TransT(params, core=core_ref), video)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a["target_bbox"], b["target_bbox"], atol=1e-4)


def test_missing_checkpoint_is_a_clear_error():
    params = paper_params.parameters()
    assert params.window_influence == 0.49 and params.search_factor == 4.0 and params.template_factor == 2.0
    with pytest.raises(FileNotFoundError, match="--checkpoint"):
        build_core(params)
