"""Typed settings: declared fields, --set, --print-config and where each value came from."""
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from ltr.admin.config import ConfigError, Field, parse_assignment
from ltr.admin.settings import Settings
from ltr.run_training import build_settings

REPO = Path(__file__).resolve().parents[1]
SETTINGS = [(t, n) for t in ("siamrpnpp", "siamattn", "transt", "trdimp", "ostrack") for n in (t, "tiny", "slt", "slt_tiny")]


def test_parse_assignment_types():
    schema = {"lr": Field(float, 1.0, "lr"), "k": Field(int, 1, "k"), "mode": Field(str, "a", "m", choices=("a", "b")),
              "flag": Field(bool, False, "f"), "pair": Field(tuple, (), "p"), "clip": Field(float, 1.0, "c", optional=True)}
    assert parse_assignment("lr=2", schema) == ("lr", 2.0)
    assert parse_assignment("k=3", schema) == ("k", 3)
    assert parse_assignment("mode=b", schema) == ("mode", "b")
    assert parse_assignment("flag=true", schema) == ("flag", True)
    assert parse_assignment("pair=[2, 4]", schema) == ("pair", (2, 4))
    assert parse_assignment("clip=None", schema) == ("clip", None)
    for bad in ("k=2.5", "mode=c", "lr=fast", "k=None", "lr"):
        with pytest.raises(ConfigError):
            parse_assignment(bad, schema)


def test_unknown_field_names_the_valid_ones_and_a_close_match():
    with pytest.raises(ConfigError) as error:
        build_settings("siamrpnpp", "slt_tiny", assignments=["temperatre=2"])
    message = str(error.value)
    assert "temperatre" in message and "did you mean 'temperature'" in message
    assert "Valid fields:" in message and "scst_weight" in message and "num_frames" in message


def test_attribute_typo_in_code_is_an_error_not_a_new_field():
    settings = Settings()
    with pytest.raises(ConfigError):
        settings.temprature = 2.0
    with pytest.raises(AttributeError):
        _ = settings.temprature
    with pytest.raises(ConfigError):
        settings.epochs = "ten"


@pytest.mark.parametrize("tracker,name", SETTINGS)
def test_every_setting_declares_what_it_fills(tracker, name):
    module = importlib.import_module(f"ltr.train_settings.{tracker}.{name}")
    settings = Settings(schema=module.FIELDS)
    module.configure(settings)  # raises on any number the recipe sets that is not a field
    sources = {n: settings.source(n) for n in settings.schema}
    assert sources["lr"] in ("official recipe", "setting default")
    if name in ("tiny", "slt_tiny"):
        assert settings.model_size == "tiny" and sources["model_size"] == "setting default"
    else:
        assert settings.model_size == "paper" and sources["model_size"] == "official recipe"
    if name.startswith("slt"):
        # every SLT knob is a field of every tracker, the policy's included
        for field in ("temperature", "eps", "scst_weight", "so_mode", "num_frames", "episodes_per_batch",
                      "samples_per_episode", "advantage", "interval_prob", "max_interval", "include_invisible"):
            assert field in settings


def test_command_line_wins_over_setting_and_recipe():
    settings = build_settings("siamrpnpp", "slt_tiny", assignments=["temperature=2", "lr=3e-4"])
    importlib.import_module("ltr.train_settings.siamrpnpp.slt_tiny").configure(settings)
    assert settings.temperature == 2.0 and settings.source("temperature") == "command line"
    assert settings.lr == 3e-4 and settings.source("lr") == "command line"
    assert settings.num_frames == 16 and settings.source("num_frames") == "setting default"
    assert settings.max_interval == 7 and settings.source("max_interval") == "official recipe"


def test_trdimp_policy_knobs_reach_the_policy():
    from ltr.train_settings.common import build_policy
    settings = build_settings("trdimp", "slt_tiny", assignments=["temperature=0.5"])
    importlib.import_module("ltr.train_settings.trdimp.slt_tiny").configure(settings)
    policy = build_policy(settings, "trdimp", extra=("mean_max_range",))
    assert policy.temperature == 0.5 and policy.mean_max_range == (-7.0, 7.0)
    settings.eps = 0.01
    with pytest.raises(ValueError, match="no eps"):
        build_policy(settings, "trdimp", extra=("mean_max_range",))


def _run_training(*args):
    return subprocess.run([sys.executable, str(REPO / "ltr" / "run_training.py"), *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_print_config_and_unknown_field_from_the_command_line():
    shown = _run_training("siamrpnpp", "slt_tiny", "--set", "temperature=2", "--print-config")
    assert shown.returncode == 0, shown.stderr
    line = next(l for l in shown.stdout.splitlines() if l.startswith("temperature "))
    assert "2.0" in line and "command line" in line
    line = next(l for l in shown.stdout.splitlines() if l.startswith("max_interval "))
    assert "official recipe" in line
    bad = _run_training("siamrpnpp", "slt_tiny", "--set", "no_such_field=1")
    assert bad.returncode == 2 and "Valid fields:" in bad.stderr and "temperature" in bad.stderr
