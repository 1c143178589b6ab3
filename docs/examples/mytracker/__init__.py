"""A tiny third-party tracker that joins the framework without a file under ltr/ or pytracking/.

Importing this package registers its three pieces under the name ``mytracker``:

* the network builder (``ltr.models.registry.register_network``), which training and
  ``load_network`` use to rebuild the network from a checkpoint;
* the test-time tracker with its parameter sets (``pytracking.tracker.register_tracker``), which
  ``pytracking/run_tracker.py`` runs;
* the SLT adapter (``@register("adapter", "mytracker")`` in ``slt_adapter.py``), which the generic
  SLT setting ``ltr/run_training.py generic slt`` trains.

So from the repository root::

    python -m docs.examples.mytracker.flt --out flt.pth
    python ltr/run_training.py generic slt --checkpoint flt.pth --set plugin_modules=docs.examples.mytracker \\
        --set network=mytracker --set model_size=tiny
    python pytracking/run_tracker.py mytracker default synthetic --tracker-module docs.examples.mytracker \\
        --checkpoint <workspace>/checkpoints/generic/slt/mytracker/latest.pth

An installed package would declare entry points instead of being imported (docs/own_tracker.md).
The walk-through is docs/own_tracker.md; tests/test_own_tracker.py runs it.
"""
from ltr.models.registry import register_network
from pytracking.tracker import register_tracker

from .model import MyTrackerNet, build_mytracker
from .slt_adapter import MyTrackerSLTAdapter  # registers the adapter
from .tracker import NAME, PARAMETERS, MyTracker

# Registration happens at import, so a tracking worker process that unpickles MyTracker (and with
# it imports this package) knows the network and the tracker too.
register_network(NAME, build_mytracker)
register_tracker(NAME, MyTracker, PARAMETERS)

__all__ = ["NAME", "MyTrackerNet", "build_mytracker", "MyTracker", "MyTrackerSLTAdapter", "PARAMETERS"]
