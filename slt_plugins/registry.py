"""Explicit registries for the parts of sequence-level training (SLT).

Every part that a training setting names by a string lives in one of three registries
(``KINDS``), each looked up by a settings field:

    policy   candidate distributions (``logit_softmax``, ``softmax``)   field ``policy`` (generic slt)
    reward   per-rollout rewards (``ao``, ``auc``, ``sr50``, ``sr75``)  field ``reward``
    adapter  tracker adapters (the seam between SLT and a network)      field ``adapter`` (generic slt)

The actor, the episode sampler and the SCST loss have one implementation each and are used
directly (``SLTActor``, ``SequenceSampler``, ``scst_loss``), so they have no registry.

Items are added with the :func:`register` decorator and created with :func:`build`
(which calls the registered object with keyword arguments) or fetched unchanged with
:func:`get`. Nothing is registered implicitly except this package's own items, which
register when their module is imported (``import slt_plugins`` imports them all).

Third-party packages add adapters without touching this package, through the Python
entry-point group ``slt_plugins.adapters``::

    # pyproject.toml of the third-party package
    [project.entry-points."slt_plugins.adapters"]
    mytracker = "mytracker_slt.adapter:MyTrackerAdapter"

The entry point is loaded lazily, the first time an adapter name that is not yet
registered is looked up, and only the entry point with that name is imported.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

__all__ = ["KINDS", "ADAPTER_ENTRY_POINT_GROUP", "RegistryError", "register", "build", "get",
           "available", "unregister"]

KINDS: Tuple[str, ...] = ("policy", "reward", "adapter")
ADAPTER_ENTRY_POINT_GROUP = "slt_plugins.adapters"

T = TypeVar("T")

# The registries themselves: kind -> name -> registered object. Module-level on purpose
# (a registry is shared by definition); every mutation goes through register/unregister.
_REGISTRIES: Dict[str, Dict[str, Any]] = {kind: {} for kind in KINDS}


class RegistryError(KeyError):
    """Unknown kind or name, or a name registered twice for different objects."""

    def __str__(self) -> str:  # KeyError would otherwise print the message with quotes
        return str(self.args[0]) if self.args else ""


def _check_kind(kind: str) -> Dict[str, Any]:
    try:
        return _REGISTRIES[kind]
    except KeyError:
        raise RegistryError(f"Unknown registry kind {kind!r}; the kinds are {', '.join(KINDS)}.") from None


def register(kind: str, name: str) -> Callable[[T], T]:
    """Decorator that registers a class or function under ``name`` in registry ``kind``.

    Registering the same object twice under the same name is allowed (module reloads);
    registering a different object under a taken name raises :class:`RegistryError`.

    Example::

        @register("adapter", "mytracker")
        class MyTrackerAdapter: ...
    """
    registry = _check_kind(kind)
    if not isinstance(name, str) or not name:
        raise RegistryError(f"Registry names must be non-empty strings, got {name!r}.")

    def decorator(obj: T) -> T:
        old = registry.get(name)
        if old is not None and old is not obj and _qualname(old) != _qualname(obj):
            raise RegistryError(
                f"{kind} {name!r} is already registered to {_qualname(old)}; "
                f"cannot register {_qualname(obj)} under the same name.")
        registry[name] = obj
        return obj

    return decorator


def unregister(kind: str, name: str) -> None:
    """Remove ``name`` from registry ``kind`` (for tests and interactive use); no error if absent."""
    _check_kind(kind).pop(name, None)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _adapter_entry_points() -> List[Any]:
    """Entry points of the adapter group, read from installed package metadata."""
    from importlib.metadata import entry_points

    eps = entry_points()
    if hasattr(eps, "select"):  # Python >= 3.10
        return list(eps.select(group=ADAPTER_ENTRY_POINT_GROUP))
    return list(eps.get(ADAPTER_ENTRY_POINT_GROUP, []))  # pragma: no cover (Python 3.9)


def _load_adapter_entry_point(name: str) -> Optional[Any]:
    """Import the entry point called ``name`` and register what it points to; None if there is none."""
    for ep in _adapter_entry_points():
        if ep.name != name:
            continue
        obj = ep.load()  # importing the module may itself register the adapter
        registry = _REGISTRIES["adapter"]
        if name not in registry:
            registry[name] = obj
        return registry[name]
    return None


def get(kind: str, name: str) -> Any:
    """The object registered under ``name`` in registry ``kind`` (a class or a function).

    Unknown adapter names are looked up in the ``slt_plugins.adapters`` entry-point group
    before giving up. The error for an unknown name lists every known name.
    """
    registry = _check_kind(kind)
    if name in registry:
        return registry[name]
    if kind == "adapter":
        obj = _load_adapter_entry_point(name)
        if obj is not None:
            return obj
    known = available(kind)
    hint = ""
    if kind == "adapter":
        hint = (f" Third-party adapters are found through the entry-point group "
                f"{ADAPTER_ENTRY_POINT_GROUP!r}; an adapter defined in a module registers when "
                f"that module is imported.")
    raise RegistryError(f"Unknown {kind} {name!r}. Known {kind} names: "
                        f"{', '.join(known) if known else '(none)'}.{hint}")


def build(kind: str, name: str, **kwargs: Any) -> Any:
    """Create the item registered under ``name`` in registry ``kind`` by calling it with ``kwargs``.

    For a function registry such as ``reward``, use :func:`get` to obtain the function itself.
    """
    return get(kind, name)(**kwargs)


def available(kind: str) -> List[str]:
    """Sorted names known for ``kind``: registered items and, for adapters, not-yet-loaded entry points."""
    names = set(_check_kind(kind))
    if kind == "adapter":
        try:
            names.update(ep.name for ep in _adapter_entry_points())
        except Exception:  # broken package metadata must not hide the registered names
            pass
    return sorted(names)
