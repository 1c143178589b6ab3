"""Importing official checkpoints: restricted unpickling, container detection, inspect/convert."""
from __future__ import annotations

import builtins
import functools
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr.admin import loading
from ltr.admin.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ltr.admin.loading import (ForeignObject, RefusedCheckpointError, compare_with_manifest, guess_tracker,
                               load_manifest, load_network_state, load_official_checkpoint, safe_torch_load)
from tests.fixtures_checkpoints import (Call, GlobalRef, manifest_state_dict, official_object, torch_save,
                                        with_bbox_head_names, with_module_prefix, write_pysot_checkpoint,
                                        write_pytracking_checkpoint)

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO.parent / "shared" / "specs" / "checkpoints"


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "ltr.admin.loading", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


# --- pytracking containers -------------------------------------------------------------------

def test_transt_pytracking_file_loads_with_stand_ins(tmp_path):
    random_keys = ["class_embed.layers.2.weight", "backbone.0.body.bn1.running_var"]
    state = manifest_state_dict("transt", random_keys=random_keys)
    path = write_pytracking_checkpoint(tmp_path / "transt.pth", "transt", state=state, slt_stats=True)

    # The file names the official training classes, so torch's own safe mode refuses it.
    with pytest.raises(Exception, match="ltr.admin.model_constructor.NetConstructor"):
        torch.load(path, map_location="cpu", weights_only=True)

    checkpoint = load_official_checkpoint(path)
    assert (checkpoint.format, checkpoint.tracker) == ("pytracking", "transt")
    assert len(checkpoint.state_dict) == 430
    assert list(checkpoint.state_dict) == [key for key, _, _ in load_manifest("transt")]
    for key in random_keys:
        assert torch.equal(checkpoint.state_dict[key], state[key])
    assert checkpoint.meta["epoch"] == 300
    assert checkpoint.meta["net_type"] == "TransT" and checkpoint.meta["actor_type"] == "TranstActor"
    assert checkpoint.meta["constructor"] == {"fun_name": "transt_resnet50", "fun_module": "ltr.models.tracking.transt"}

    raw = safe_torch_load(path)
    settings = raw["settings"]
    assert isinstance(settings, ForeignObject) and settings.foreign_global == "ltr.admin.settings.Settings"
    assert settings.get("env").foreign_global == "ltr.admin.local.EnvironmentSettings"
    assert settings.get("hidden_dim") == 256
    stats = raw["stats"]["train"]
    # Stand-ins, never the project's own ltr.admin.stats classes (nothing is imported).
    assert stats["Loss/total"].foreign_global == "ltr.admin.stats.AverageMeter"
    assert not isinstance(stats["Loss/total"], __import__("ltr.admin.stats").admin.stats.AverageMeter)
    assert stats["reward"].get("avg") == np.float64(0.5) and isinstance(stats["reward"].get("avg"), np.float64)
    assert stats["mIoU_old_numpy"].to_plain()["val"] == 0.75  # numpy<2 name: numpy.core.multiarray.scalar
    assert stats["ious"].to_plain()["val"] == [0.0, 1.0, 2.0, 3.0]
    grad_norm = stats["grad_norm"].get("val")
    assert grad_norm.device.type == "cpu" and float(grad_norm) == 3.5
    assert "ltr.admin.model_constructor" not in sys.modules


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_other_pickle_protocols(tmp_path, protocol):
    container = {"net": manifest_state_dict("transt", keys=["input_proj.weight"]),
                 "settings": official_object("ltr.admin.settings", "Settings", lr=1e-4, layers={"conv1"})}
    path = torch_save(container, tmp_path / "p.pth", protocol=protocol)
    raw = safe_torch_load(path)
    assert raw["settings"].to_plain() == {"__class__": "ltr.admin.settings.Settings", "lr": 1e-4, "layers": {"conv1"}}
    assert load_official_checkpoint(path).tracker == "transt"


@pytest.mark.parametrize("legacy_format", [False, True], ids=["zip", "legacy"])
def test_gpu_written_tensors_map_to_cpu(tmp_path, legacy_format):
    path = write_pytracking_checkpoint(tmp_path / "trdimp.pth", "trdimp",
                                       state=manifest_state_dict("trdimp", keys=["feature_extractor.conv1.weight"]),
                                       slt_stats=True, legacy_format=legacy_format)
    raw_bytes = path.read_bytes()
    if not legacy_format:
        with zipfile.ZipFile(path) as archive:
            raw_bytes = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"cuda:0" in raw_bytes  # the fixture really recorded a GPU storage
    grad_norm = safe_torch_load(path)["stats"]["train"]["grad_norm"].get("val")
    assert grad_norm.device.type == "cpu"


def test_legacy_format_with_pre_rename_module_names(tmp_path):
    path = write_pytracking_checkpoint(tmp_path / "old.pth.tar", "trdimp", legacy_format=True, old_module_names=True,
                                       extra={"frozen_layers": {"conv1", "bn1"}})
    assert not zipfile.is_zipfile(path)
    checkpoint = load_official_checkpoint(path)
    assert (checkpoint.format, checkpoint.tracker, len(checkpoint.state_dict)) == ("pytracking", "trdimp", 419)
    # As the official loader does, the pre-rename package prefix is dropped from the builder module.
    assert checkpoint.meta["constructor"]["fun_module"] == "ltr.models.tracking.dimpnet"
    raw = safe_torch_load(path)
    assert raw["frozen_layers"] == {"conv1", "bn1"}  # protocol 2 names it '__builtin__.set'
    assert raw["constructor"].foreign_global == "dlframework.common.utils.model_constructor.NetConstructor"
    assert not any(name.startswith("dlframework") for name in sys.modules)
    assert compare_with_manifest(checkpoint.state_dict, "trdimp") == ([], [], [])


def test_inspect_command_on_transt(tmp_path):
    path = write_pytracking_checkpoint(tmp_path / "transt.pth", "transt")
    result = _run_cli("inspect", path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"format": "pytracking", "tracker": "transt", "tensors": 430,
                                         "missing": [], "unexpected": [], "mismatched": []}


# --- pysot containers ------------------------------------------------------------------------

def test_inspect_pysot_siamrpnpp_with_prefix_and_one_mismatch(tmp_path, capsys):
    bad_key = "rpn_head.rpn2.cls.head.3.weight"
    expected_shape = dict((k, s) for k, s, _ in load_manifest("siamrpnpp"))[bad_key]
    state = manifest_state_dict("siamrpnpp", shape_overrides={bad_key: [6] + list(expected_shape[1:])})
    path = write_pysot_checkpoint(tmp_path / "siamrpnpp_20epoch.pth", "siamrpnpp", state=with_module_prefix(state))
    assert loading.main(["inspect", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "pysot" and report["tracker"] == "siamrpnpp" and report["tensors"] == 458
    assert report["missing"] == [] and report["unexpected"] == []
    assert report["mismatched"] == [{"key": bad_key, "file": [6] + list(expected_shape[1:]),
                                     "expected": list(expected_shape)}]


def test_siamattn_legacy_refine_head_names_in_bare_legacy_file(tmp_path):
    state = with_bbox_head_names(manifest_state_dict("siamattn"))
    assert any(k.startswith("bbox_head.") for k in state)
    path = write_pysot_checkpoint(tmp_path / "siamattn.pth", "siamattn", state=state, bare=True, legacy_format=True)
    checkpoint = load_official_checkpoint(path)
    assert (checkpoint.format, checkpoint.tracker) == ("pysot", "siamattn")
    assert checkpoint.meta["renamed_legacy_keys"] > 0
    assert compare_with_manifest(checkpoint.state_dict, "siamattn") == ([], [], [])
    assert load_network_state(path, "siamattn") is not None
    with pytest.raises(CheckpointError, match="siamattn weights, not transt"):
        load_network_state(path, "transt")


def test_tracker_guess_from_key_subsets():
    rpn_keys = [k for k, _, _ in load_manifest("siamrpnpp")][:40]
    assert guess_tracker(rpn_keys) == "siamrpnpp"  # SiamRPN++ keys are a subset of SiamAttn's
    attn_only = [k for k, _, _ in load_manifest("siamattn") if k.startswith(("mask_head.", "refine_head."))][:2]
    assert guess_tracker(rpn_keys + attn_only) == "siamattn"
    assert guess_tracker(["classifier.transformer.encoder.layers.0.self_attn.head.0.WK.weight"]) == "trdimp"
    assert guess_tracker(["something.else"]) is None
    assert guess_tracker(["something.else"], hint="transt") == "transt"


def test_compare_with_manifest_reports_all_three_kinds():
    state = manifest_state_dict("transt")
    first = next(iter(state))
    del state[first]
    state["extra.weight"] = torch.zeros(1)
    state["class_embed.layers.2.bias"] = torch.zeros(5)
    missing, unexpected, mismatched = compare_with_manifest(state, "transt")
    assert missing == [first] and unexpected == ["extra.weight"]
    assert mismatched == [("class_embed.layers.2.bias", (5,), (2,))]


# --- refusing files that would run code ------------------------------------------------------

def _exploits(marker: Path):
    command = f"touch {marker}"
    return {
        "os.system": (Call(os.system, (command,)), f"{os.system.__module__}.system"),
        "os.system by name": (Call(GlobalRef("os", "system"), (command,)), "os.system"),
        "eval": (Call(builtins.eval, (f"__import__('os').system({command!r})",)), "builtins.eval"),
        "subprocess": (Call(subprocess.Popen, (["touch", str(marker)],)), "subprocess.Popen"),
        "partial": (Call(functools.partial(os.system, command), ()), "functools.partial"),
        "getattr": (Call(builtins.getattr, ("", "join")), "builtins.getattr"),
    }


@pytest.mark.parametrize("legacy_format", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("exploit", ["os.system", "os.system by name", "eval", "subprocess", "partial", "getattr"])
def test_crafted_pickles_are_refused_and_nothing_runs(tmp_path, exploit, legacy_format):
    marker = tmp_path / "marker"
    payload, global_name = _exploits(marker)[exploit]
    path = torch_save({"epoch": 1, "state_dict": manifest_state_dict("siamrpnpp", keys=["backbone.conv1.weight"]),
                       "optimizer": payload}, tmp_path / "evil.pth", legacy_format=legacy_format)
    with pytest.raises(RefusedCheckpointError) as caught:
        load_official_checkpoint(path)
    assert caught.value.global_name == global_name
    assert str(path) in str(caught.value) and f"'{global_name}'" in str(caught.value)
    assert not marker.exists()


def test_exploit_hidden_in_pytracking_settings_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = write_pytracking_checkpoint(
        tmp_path / "transt.pth", "transt", state=manifest_state_dict("transt", keys=["input_proj.weight"]),
        extra={"settings": official_object("ltr.admin.settings", "Settings",
                                           hook=Call(os.system, (f"touch {marker}",)))})
    with pytest.raises(RefusedCheckpointError, match="system"):
        safe_torch_load(path)
    assert not marker.exists()


def test_pickled_module_objects_are_refused(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(RefusedCheckpointError, match="torch.nn.modules.linear.Linear"):
        load_official_checkpoint(path)


def test_foreign_globals_are_inert_and_never_imported(tmp_path):
    marker = tmp_path / "marker"
    path = write_pysot_checkpoint(tmp_path / "odd.pth", "siamrpnpp",
                                  state=manifest_state_dict("siamrpnpp", keys=["backbone.conv1.weight"]),
                                  extra={"hook": Call(GlobalRef("pysot.utils.evil", "run"), (f"touch {marker}",))})
    hook = safe_torch_load(path)["hook"]
    assert isinstance(hook, ForeignObject) and hook.foreign_global == "pysot.utils.evil.run"
    assert hook.args == (f"touch {marker}",)
    assert not marker.exists() and "pysot" not in sys.modules
    with pytest.raises(TypeError, match="stand-in"):
        torch.save(hook, tmp_path / "again.pth")


def test_refusal_exit_code_and_message(tmp_path):
    marker = tmp_path / "marker"
    path = torch_save({"state_dict": {}, "x": Call(os.system, (f"touch {marker}",))}, tmp_path / "evil.pth")
    result = _run_cli("inspect", path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"refused: {path} tries to load global ")
    assert "system" in lines[0] and result.stdout == ""
    assert not marker.exists()


def test_unreadable_files_give_clear_errors(tmp_path, capsys):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_official_checkpoint(tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_official_checkpoint(garbage)
    listing = tmp_path / "list.pth"
    torch.save([1, 2, 3], listing)
    with pytest.raises(CheckpointError, match="not a checkpoint dict"):
        load_official_checkpoint(listing)
    assert loading.main(["inspect", str(listing)]) == 1
    assert capsys.readouterr().err.startswith("error: ")


# --- project format and conversion -----------------------------------------------------------

def test_convert_writes_weights_only_project_checkpoint(tmp_path, capsys):
    state = manifest_state_dict("siamrpnpp", random_keys=["neck.downsample2.downsample.0.weight"])
    source = write_pysot_checkpoint(tmp_path / "siamrpnpp.pth", "siamrpnpp", state=with_module_prefix(state))
    out = tmp_path / "converted" / "siamrpnpp_paper.pth"
    assert loading.main(["convert", str(source), str(out), "--tracker", "siamrpnpp"]) == 0
    assert "wrote" in capsys.readouterr().out

    converted = load_checkpoint(out)  # weights_only=True inside
    assert converted["tracker"] == "siamrpnpp" and converted["size"] == "paper" and converted["epoch"] == 20
    assert list(converted["net"]) == [k for k, _, _ in load_manifest("siamrpnpp")]
    key = "neck.downsample2.downsample.0.weight"
    assert torch.equal(converted["net"][key], state[key])
    assert converted["imported_from"]["format"] == "pysot"
    torch.load(out, map_location="cpu", weights_only=True)

    # The project file is recognised as such and compares clean.
    again = load_official_checkpoint(out)
    assert (again.format, again.tracker) == ("project", "siamrpnpp")
    assert again.compare() == ([], [], [])


def test_convert_rejects_wrong_tracker_and_strict_mismatch(tmp_path, capsys):
    source = write_pytracking_checkpoint(tmp_path / "transt.pth", "transt",
                                         state=manifest_state_dict("transt", shape_overrides={"input_proj.bias": [3]}))
    out = tmp_path / "out.pth"
    assert loading.main(["convert", str(source), str(out), "--tracker", "trdimp"]) == 1
    assert "transt weights, not trdimp" in capsys.readouterr().err
    assert loading.main(["convert", str(source), str(out), "--strict"]) == 1
    assert "1 mismatched" in capsys.readouterr().err and not out.exists()
    assert loading.main(["convert", str(source), str(out)]) == 0
    assert load_checkpoint(out)["tracker"] == "transt"


def test_project_checkpoint_of_tiny_model_keeps_its_size(tmp_path):
    path = save_checkpoint(tmp_path / "tiny.pth", {"backbone.0.body.conv1.weight": torch.zeros(8, 3, 3, 3)},
                           tracker="transt", size="tiny", epoch=3)
    checkpoint = load_official_checkpoint(path)
    assert (checkpoint.format, checkpoint.tracker) == ("project", "transt")
    assert checkpoint.meta["size"] == "tiny" and checkpoint.meta["epoch"] == 3


# --- shipped manifests -----------------------------------------------------------------------

@pytest.mark.skipif(not SPECS.is_dir(), reason="the official checkpoint specs (../shared/specs) are not beside this checkout")
@pytest.mark.parametrize("name", loading.manifest_names())
def test_shipped_manifests_equal_the_specs(name):
    spec = json.loads((SPECS / f"{name}.json").read_text())["state_dict"]
    tracker = next(t for t in loading.TRACKERS if name == t or name in loading.MANIFEST_VARIANTS.get(t, {}).values())
    variant = next((v for v, n in loading.MANIFEST_VARIANTS.get(tracker, {}).items() if n == name), None)
    assert [[k, list(s), d] for k, s, d in load_manifest(tracker, variant)] == spec
