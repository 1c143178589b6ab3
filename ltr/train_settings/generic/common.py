"""The pieces of the generic settings: names resolved through the registries, the policy, data and optimiser.

A tracker joins by registering three things (docs/own_tracker.md):

* a network builder ``builder(size) -> nn.Module`` (:func:`ltr.models.registry.register_network`
  or an entry point of the group ``ltr.networks``);
* an SLT adapter class (``@slt_plugins.registry.register("adapter", name)`` or an entry point of
  ``slt_plugins.adapters``) with the classmethod ``from_settings(net, policy, settings) -> adapter``,
  the one way the generic setting builds an adapter;
* for evaluation, a test-time tracker (:func:`pytracking.tracker.register_tracker` or an entry
  point of ``pytracking.trackers``), by convention under the network's name: validation during
  training tracks with the tracker of that name.

Pieces registered in code become known when their module is imported: the ``plugin_modules``
field names those modules (comma-separated), so the command line can reach them.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ltr.admin.config import ConfigError, Field, optional_field
from ltr.admin.settings import Settings
from ltr.train_settings.common import (assemble_slt_trainer, cosine_optimizer, load_or_build_net,
                                       synthetic_train_datasets)

__all__ = ["GENERIC_FIELDS", "DATASETS", "import_plugin_modules", "require_network", "resolve_adapter",
           "resolve_pieces", "build_policy", "build_datasets", "build_slt_trainer"]

#: The fields the generic settings add to the shared schema.
GENERIC_FIELDS: Dict[str, Field] = {
    "network": optional_field(str, "registered network name (ltr.models.registry or an 'ltr.networks' entry "
                                   "point); also the name checkpoints record"),
    "adapter": optional_field(str, "registered SLT adapter name (slt_plugins.registry or an "
                                   "'slt_plugins.adapters' entry point); None: the network's name"),
    "plugin_modules": optional_field(str, "comma-separated modules to import first, so the network, adapter and "
                                          "tracker they register can be named"),
    "adapter_options": optional_field(dict, "the adapter's own options, read by its from_settings (see the "
                                            "adapter)"),
    "policy": Field(str, "logit_softmax", "candidate distribution: a registered policy name (logit_softmax, "
                                          "softmax)"),
    "policy_options": optional_field(dict, "further keyword arguments of the policy besides temperature and eps, "
                                           "e.g. {'mean_max_range': (-7, 7)} for softmax"),
    "datasets": Field(tuple, ("synthetic",), "training datasets: names among synthetic, got10k, lasot, "
                                             "trackingnet"),
    "p_datasets": optional_field(tuple, "relative sampling weight of each dataset (None: by their sizes)"),
    "optimizer": Field(str, "adam", "optimiser (Adam, or SGD with momentum 0.9)", choices=("adam", "sgd")),
    "final_lr_factor": Field(float, 1.0, "the cosine schedule ends at lr x this factor"),
}


def _got10k(settings: Settings) -> list:
    from ltr.dataset import Got10k
    return [Got10k(split="train")]


def _lasot(settings: Settings) -> list:
    from ltr.dataset import Lasot
    return [Lasot(split="train")]


def _trackingnet(settings: Settings) -> list:
    from ltr.dataset import TrackingNet
    return [TrackingNet(set_ids=list(range(12)))]


#: Dataset name -> the training datasets it stands for (paths from the environment, docs/datasets.md).
DATASETS: Dict[str, Callable[[Settings], list]] = {
    # SLT reads another seed of the synthetic stream than frame-level training did.
    "synthetic": lambda settings: synthetic_train_datasets(settings, fine_tune=True),
    "got10k": _got10k,
    "lasot": _lasot,
    "trackingnet": _trackingnet,
}


def import_plugin_modules(spec: Optional[str]) -> List[str]:
    """Import the comma-separated modules of ``spec`` (their import registers pieces); returns their names.

    Raises:
        ConfigError: a module that does not exist (a missing import inside an existing module is
            raised as it is: that is the module's own error).
    """
    names = [name.strip() for name in (spec or "").split(",") if name.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name is None or not (name == error.name or name.startswith(error.name + ".")):
                raise
            raise ConfigError(f"plugin_modules: cannot import {name!r} ({error}). Name an importable module "
                              f"(run from the folder that holds it, add it to PYTHONPATH, or install its "
                              f"package).") from None
    return names


def require_network(settings: Settings) -> str:
    """``settings.network`` after checking that a builder is known under that name."""
    from ltr.models.registry import UnknownNetworkError, available_networks, network_builder

    if not settings.network:
        raise ConfigError(f"The generic settings need the network: --set network=NAME (known: "
                          f"{', '.join(available_networks())}).")
    try:
        network_builder(settings.network)
    except UnknownNetworkError as error:
        raise ConfigError(f"network={settings.network!r}: {error}") from None
    return settings.network


def _import_builtin_adapter(name: str) -> None:
    # The built-in trackers register their adapters when pytracking/tracker/<name>/slt_adapter.py
    # is imported; importing it here turns "unknown adapter" into the precise error below.
    module = f"pytracking.tracker.{name}.slt_adapter"
    try:
        found = name.isidentifier() and importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        importlib.import_module(module)


def resolve_adapter(name: str) -> Any:
    """The adapter class registered as ``name``, checked to have ``from_settings(net, policy, settings)``.

    Raises:
        ConfigError: an unknown name (listing the registered adapters) or an adapter without
            ``from_settings``.
    """
    from slt_plugins.registry import RegistryError, available, get

    try:
        adapter_cls = get("adapter", name)
    except RegistryError:
        _import_builtin_adapter(name)
        try:
            adapter_cls = get("adapter", name)
        except RegistryError as error:
            raise ConfigError(f"adapter={name!r}: {error} Name the module that registers it with "
                              f"--set plugin_modules=MODULE.") from None
    if not callable(getattr(adapter_cls, "from_settings", None)):
        where = f"{getattr(adapter_cls, '__module__', '?')}.{getattr(adapter_cls, '__qualname__', adapter_cls)}"
        raise ConfigError(
            f"adapter={name!r} ({where}) has no classmethod from_settings(net, policy, settings), through which the "
            f"generic SLT setting builds adapters; add one (docs/own_tracker.md). Adapters known: "
            f"{', '.join(available('adapter'))}.")
    return adapter_cls


def resolve_pieces(settings: Settings) -> Tuple[str, Any]:
    """Import ``settings.plugin_modules``, then check the names: (network name, adapter class).

    The adapter defaults to the network's name (``settings.adapter`` None).
    """
    import_plugin_modules(settings.plugin_modules)
    network = require_network(settings)
    return network, resolve_adapter(settings.adapter or network)


def build_policy(settings: Settings):
    """The registered policy ``settings.policy`` with ``temperature``, ``eps`` (unless None) and ``policy_options``.

    Raises:
        ConfigError: an unknown policy (listing the registered ones) or an argument it does not take.
    """
    from slt_plugins.registry import RegistryError, get

    try:
        policy_cls = get("policy", settings.policy)
    except RegistryError as error:
        raise ConfigError(f"policy={settings.policy!r}: {error}") from None
    kwargs: Dict[str, Any] = dict(settings.policy_options or {}, temperature=settings.temperature)
    if settings.eps is not None:
        kwargs["eps"] = settings.eps
    parameters = inspect.signature(policy_cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(kwargs) - set(parameters)) if not takes_any else []
    if unknown:
        hint = " (a policy without eps needs --set eps=None)" if "eps" in unknown else ""
        raise ConfigError(f"policy={settings.policy!r} takes no {unknown}{hint}; its arguments are "
                          f"{list(parameters)}.")
    try:
        return policy_cls(**kwargs)
    except ValueError as error:
        raise ConfigError(f"policy={settings.policy!r} with {kwargs}: {error}") from None


def build_datasets(settings: Settings) -> Tuple[list, Optional[List[float]]]:
    """The training datasets named by ``settings.datasets`` and their weights ``settings.p_datasets``."""
    unknown = [name for name in settings.datasets if name not in DATASETS]
    if unknown or not settings.datasets:
        raise ConfigError(f"datasets={settings.datasets!r}: unknown {unknown or 'empty list'}; choose among "
                          f"{', '.join(DATASETS)}.")
    if settings.p_datasets is not None and len(settings.p_datasets) != len(settings.datasets):
        raise ConfigError(f"p_datasets={settings.p_datasets!r} has {len(settings.p_datasets)} weights for "
                          f"{len(settings.datasets)} datasets {settings.datasets!r}.")
    datasets: list = []
    weights: List[float] = []
    for i, name in enumerate(settings.datasets):
        parts = DATASETS[name](settings)
        datasets.extend(parts)
        if settings.p_datasets is not None:
            # a name standing for several datasets shares its weight among them
            weights.extend([float(settings.p_datasets[i]) / len(parts)] * len(parts))
    return datasets, (weights if settings.p_datasets is not None else None)


def build_slt_trainer(settings: Settings, datasets: Sequence, p_datasets: Optional[Sequence[float]] = None,
                      quiet: bool = False):
    """Sequence-level trainer of the registered ``settings.network`` through the registered adapter.

    The network starts from ``settings.checkpoint`` (see :func:`load_or_build_net`); the adapter is
    ``resolve_adapter(settings.adapter).from_settings(net, build_policy(settings), settings)`` and
    must expose that same network as ``adapter.net``. Checkpoints go to
    ``<checkpoints_dir>/generic/slt/<network>/`` and record ``tracker=<network>``.
    """
    from slt_plugins.adapter import SLTAdapter

    network, adapter_cls = resolve_pieces(settings)
    policy = build_policy(settings)
    net = load_or_build_net(settings, network)
    adapter = adapter_cls.from_settings(net, policy, settings)
    if not isinstance(adapter, SLTAdapter):
        raise TypeError(f"{adapter_cls.__qualname__}.from_settings returned {type(adapter).__name__}, which lacks "
                        f"the SLTAdapter members (policy, initialize, step, replay_loss; slt_plugins/adapter.py).")
    if getattr(adapter, "net", None) is not net:
        raise TypeError(f"{adapter_cls.__qualname__}.from_settings must keep the network it is given as "
                        f"adapter.net: the trainer optimises that network and the actor sets its mode.")
    # one folder per network, so a run of one tracker never resumes from another one's latest.pth
    base = f"{settings.module_name}/{settings.script_name}" if settings.module_name else "generic/slt"
    settings.project_path = f"{base}/{network}"
    return assemble_slt_trainer(adapter, net, settings, datasets, p_datasets,
                                lambda n: cosine_optimizer(n, settings), network, quiet=quiet)
