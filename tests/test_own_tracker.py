"""docs/own_tracker.md, end to end: the example tracker in docs/examples/mytracker joins through the
registries, trains with the generic SLT setting and tracks with run_tracker.

The end-to-end test runs the commands of the doc's tested block itself (in this process, through the
scripts' ``main`` functions), so the doc and the test cannot drift apart.
"""
from __future__ import annotations

import re
import shlex
from importlib import metadata
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Callable, Dict, List

import pytest
import torch

import docs.examples.mytracker as mytracker  # registers the network, the tracker and the adapter
from ltr.admin.config import ConfigError
from ltr.models import registry as networks
from ltr.run_training import build_settings

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "own_tracker.md"
MARKER = "<!-- tested by tests/test_own_tracker.py -->"


def _flt_main(argv: List[str]) -> int:
    from docs.examples.mytracker.flt import main
    main(argv)
    return 0


def _train_main(argv: List[str]) -> int:
    from ltr.run_training import main
    main(argv)
    return 0


def _synthetic_main(argv: List[str]) -> int:
    from ltr.util_scripts.make_synthetic import main
    return main(argv)


def _track_main(argv: List[str]) -> int:
    from pytracking.run_tracker import main
    return main(argv)


#: How each command of the doc's block starts -> the entry it runs here.
COMMANDS: Dict[str, Callable[[List[str]], int]] = {
    "python -m docs.examples.mytracker.flt": _flt_main,
    "python ltr/run_training.py": _train_main,
    "python -m ltr.util_scripts.make_synthetic": _synthetic_main,
    "python pytracking/run_tracker.py": _track_main,
}


def doc_commands() -> List[List[str]]:
    """The shell commands of the doc's tested block, split into words (continuation lines joined)."""
    text = DOC.read_text(encoding="utf-8")
    assert MARKER in text, f"{DOC} lost its tested block (the line {MARKER!r} before a ```bash block)"
    block = re.search(r"```bash\n(.*?)```", text[text.index(MARKER):], re.S).group(1)
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_worked_example_end_to_end(tmp_path, monkeypatch):
    # The doc's commands run from the repository root with the default workspace; here the
    # workspace is a temporary folder and relative paths resolve inside it.
    monkeypatch.chdir(tmp_path)
    for name, sub in (("WORKSPACE", ""), ("CHECKPOINTS", "checkpoints"), ("RESULTS", "results")):
        monkeypatch.setenv(f"SLT_{name}_DIR", str(tmp_path / "workspace" / sub))
    commands = doc_commands()
    assert [c for c in COMMANDS if not any(" ".join(cmd).startswith(c) for cmd in commands)] == []

    for words in commands:
        prefix = next(p for p in COMMANDS if " ".join(words).startswith(p))
        rc = COMMANDS[prefix](words[len(prefix.split()):])
        assert rc in (0, None), f"{' '.join(words)} exited with {rc}"

    flt = torch.load(tmp_path / "workspace" / "mytracker_flt.pth", weights_only=True)
    slt = torch.load(tmp_path / "workspace" / "checkpoints" / "generic" / "slt" / "mytracker" / "latest.pth",
                     weights_only=True)
    assert flt["tracker"] == slt["tracker"] == "mytracker" and slt["size"] == "tiny"
    assert flt["net"].keys() == slt["net"].keys()
    assert any(not torch.equal(flt["net"][k], slt["net"][k]) for k in flt["net"]), "SLT changed no parameter"
    assert slt["epoch"] == 1

    results = sorted((tmp_path / "workspace" / "results" / "mytracker" / "default").glob("Synthetic_Test_*[0-9].txt"))
    assert len(results) == 2
    lines = results[0].read_text().splitlines()
    assert len(lines) == 12 and all(len(line.split(",")) == 4 for line in lines)


def test_argmax_rollout_is_what_the_test_time_tracker_does():
    from docs.examples.mytracker.slt_adapter import MyTrackerSLTAdapter
    from docs.examples.mytracker.tracker import MyTracker, default_parameters
    from slt_plugins.adapter import SLTAdapter
    from slt_plugins.policy import LogitSoftmaxPolicy
    from tests.slt_toy import make_toy_episode

    episode = make_toy_episode(3, num_frames=6, image_size=64, target=12)
    tracker = MyTracker(default_parameters().update(allow_random_weights=True))
    adapter = MyTrackerSLTAdapter(tracker.core.net, LogitSoftmaxPolicy(temperature=4.0, eps=0.01))
    assert isinstance(adapter, SLTAdapter)

    tracker.initialize(episode.template_frame, {"init_bbox": episode.template_box_xywh.tolist()})
    with torch.no_grad():
        adapter.initialize([episode.template_frame], episode.template_box_xywh.view(1, 4))
        for frame, gt in zip(episode.frames, episode.boxes_xywh):
            step = adapter.step([frame], torch.tensor([False]), None, gt.view(1, 4))
            expected = tracker.track(frame)["target_bbox"]
            assert step.boxes_xywh[0].tolist() == pytest.approx(expected, abs=1e-5)


def test_network_entry_point_is_loaded_only_when_named(monkeypatch):
    ep = EntryPoint(name="ep_mytracker", value="docs.examples.mytracker.model:build_mytracker",
                    group=networks.NETWORK_ENTRY_POINT_GROUP)
    monkeypatch.setattr(networks, "_network_entry_points", lambda: [ep])
    try:
        assert "ep_mytracker" in networks.available_networks()
        assert "ep_mytracker" not in networks._BUILDERS  # listed, not imported
        assert isinstance(networks.build_network("ep_mytracker", "tiny"), mytracker.MyTrackerNet)
        with pytest.raises(networks.UnknownNetworkError, match="ep_mytracker.*mytracker|mytracker.*ep_mytracker"):
            networks.network_builder("no_such_net")
    finally:
        networks.unregister_network("ep_mytracker")


def test_tracker_entry_point_gives_the_registered_pieces(monkeypatch):
    from pytracking import tracker as trackers

    ep = EntryPoint(name="ep_mytracker", value="docs.examples.mytracker.tracker:tracker_entry",
                    group=trackers.ENTRY_POINT_GROUP)
    real = metadata.entry_points
    monkeypatch.setattr(trackers.metadata, "entry_points",
                        lambda **kw: [ep] if kw.get("group") == trackers.ENTRY_POINT_GROUP else real(**kw))
    entry = trackers.resolve_tracker("ep_mytracker")
    assert entry.tracker_class is mytracker.MyTracker and entry.parameter_sets() == ["default"]


def test_register_network_rejects_a_second_builder_under_a_taken_name():
    networks.register_network("mytracker", mytracker.build_mytracker)  # the same builder again: fine
    with pytest.raises(ValueError, match="already registered"):
        networks.register_network("mytracker", "somewhere.else:build")


def _generic(tmp_path, *assignments: str, checkpoint=None):
    from ltr.train_settings.generic import slt

    settings = build_settings("generic", "slt", checkpoint=checkpoint, workspace=str(tmp_path),
                              assignments=["network=mytracker", "model_size=tiny", *assignments])
    return slt, settings


@pytest.fixture
def flt_file(tmp_path):
    from ltr.admin.checkpoint import save_checkpoint

    return str(save_checkpoint(tmp_path / "flt.pth", mytracker.build_mytracker("tiny").state_dict(),
                               tracker="mytracker", size="tiny"))


@pytest.mark.parametrize("assignments, message", [
    (["adapter=nope"], r"Unknown adapter 'nope'.*mytracker"),
    (["network=nope"], r"No network builder named 'nope'; known: .*mytracker"),
    (["policy=nope"], r"Unknown policy 'nope'.*logit_softmax"),
    (["policy=softmax"], r"eps=None"),
    (["datasets=('synthetic', 'imagenet')"], r"unknown \['imagenet'\].*synthetic"),
    (["plugin_modules=no_such_module_here"], r"cannot import 'no_such_module_here'"),
    (["adapter_options={'box_wieght': 2}"], r"no option \['box_wieght'\]; its options are \[\]"),
])
def test_generic_setting_errors_name_the_value_and_the_fix(tmp_path, monkeypatch, flt_file, assignments, message):
    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path))
    slt, settings = _generic(tmp_path, *assignments, checkpoint=flt_file)
    with pytest.raises((ConfigError, ValueError), match=message):
        slt.build_trainer(settings, quiet=True)


def test_generic_setting_needs_from_settings_and_a_checkpoint(tmp_path, monkeypatch):
    from slt_plugins.registry import register, unregister

    monkeypatch.setenv("SLT_WORKSPACE_DIR", str(tmp_path))

    @register("adapter", "no_factory")
    class NoFactory:
        pass

    try:
        slt, settings = _generic(tmp_path, "adapter=no_factory", checkpoint="unused.pth")
        with pytest.raises(ConfigError, match=r"no_factory.*from_settings\(net, policy, settings\)"):
            slt.build_trainer(settings, quiet=True)
    finally:
        unregister("adapter", "no_factory")
    slt, settings = _generic(tmp_path)
    with pytest.raises(SystemExit, match="--checkpoint FILE.*tracker='mytracker'"):
        slt.build_trainer(settings, quiet=True)
