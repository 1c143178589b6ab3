"""Official OSTrack checkpoints (``OSTrack_ep0300.pth.tar``): safe import, inspect/convert, tracking.

The fake containers pickle OSTrack's own ``lib.train.admin.*`` classes and a ``torch.device`` by
name (no such module exists here); their weights follow the manifests with stride-0 tensors.
"""
import json
import sys

import numpy as np
import pytest
import torch

from ltr.admin.checkpoint import load_checkpoint
from ltr.admin.loading import compare_with_manifest, load_official_checkpoint, main
from ltr.models.registry import load_network
from tests.fixtures_checkpoints import manifest_state_dict, ostrack_container, torch_save


def _official_file(tmp_path, variant="256", **state_kwargs):
    state = manifest_state_dict("ostrack", variant=variant, **state_kwargs)
    return torch_save(ostrack_container(state), tmp_path / f"OSTrack_{variant}_ep0300.pth.tar")


@pytest.mark.parametrize("variant, size", [("256", "paper"), ("384", "paper384")])
def test_inspect_reports_ostrack_and_its_variant_without_importing_lib(tmp_path, capsys, variant, size):
    path = _official_file(tmp_path, variant)
    assert main(["inspect", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["format"], report["tracker"], report["variant"], report["tensors"]) == (
        "pytracking", "ostrack", variant, 242)
    assert report["missing"] == report["unexpected"] == report["mismatched"] == []
    checkpoint = load_official_checkpoint(path)
    assert checkpoint.meta["net_type"] == "OSTrack" and checkpoint.meta["size"] == size
    assert checkpoint.meta["epoch"] == 300
    assert not any(name == "lib" or name.startswith("lib.") for name in sys.modules)  # nothing from the file ran


def test_a_384_file_compared_with_the_256_manifest_shows_the_position_embeddings(tmp_path):
    state = manifest_state_dict("ostrack", variant="384")
    _, _, mismatched = compare_with_manifest(state, "ostrack", variant="256")
    assert {key for key, _, _ in mismatched} == {"backbone.pos_embed_z", "backbone.pos_embed_x"}
    assert compare_with_manifest(state, "ostrack") == ([], [], [])     # variant detected from the shapes


def test_convert_writes_a_project_checkpoint_that_loads_strictly(tmp_path, capsys):
    path = _official_file(tmp_path, random_keys=["box_head.conv5_ctr.weight"])
    out = tmp_path / "ostrack.pth"
    assert main(["convert", str(path), str(out), "--strict"]) == 0
    converted = load_checkpoint(out)
    assert (converted["tracker"], converted["size"], converted["epoch"]) == ("ostrack", "paper", 300)
    assert converted["imported_from"]["net_type"] == "OSTrack"
    assert len(converted["net"]) == 242
    original = load_official_checkpoint(path).state_dict["box_head.conv5_ctr.weight"]
    torch.testing.assert_close(converted["net"]["box_head.conv5_ctr.weight"], original)


def test_tracking_with_an_imported_official_file(tmp_path):
    """The official container itself (no conversion) builds the paper model and tracks."""
    from pytracking.parameter.ostrack import ostrack as param_set
    from pytracking.tracker.ostrack.ostrack import OSTrack

    path = _official_file(tmp_path, random_keys=["box_head.conv5_size.bias", "box_head.conv5_offset.bias"])
    params = param_set.parameters()
    params.checkpoint = str(path)
    params.device = "cpu"
    tracker = OSTrack(params)
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    tracker.initialize(image, {"init_bbox": [100.0, 80.0, 40.0, 30.0]})
    box = tracker.track(image)["target_bbox"]
    assert all(np.isfinite(box)) and box[2] >= 10 and box[3] >= 10
    with pytest.raises(ValueError, match="'paper384'"):
        load_network(str(path), tracker="ostrack", size="paper384")
