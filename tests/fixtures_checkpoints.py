"""Writers of fake official checkpoints for the safe-loading tests.

The files name the official globals exactly (``ltr.admin.model_constructor.NetConstructor``,
``ltr.admin.settings.Settings``, ``dlframework.common.utils.stats.AverageMeter``, ...) without
those classes existing anywhere: a pickler subclass writes the GLOBAL opcode for stand-in classes
by name, so nothing is registered in ``sys.modules`` and no real module is imported.

State dicts follow the shipped manifests. To keep disk and time low, every float tensor is a
stride-0 view of one shared element (``expand``), so a full 645-key SiamAttn dict is a few bytes
of storage while its keys and shapes are exactly the paper model's; ``random_keys`` get real,
distinct values so round trips can be checked.
"""
from __future__ import annotations

import collections
import contextlib
import pickle
import types
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ltr.admin.loading import load_manifest


class GlobalRef:
    """Names ``module.name`` in the written pickle; never resolved or called while writing."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # pickle requires REDUCE targets to be callable
        raise RuntimeError("GlobalRef is only a name for the pickler")


def official_class(module: str, name: str) -> type:
    """A fresh plain class whose instances pickle as instances of ``module.name``."""
    return type(name, (), {"__official_global__": (module, name)})


def official_object(module: str, name: str, **attributes: Any) -> Any:
    """An instance of :func:`official_class` with the given ``__dict__``."""
    obj = official_class(module, name)()
    obj.__dict__.update(attributes)
    return obj


class Call:
    """Pickles as ``func(*args)``: the shape of a crafted exploit (or a legitimate REDUCE)."""

    def __init__(self, func: Any, args: Tuple[Any, ...]) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return self.func, self.args


class _NamingPickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pure-python pickler that writes stand-in classes and GlobalRefs under their official names."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_global(self, obj: Any, name: Optional[str] = None) -> None:
        target = (obj.module, obj.name) if isinstance(obj, GlobalRef) else getattr(obj, "__official_global__", None)
        if target is None:
            super().save_global(obj, name)
            return
        module, qualname = target
        if self.proto >= 4:
            self.save(module)
            self.save(qualname)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode("utf-8"))
        self.memoize(obj)

    def _save_global_ref(self, obj: GlobalRef) -> None:
        self.save_global(obj)

    dispatch[GlobalRef] = _save_global_ref


_naming_pickle = types.ModuleType("naming_pickle")
_naming_pickle.Pickler = _NamingPickler  # type: ignore[attr-defined]
_naming_pickle.dump = pickle.dump  # type: ignore[attr-defined]


def torch_save(obj: Any, path: Path, *, legacy_format: bool = False, protocol: int = 2) -> Path:
    """``torch.save`` through the naming pickler; ``legacy_format`` writes the pre-1.6 non-zip file."""
    torch.save(obj, path, pickle_module=_naming_pickle, pickle_protocol=protocol,
               _use_new_zipfile_serialization=not legacy_format)
    return path


@contextlib.contextmanager
def tagged_as_cuda(tensors: Iterable[torch.Tensor]) -> Iterator[None]:
    """While saving, record the storages of ``tensors`` as living on 'cuda:0' (as a GPU run would)."""
    pointers = {t.untyped_storage().data_ptr() for t in tensors}
    original = torch.serialization.location_tag

    def location_tag(storage: Any) -> str:
        untyped = storage._untyped_storage if isinstance(storage, torch.storage.TypedStorage) else storage
        return "cuda:0" if untyped.data_ptr() in pointers else original(storage)

    torch.serialization.location_tag = location_tag
    try:
        yield
    finally:
        torch.serialization.location_tag = original


def manifest_state_dict(tracker: str, *, keys: Optional[Sequence[str]] = None,
                        random_keys: Sequence[str] = (),
                        shape_overrides: Optional[Mapping[str, Sequence[int]]] = None,
                        variant: Optional[str] = None) -> "collections.OrderedDict[str, torch.Tensor]":
    """A state dict with the manifest's keys (or the ``keys`` subset), shapes and dtypes
    (``variant``: of trackers with several official configurations, e.g. OSTrack '384')."""
    wanted = None if keys is None else set(keys)
    overrides = dict(shape_overrides or {})
    bases = {"float32": torch.zeros(1), "int64": torch.zeros(1, dtype=torch.int64)}
    generator = torch.Generator().manual_seed(0)
    state: "collections.OrderedDict[str, torch.Tensor]" = collections.OrderedDict()
    for key, shape, dtype in load_manifest(tracker, variant):
        if wanted is not None and key not in wanted:
            continue
        shape = tuple(overrides.get(key, shape))
        if key in random_keys:
            state[key] = torch.randn(shape, generator=generator).to(getattr(torch, dtype))
        elif not shape:
            state[key] = bases[dtype].reshape(())
        else:
            state[key] = bases[dtype].expand(*shape)
    return state


def with_module_prefix(state: Mapping[str, torch.Tensor]) -> "collections.OrderedDict[str, torch.Tensor]":
    """Keys as a DataParallel-wrapped model would write them."""
    return collections.OrderedDict((f"module.{k}", v) for k, v in state.items())


def with_bbox_head_names(state: Mapping[str, torch.Tensor]) -> "collections.OrderedDict[str, torch.Tensor]":
    """SiamAttn keys as the original SiamAttn code names the refine head."""
    return collections.OrderedDict((k.replace("refine_head", "bbox_head"), v) for k, v in state.items())


_PYTRACKING_INFO = {
    "transt": {"net_type": "TransT", "actor_type": "TranstActor", "fun_name": "transt_resnet50",
               "fun_module": "ltr.models.tracking.transt"},
    "trdimp": {"net_type": "DiMPnet", "actor_type": "KLDiMPActor", "fun_name": "dimpnet50",
               "fun_module": "ltr.models.tracking.dimpnet"},
}


class _OldNumpyScalar:
    """Pickles a float64 the way numpy < 2 did (``numpy.core.multiarray.scalar``)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return GlobalRef("numpy.core.multiarray", "scalar"), (np.dtype("f8"), np.float64(self.value).tobytes())


def pytracking_container(tracker: str, state: Mapping[str, torch.Tensor], *, old_module_names: bool = False,
                         slt_stats: bool = False, extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The dict BaseTrainer.save_checkpoint writes, with stand-ins for the training objects.

    ``old_module_names`` uses the pre-rename ``dlframework.common.utils.*`` module names;
    ``slt_stats`` adds the numpy values and the GPU ``grad_norm`` tensor of the SLT trainers.
    """
    info = _PYTRACKING_INFO[tracker]
    admin = "dlframework.common.utils" if old_module_names else "ltr.admin"
    env = official_object(f"{admin}.local", "EnvironmentSettings", workspace_dir="/home/user/ws",
                          lasot_dir="/data/lasot", got10k_dir="/data/got10k")
    settings = official_object(f"{admin}.settings", "Settings", env=env, device="cuda", hidden_dim=256,
                               nheads=8, position_embedding="sine", batch_size=38, module_name=tracker)
    fun_module = ("dlframework." + info["fun_module"]) if old_module_names else info["fun_module"]
    constructor = official_object(f"{admin}.model_constructor", "NetConstructor", fun_name=info["fun_name"],
                                  fun_module=fun_module, args=(settings,), kwds={})
    train_stats: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
    train_stats["Loss/total"] = official_object(f"{admin}.stats", "AverageMeter", val=0.5, avg=0.61, sum=61.0, count=100)
    train_stats["LearningRate/group0"] = official_object(f"{admin}.stats", "StatValue", val=1e-4, history=[1e-4])
    if slt_stats:
        train_stats["reward"] = official_object(f"{admin}.stats", "AverageMeter", val=np.float64(0.25),
                                                avg=np.float64(0.5), sum=np.float64(5.0), count=10)
        train_stats["mIoU_old_numpy"] = official_object(f"{admin}.stats", "StatValue", val=_OldNumpyScalar(0.75),
                                                        history=[])
        train_stats["ious"] = official_object(f"{admin}.stats", "StatValue", val=np.arange(4, dtype=np.float32),
                                              history=[np.bool_(True)])
        train_stats["grad_norm"] = official_object(f"{admin}.stats", "StatValue", val=torch.tensor(3.5), history=[])
    stats = collections.OrderedDict([("train", train_stats), ("val", None)])
    container = {"epoch": 300, "actor_type": info["actor_type"], "net_type": info["net_type"], "net": state,
                 "net_info": None, "constructor": constructor,
                 "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "weight_decay": 1e-4, "params": [0, 1]}]},
                 "stats": stats, "settings": settings}
    container.update(extra or {})
    return container


def write_pytracking_checkpoint(path: Path, tracker: str = "transt", *,
                                state: Optional[Mapping[str, torch.Tensor]] = None, legacy_format: bool = False,
                                old_module_names: bool = False, slt_stats: bool = False,
                                extra: Optional[Dict[str, Any]] = None) -> Path:
    """A TransT/TrDiMP checkpoint as the official (SLT) trainers write it."""
    state = manifest_state_dict(tracker) if state is None else state
    container = pytracking_container(tracker, state, old_module_names=old_module_names,
                                     slt_stats=slt_stats, extra=extra)
    cuda_tensors = [container["stats"]["train"]["grad_norm"].val] if slt_stats else []
    with tagged_as_cuda(cuda_tensors):
        return torch_save(container, path, legacy_format=legacy_format)


def write_pysot_checkpoint(path: Path, tracker: str = "siamrpnpp", *,
                           state: Optional[Mapping[str, torch.Tensor]] = None, bare: bool = False,
                           legacy_format: bool = False, extra: Optional[Dict[str, Any]] = None) -> Path:
    """A SiamRPN++/SiamAttn checkpoint as pysot's train scripts write it (or a bare state dict)."""
    state = manifest_state_dict(tracker) if state is None else state
    if bare:
        container: Any = collections.OrderedDict(state)
    else:
        container = {"epoch": 20, "state_dict": state,
                     "optimizer": {"state": {}, "param_groups": [{"lr": 5e-3, "momentum": 0.9, "params": [0]}]}}
        container.update(extra or {})
    return torch_save(container, path, legacy_format=legacy_format)


def ostrack_container(state: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """The dict OSTrack's ``lib/train/trainers/base_trainer.py`` save_checkpoint writes: stand-ins
    for ``lib.train.admin.*`` (Settings, EnvironmentSettings, AverageMeter, StatValue) and a
    ``torch.device`` in the settings, no constructor."""
    env = official_object("lib.train.admin.local", "EnvironmentSettings", workspace_dir="/home/user/OSTrack",
                          lasot_dir="/data/lasot")
    settings = official_object("lib.train.admin.settings", "Settings", env=env, device=torch.device("cpu"),
                               script_name="ostrack", config_name="vitb_256_mae_ce_32x4_ep300", batchsize=32,
                               local_rank=-1)
    train_stats: "collections.OrderedDict[str, Any]" = collections.OrderedDict()
    for name in ("Loss/total", "Loss/giou", "Loss/l1", "Loss/location", "IoU"):
        train_stats[name] = official_object("lib.train.admin.stats", "AverageMeter", val=0.5, avg=0.6, sum=60.0,
                                            count=100)
    train_stats["LearningRate/group0"] = official_object("lib.train.admin.stats", "StatValue", val=4e-5,
                                                         history=[4e-4, 4e-5])
    return {"epoch": 300, "actor_type": "OSTrackActor", "net_type": "OSTrack", "net": state, "net_info": None,
            "constructor": None,
            "optimizer": {"state": {}, "param_groups": [{"lr": 4e-5, "weight_decay": 1e-4, "params": [0, 1]}]},
            "stats": collections.OrderedDict([("train", train_stats), ("val", None)]), "settings": settings}
