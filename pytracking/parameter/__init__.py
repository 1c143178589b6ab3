"""Test-time parameter sets.

``pytracking/parameter/<tracker>/<name>.py`` defines ``parameters() -> TrackerParams``; the
set is chosen on the command line (``run_tracker.py <tracker> <name> <dataset>``). A tracker
registered from elsewhere names its own parameter package, or gives a mapping
``{name: callable returning TrackerParams}`` (see :func:`pytracking.tracker.register_tracker`).
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, List, Mapping, Union

from pytracking.utils.params import TrackerParams

#: Where a tracker's parameter sets come from: a dotted package name or a name -> factory mapping.
ParameterSource = Union[str, Mapping[str, Callable[[], TrackerParams]]]


class UnknownParameterSetError(LookupError):
    """The requested parameter set does not exist for this tracker."""


def list_parameter_sets(source: ParameterSource) -> List[str]:
    """Names of the parameter sets a source offers (sorted; empty if the package is missing)."""
    if not isinstance(source, str):
        return sorted(source)
    try:
        package = importlib.import_module(source)
    except ModuleNotFoundError:
        return []
    paths = getattr(package, "__path__", None)
    if paths is None:
        return []
    return sorted(m.name for m in pkgutil.iter_modules(paths) if not m.name.startswith("_"))


def load_parameters(source: ParameterSource, parameter_name: str, tracker_name: str = "?") -> TrackerParams:
    """Build the parameter set ``parameter_name`` from ``source``.

    Raises:
        UnknownParameterSetError naming the tracker, the set and the available sets.
        TypeError if the factory does not return a TrackerParams.
    """
    if isinstance(source, str):
        module_name = f"{source}.{parameter_name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            # Only a missing parameter module is "unknown set"; a missing import inside it is a real error.
            if err.name not in (module_name, source):
                raise
            raise UnknownParameterSetError(
                f"Tracker '{tracker_name}' has no parameter set '{parameter_name}' (no module {module_name}); "
                f"available: {list_parameter_sets(source)}") from None
        factory = getattr(module, "parameters", None)
        if factory is None:
            raise UnknownParameterSetError(f"Parameter file {module.__file__} must define parameters() -> TrackerParams")
    else:
        if parameter_name not in source:
            raise UnknownParameterSetError(
                f"Tracker '{tracker_name}' has no parameter set '{parameter_name}'; available: {sorted(source)}")
        factory = source[parameter_name]
    params = factory()
    if not isinstance(params, TrackerParams):
        raise TypeError(f"parameters() of '{tracker_name}/{parameter_name}' returned {type(params).__name__}, "
                        f"expected TrackerParams")
    return params


__all__ = ["ParameterSource", "UnknownParameterSetError", "list_parameter_sets", "load_parameters"]
