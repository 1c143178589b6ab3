"""Online trackers and how a tracker name is found.

A name given to :class:`pytracking.evaluation.Tracker` or ``run_tracker.py`` is resolved in
this order:

1. the explicit registry filled by :func:`register_tracker` (e.g. by a module imported with
   ``run_tracker.py --tracker-module MODULE``);
2. entry points of the group ``pytracking.trackers`` (third-party packages). The entry point's
   name is the tracker name; its object is either a module exposing ``get_tracker_class()`` and
   ``PARAMETER_PACKAGE`` (dotted name of its parameter package), or a callable returning
   ``(tracker_class, parameter_package)``::

       # setup.py of a third-party package
       entry_points={"pytracking.trackers": ["mytracker = mypkg.tracker"]}

3. the package convention: ``pytracking.tracker.<name>`` exposing ``get_tracker_class()``, with
   parameter sets in ``pytracking.parameter.<name>``.

Importing this package imports no tracker: real trackers (and torch) load only when resolved.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
import types
from importlib import metadata
from typing import Dict, List, Optional

from pytracking.parameter import ParameterSource, list_parameter_sets, load_parameters
from pytracking.tracker.base import BaseTracker
from pytracking.utils.params import TrackerParams

ENTRY_POINT_GROUP = "pytracking.trackers"


class UnknownTrackerError(LookupError):
    """No tracker of that name is registered, installed or in pytracking/tracker/."""


@dataclasses.dataclass(frozen=True)
class TrackerEntry:
    """A resolved tracker: its class, where its parameter sets come from, and how it was found."""

    name: str
    tracker_class: type
    parameter_source: ParameterSource
    origin: str

    def parameter_sets(self) -> List[str]:
        """Names of the available parameter sets."""
        return list_parameter_sets(self.parameter_source)

    def load_parameters(self, parameter_name: str) -> TrackerParams:
        """Build a fresh TrackerParams for ``parameter_name``."""
        return load_parameters(self.parameter_source, parameter_name, tracker_name=self.name)


_REGISTRY: Dict[str, TrackerEntry] = {}


def register_tracker(name: str, tracker_cls: type, parameter_package: ParameterSource,
                     overwrite: bool = False) -> TrackerEntry:
    """Make ``name`` resolve to ``tracker_cls`` with parameter sets from ``parameter_package``.

    Args:
        name: tracker name as used on the command line.
        tracker_cls: a :class:`BaseTracker` subclass, constructed as ``tracker_cls(params)``.
        parameter_package: dotted package name whose modules ``<param>.py`` define ``parameters()``,
            or a mapping ``{param_name: callable returning TrackerParams}``. Prefer a package name when
            sequences run in several processes: mapping values must then be importable functions.
        overwrite: replace an existing registration of ``name`` (otherwise re-registering the same
            class is a no-op and a different class is an error).
    """
    if not (isinstance(tracker_cls, type) and issubclass(tracker_cls, BaseTracker)):
        raise TypeError(f"register_tracker('{name}'): {tracker_cls!r} is not a BaseTracker subclass")
    existing = _REGISTRY.get(name)
    if existing is not None and not overwrite and existing.tracker_class is not tracker_cls:
        raise ValueError(f"Tracker '{name}' is already registered as {existing.tracker_class.__qualname__}; "
                         f"pass overwrite=True to replace it")
    entry = TrackerEntry(name, tracker_cls, parameter_package, origin="register_tracker")
    _REGISTRY[name] = entry
    return entry


def unregister_tracker(name: str) -> None:
    """Remove an explicit registration (entry points and packages are unaffected)."""
    _REGISTRY.pop(name, None)


def _from_entry_point(name: str) -> Optional[TrackerEntry]:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name != name:
            continue
        obj = ep.load()
        if isinstance(obj, types.ModuleType):
            if not hasattr(obj, "get_tracker_class") or not hasattr(obj, "PARAMETER_PACKAGE"):
                raise TypeError(f"Entry point '{ep.value}' ({ENTRY_POINT_GROUP}) must expose get_tracker_class() "
                                f"and PARAMETER_PACKAGE")
            return TrackerEntry(name, obj.get_tracker_class(), obj.PARAMETER_PACKAGE, origin=f"entry point {ep.value}")
        if callable(obj):
            tracker_cls, parameter_package = obj()
            return TrackerEntry(name, tracker_cls, parameter_package, origin=f"entry point {ep.value}")
        raise TypeError(f"Entry point '{ep.value}' ({ENTRY_POINT_GROUP}) is neither a module nor a callable")
    return None


def _from_package(name: str) -> Optional[TrackerEntry]:
    module_name = f"{__name__}.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            return None
        raise  # the tracker package exists but one of its imports is missing: report that
    if not hasattr(module, "get_tracker_class"):
        raise TypeError(f"Tracker package {module_name} must define get_tracker_class()")
    return TrackerEntry(name, module.get_tracker_class(), f"pytracking.parameter.{name}", origin=f"package {module_name}")


def resolve_tracker(name: str) -> TrackerEntry:
    """Find tracker ``name`` (registry, then entry points, then ``pytracking.tracker.<name>``).

    Raises:
        UnknownTrackerError listing the known trackers and how to make a new one known.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    entry = _from_entry_point(name)
    if entry is None and name.isidentifier():
        entry = _from_package(name)
    if entry is None:
        raise UnknownTrackerError(
            f"Unknown tracker '{name}'. Known: {list_trackers()}. A tracker is found through "
            f"register_tracker() (import its module, e.g. run_tracker.py --tracker-module MODULE), the "
            f"'{ENTRY_POINT_GROUP}' entry-point group, or a package pytracking/tracker/{name}/ exposing "
            f"get_tracker_class()")
    return entry


def get_tracker_class(name: str) -> type:
    """The tracker class for ``name`` (see :func:`resolve_tracker`)."""
    return resolve_tracker(name).tracker_class


def list_trackers() -> List[str]:
    """Names of registered, installed (entry point) and built-in trackers, without importing them."""
    names = set(_REGISTRY)
    names.update(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    for module in pkgutil.iter_modules(__path__):
        if module.ispkg and not module.name.startswith("_") and _defines_tracker(module.name):
            names.add(module.name)
    return sorted(names)


def _defines_tracker(package: str) -> bool:
    # Read the package's __init__.py as text: shared helper packages (no get_tracker_class) are not
    # trackers, and importing every tracker (and torch) just to list names would be slow.
    init_file = os.path.join(os.path.dirname(__file__), package, "__init__.py")
    try:
        with open(init_file, encoding="utf-8") as f:
            return "get_tracker_class" in f.read()
    except OSError:
        return False


__all__ = ["BaseTracker", "TrackerEntry", "UnknownTrackerError", "register_tracker", "unregister_tracker",
           "resolve_tracker", "get_tracker_class", "list_trackers", "ENTRY_POINT_GROUP"]
