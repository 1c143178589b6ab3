"""Every adapter is built one way: ``from_settings(net, policy, settings)``, the built-in trackers'
settings and ``generic slt`` alike."""
import importlib

import pytest

from ltr.models.registry import build_network
from ltr.run_training import build_settings
from ltr.train_settings.common import build_policy
from slt_plugins.registry import get

EXTRA = {"siamrpnpp": (), "siamattn": (), "transt": (), "trdimp": ("mean_max_range",), "ostrack": ()}


@pytest.mark.parametrize("tracker", sorted(EXTRA))
def test_built_in_adapters_come_from_settings(tracker):
    importlib.import_module(f"pytracking.tracker.{tracker}.slt_adapter")
    settings = build_settings(tracker, "slt_tiny", assignments=["scst_weight=2.5", "so_mode=add"])
    importlib.import_module(f"ltr.train_settings.{tracker}.slt_tiny").configure(settings)
    net = build_network(tracker, "tiny")
    policy = build_policy(settings, tracker, extra=EXTRA[tracker])
    adapter = get("adapter", tracker).from_settings(net, policy, settings)
    assert adapter.net is net and adapter.policy is policy
    assert adapter.scst_weight == 2.5 and adapter.so_mode == "add"
