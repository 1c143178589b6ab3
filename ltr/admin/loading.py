"""Import official pytracking and pysot checkpoints without running code from the file.

Official checkpoints are ``torch.save``d dicts. The pysot ones (SiamRPN++, SiamAttn) hold only
tensors and load with ``torch.load(weights_only=True)``. The pytracking ones (TransT, TrDiMP)
also pickle training objects (``ltr.admin.model_constructor.NetConstructor``,
``ltr.admin.settings.Settings``, ``ltr.admin.stats.AverageMeter``, ...), which
``weights_only=True`` refuses and which an ordinary ``torch.load`` would import and rebuild.

This module reads every file through a restricted unpickler:

* tensor and storage rebuild functions, ``collections.OrderedDict``, torch dtypes/devices/sizes
  and numpy scalars/arrays of plain numeric dtypes are allowed (numpy and ``_codecs`` names are
  mapped to small checked equivalents);
* any class under the ``ltr.``, ``pytracking.``, ``dlframework.``, ``pysot.`` or ``lib.`` (OSTrack's
  ``lib.train.admin.*``) modules becomes
  an inert :class:`ForeignObject` that only records the state it was given; the real module is
  never imported and none of its code runs;
* every other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``,
  ``functools.partial``, ``builtins.getattr``, ...) is refused with
  :class:`RefusedCheckpointError` before anything is called.

Public API: :func:`safe_torch_load`, :func:`load_official_checkpoint`,
:func:`load_network_state`, :func:`compare_with_manifest`, :func:`load_manifest`,
:func:`guess_tracker`, :func:`normalize_state_dict`, and the command line::

    python -m ltr.admin.loading inspect FILE [--tracker NAME]
    python -m ltr.admin.loading convert FILE OUT.pth [--tracker NAME] [--strict]
"""
from __future__ import annotations

import _compat_pickle
import argparse
import collections
import functools
import io
import json
import pickle
import re
import sys
import types
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ltr.admin.checkpoint import CHECKPOINT_FORMAT, CheckpointError, PathLike, save_checkpoint

TRACKERS: Tuple[str, ...] = ("siamrpnpp", "siamattn", "transt", "trdimp", "ostrack")
"""Trackers with a shipped key manifest (``ltr/admin/manifests/<tracker>.json``, or one file per
variant named in :data:`MANIFEST_VARIANTS`)."""

MANIFEST_VARIANTS: Dict[str, Dict[str, str]] = {
    "ostrack": {"256": "ostrack_vitb_256", "384": "ostrack_vitb_384"},
}
"""Trackers whose official configurations differ in shapes: variant -> manifest file (the first
is the default). The key names are the same in every variant."""

VARIANT_SIZES: Dict[str, Dict[str, str]] = {"ostrack": {"256": "paper", "384": "paper384"}}
"""Variant -> the model size (``ltr.models.registry.build_network``) that builds it."""

FOREIGN_MODULE_PREFIXES: Tuple[str, ...] = ("ltr.", "pytracking.", "dlframework.", "pysot.", "lib.")
"""Classes from these modules are replaced by :class:`ForeignObject` stand-ins."""

_REFUSAL_REASON = "official checkpoints only contain tensors and plain settings objects"

ShapeMismatch = Tuple[str, Tuple[int, ...], Tuple[int, ...]]


class RefusedCheckpointError(CheckpointError):
    """The file asks the unpickler for a global that could run code; nothing was executed."""

    def __init__(self, path: PathLike, global_name: str) -> None:
        self.path = str(path)
        self.global_name = global_name
        super().__init__(f"{self.path} tries to load global '{global_name}'; {_REFUSAL_REASON}")


# ---------------------------------------------------------------------------------------------
# Inert stand-ins for the training objects pickled into pytracking checkpoints
# ---------------------------------------------------------------------------------------------

class ForeignObject:
    """Stand-in for an instance of a class the checkpoint names but this loader never imports.

    Unpickling only records what the file provides: constructor arguments (``args``,
    ``kwargs``), the ``__setstate__`` payload (``state``) and, for list- or dict-like classes,
    appended ``items`` and set ``entries``. No method of the original class exists here, so
    nothing from the file can run. Read attributes with :meth:`get` or :attr:`attributes`.
    """

    foreign_global: ClassVar[str] = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "ForeignObject":
        obj = object.__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.items = []
        obj.entries = {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # REDUCE calls cls(*args), which runs __new__ and then __init__ with the same arguments;
        # __new__ has already recorded them.
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    # pickle's APPEND(S) / SETITEM(S) opcodes call these on list- and dict-like classes.
    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Iterable[Any]) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.entries[key] = value

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A stand-in must never end up in a project checkpoint, which has to stay weights_only.
        raise TypeError(f"{self!r} is a stand-in and cannot be pickled; use to_plain() instead")

    @property
    def attributes(self) -> Dict[str, Any]:
        """The instance ``__dict__`` the file recorded (empty when it recorded none)."""
        state = self.state
        if isinstance(state, dict):
            return state
        if isinstance(state, tuple) and len(state) == 2:
            merged: Dict[str, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            return merged
        return {}

    def get(self, name: str, default: Any = None) -> Any:
        """One recorded attribute, or ``default``."""
        return self.attributes.get(name, default)

    def to_plain(self) -> Dict[str, Any]:
        """Plain data: ``{'__class__': 'module.Name', <attributes as plain data>}``."""
        plain: Dict[str, Any] = {"__class__": self.foreign_global}
        plain.update({str(k): _plain(v) for k, v in self.attributes.items()})
        if self.args:
            plain["__args__"] = [_plain(v) for v in self.args]
        if self.items:
            plain["__items__"] = [_plain(v) for v in self.items]
        if self.entries:
            plain["__entries__"] = {str(k): _plain(v) for k, v in self.entries.items()}
        return plain

    def __repr__(self) -> str:
        return f"<stand-in for {self.foreign_global}>"


def _plain(value: Any) -> Any:
    """Stand-ins, numpy values and containers as plain data (tensors are kept)."""
    if isinstance(value, ForeignObject):
        return value.to_plain()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_foreign_module(module: str) -> bool:
    return any(module == prefix[:-1] or module.startswith(prefix) for prefix in FOREIGN_MODULE_PREFIXES)


# ---------------------------------------------------------------------------------------------
# Checked replacements for the few non-torch globals that appear in official files
# ---------------------------------------------------------------------------------------------

# Plain numeric dtypes only ('f8', '<i8', '|b1', 'c16', ...): an object dtype would let the
# array payload carry arbitrary pickled objects.
_NUMPY_DTYPE_SPEC = re.compile(r"[<>=|]?[biufc][0-9]{1,2}")
_TEXT_ENCODINGS = frozenset({"latin1", "latin-1", "utf-8", "utf8", "ascii"})


def _safe_codecs_encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Protocol 2 writes bytes as _codecs.encode(str, 'latin1'); other codecs are not needed.
    if not isinstance(text, str) or encoding not in _TEXT_ENCODINGS or errors != "strict":
        raise pickle.UnpicklingError(f"unsupported _codecs.encode call (encoding {encoding!r})")
    return text.encode(encoding)


def _safe_numpy_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str) or not _NUMPY_DTYPE_SPEC.fullmatch(spec):
        raise pickle.UnpicklingError(f"unsupported numpy dtype {spec!r} (only plain numeric dtypes load)")
    return np.dtype(spec)


def _check_numeric_dtype(dtype: Any) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or dtype.hasobject:
        raise pickle.UnpicklingError(f"unsupported numpy dtype {dtype!r} (only plain numeric dtypes load)")
    return dtype


def _safe_numpy_scalar(dtype: Any, data: Any = None) -> np.generic:
    dtype = _check_numeric_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("malformed numpy scalar")
    return np.frombuffer(data, dtype=dtype)[0].copy()


class _NdarrayName:
    """What ``numpy.ndarray`` resolves to: only a tag for ``_reconstruct``, not a callable class
    (calling the real class could build an array with an object dtype)."""


_NDARRAY = _NdarrayName()


def _safe_numpy_reconstruct(subtype: Any, shape: Any, typecode: Any) -> np.ndarray:
    # numpy pickles arrays as _reconstruct(ndarray, (0,), b'b') followed by BUILD, which calls
    # ndarray.__setstate__ with a dtype that itself went through _safe_numpy_dtype.
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError("only plain numpy arrays load (no ndarray subclasses)")
    return np.empty((0,), dtype=np.int8)


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> ForeignObject:
    # Protocol 0/1 pickles of plain objects go through copyreg._reconstructor(cls, object, None).
    if not (isinstance(cls, type) and issubclass(cls, ForeignObject) and base is object):
        raise pickle.UnpicklingError("copyreg._reconstructor is only supported for plain settings objects")
    obj = cls.__new__(cls)
    if state is not None:
        obj.args = (state,)
    return obj


@functools.lru_cache(maxsize=1)
def _allowed_globals() -> Dict[str, Any]:
    """'module.name' -> object handed to the unpickler (read-only after construction)."""
    table: Dict[str, Any] = {
        "collections.OrderedDict": collections.OrderedDict,
        "torch.Size": torch.Size,
        "torch.device": torch.device,
        "torch.nn.parameter.Parameter": torch.nn.Parameter,
        "torch._tensor._rebuild_from_type_v2": torch._tensor._rebuild_from_type_v2,
        "torch.storage.UntypedStorage": torch.storage.UntypedStorage,
        "torch.storage.TypedStorage": torch.storage.TypedStorage,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "builtins.bytearray": bytearray,
        "builtins.complex": complex,
        # Only ever the `base` argument of copyreg._reconstructor; object() itself is harmless.
        "builtins.object": object,
        "copyreg._reconstructor": _safe_reconstructor,
        "_codecs.encode": _safe_codecs_encode,
        "numpy.dtype": _safe_numpy_dtype,
        "numpy.ndarray": _NDARRAY,
    }
    for numpy_core in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[f"{numpy_core}.scalar"] = _safe_numpy_scalar
        table[f"{numpy_core}._reconstruct"] = _safe_numpy_reconstruct
    # The tensor rebuild functions torch itself trusts for plain dense tensors and parameters.
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                 "_rebuild_parameter_with_state", "_rebuild_device_tensor_from_cpu_tensor",
                 "_rebuild_device_tensor_from_numpy", "_rebuild_meta_tensor_no_storage"):
        function = getattr(torch._utils, name, None)
        if function is not None:
            table[f"torch._utils.{name}"] = function
    for value in vars(torch).values():
        if isinstance(value, torch.dtype):
            table[str(value)] = value
    # Legacy storage classes (torch.FloatStorage, ...): torch's own unpickler wrapper normally
    # resolves these first; the stand-in type only tells persistent_load the element type.
    for storage_class in torch._storage_classes:
        if storage_class not in (torch.storage.TypedStorage, torch.storage.UntypedStorage):
            table[f"torch.{storage_class.__name__}"] = torch.serialization.StorageType(storage_class.__name__)
    return table


def _restricted_pickle_module(path: PathLike) -> types.ModuleType:
    """A module-like object for ``torch.load(pickle_module=...)`` whose unpickler is restricted.

    Built per file so the error names it, and so stand-in classes are not shared between loads.
    """
    allowed = _allowed_globals()
    stand_ins: Dict[str, type] = {}

    def stand_in(module: str, name: str) -> type:
        full_name = f"{module}.{name}"
        if full_name not in stand_ins:
            stand_ins[full_name] = type(name.rpartition(".")[2] or name, (ForeignObject,),
                                        {"foreign_global": full_name, "__module__": __name__})
        return stand_ins[full_name]

    class RestrictedUnpickler(pickle.Unpickler):
        """``pickle.Unpickler`` whose ``find_class`` only hands out allow-listed objects."""

        def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle API
            # Protocols < 3 (torch.save uses 2) write Python 2 names such as '__builtin__.set';
            # translate them as the stock unpickler does, then judge the Python 3 name.
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
            full_name = f"{module}.{name}"
            if full_name in allowed:
                return allowed[full_name]
            if _is_foreign_module(module) and all(part.isidentifier() for part in name.split(".")):
                return stand_in(module, name)
            raise RefusedCheckpointError(path, full_name)

    def load(file: Any, **kwargs: Any) -> Any:
        return RestrictedUnpickler(file, **kwargs).load()

    def loads(data: bytes, **kwargs: Any) -> Any:
        return RestrictedUnpickler(io.BytesIO(data), **kwargs).load()

    module = types.ModuleType("ltr_restricted_pickle")
    module.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
    module.load = load  # type: ignore[attr-defined]
    module.loads = loads  # type: ignore[attr-defined]
    module.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    return module


def safe_torch_load(path: PathLike) -> Any:
    """Load any torch-saved file (zip or legacy format) without running code from it.

    Tries ``torch.load(weights_only=True)`` first (enough for pysot and project files), then the
    restricted unpickler for pytracking files, whose training objects come back as
    :class:`ForeignObject` stand-ins. Tensors are mapped to the CPU, so files written on a GPU
    load anywhere.

    Raises:
        RefusedCheckpointError: the file names a global that is not allowed (nothing ran).
        CheckpointError: missing, truncated or non-torch file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # a global outside torch's allow-list: decide with the restricted unpickler below
    except RuntimeError as error:
        # torch's safe mode does not read the pre-0.4 tar container at all; the restricted one does.
        if "legacy .tar format" not in str(error):
            raise CheckpointError(f"Checkpoint '{path}' cannot be read (RuntimeError: {_first_line(error)}). "
                                  f"Is it a complete torch.save file?") from error
    except Exception as error:
        raise CheckpointError(f"Checkpoint '{path}' cannot be read ({type(error).__name__}: "
                              f"{_first_line(error)}). Is it a complete torch.save file?") from error
    try:
        return torch.load(path, map_location="cpu", weights_only=False,
                          pickle_module=_restricted_pickle_module(path))
    except CheckpointError:
        raise
    except Exception as error:
        raise CheckpointError(f"Checkpoint '{path}' cannot be loaded safely ({type(error).__name__}: "
                              f"{_first_line(error)}).") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


# ---------------------------------------------------------------------------------------------
# Manifests: the key, shape and dtype lists of the official paper-size models
# ---------------------------------------------------------------------------------------------

ManifestEntry = Tuple[str, Tuple[int, ...], str]


def manifest_names() -> List[str]:
    """Every shipped manifest file name (without ``.json``): one per tracker or per variant."""
    return [name for tracker in TRACKERS for name in MANIFEST_VARIANTS.get(tracker, {tracker: tracker}).values()]


def manifest_name(tracker: str, variant: Optional[str] = None) -> str:
    """The manifest file of ``tracker`` (and ``variant``, default: the tracker's first)."""
    if tracker not in TRACKERS:
        raise ValueError(f"Unknown tracker '{tracker}'; expected one of {', '.join(TRACKERS)}.")
    variants = MANIFEST_VARIANTS.get(tracker)
    if variants is None:
        if variant is not None:
            raise ValueError(f"Tracker '{tracker}' has one manifest; got variant {variant!r}.")
        return tracker
    if variant is None:
        return next(iter(variants.values()))
    if variant not in variants:
        raise ValueError(f"Tracker '{tracker}' has variants {', '.join(variants)}; got {variant!r}.")
    return variants[variant]


def detect_variant(state_dict: Mapping[str, Any], tracker: str) -> Optional[str]:
    """The variant of ``tracker`` whose manifest the state dict's shapes match best (fewest shape
    differences on the shared keys, the default variant on ties; for OSTrack the position
    embeddings tell 256 from 384); None for trackers without variants."""
    variants = MANIFEST_VARIANTS.get(tracker)
    if variants is None:
        return None

    def differences(name: str) -> int:
        return sum(1 for key, shape, _ in _manifest(name)
                   if key in state_dict and tuple(getattr(state_dict[key], "shape", ())) != shape)

    return min(variants, key=lambda variant: differences(variants[variant]))


@functools.lru_cache(maxsize=None)
def _manifest(name: str) -> Tuple[ManifestEntry, ...]:
    if name not in manifest_names():
        raise ValueError(f"Unknown manifest '{name}'; expected one of {', '.join(manifest_names())}.")
    text = resources.files("ltr.admin").joinpath("manifests", f"{name}.json").read_text(encoding="utf-8")
    return tuple((key, tuple(shape), dtype) for key, shape, dtype in json.loads(text)["state_dict"])


def load_manifest(tracker: str, variant: Optional[str] = None) -> List[ManifestEntry]:
    """``[(key, shape, dtype name), ...]`` of the official paper-size model, in state-dict order.

    ``dtype`` is written without the ``torch.`` prefix (e.g. ``'float32'``, ``'int64'``).
    ``variant``: for trackers with several official configurations (:data:`MANIFEST_VARIANTS`).
    """
    return list(_manifest(manifest_name(tracker, variant)))


@functools.lru_cache(maxsize=None)
def _manifest_keys(tracker: str) -> frozenset:
    return frozenset(key for key, _, _ in _manifest(manifest_name(tracker)))


def compare_with_manifest(state_dict: Mapping[str, torch.Tensor], tracker: str, variant: Optional[str] = None
                          ) -> Tuple[List[str], List[str], List[ShapeMismatch]]:
    """Compare a (normalised) state dict with the official paper-size model of ``tracker``
    (for trackers with variants: ``variant``, default the one :func:`detect_variant` finds).

    Returns:
        ``(missing, unexpected, mismatched)``: manifest keys absent from ``state_dict`` (manifest
        order), keys the manifest does not know (``state_dict`` order), and
        ``(key, shape in state_dict, shape in manifest)`` for keys whose shapes differ.
    """
    if variant is None:
        variant = detect_variant(state_dict, tracker)
    manifest = _manifest(manifest_name(tracker, variant))
    expected = {key: shape for key, shape, _ in manifest}
    missing = [key for key, _, _ in manifest if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    mismatched: List[ShapeMismatch] = []
    for key, value in state_dict.items():
        if key in expected and tuple(value.shape) != expected[key]:
            mismatched.append((key, tuple(value.shape), expected[key]))
    return missing, unexpected, mismatched


def guess_tracker(keys: Iterable[str], hint: Optional[str] = None) -> Optional[str]:
    """Which of :data:`TRACKERS` a set of (normalised) state-dict keys belongs to.

    The manifest that explains the largest share of the keys wins (ties: the one whose keys are
    most completely present, so a SiamRPN++ file is not taken for the larger SiamAttn). When no
    manifest explains at least half of the keys, ``hint`` (from the container's ``net_type`` or
    ``tracker`` entry) is returned if it names a known tracker, else None.
    """
    key_set = set(keys)
    best: Optional[str] = None
    best_score = (0.0, 0.0)
    for tracker in TRACKERS:
        known = _manifest_keys(tracker)
        common = len(key_set & known)
        if not common:
            continue
        score = (common / len(key_set), common / len(known))
        if score > best_score:
            best, best_score = tracker, score
    if best is not None and best_score[0] >= 0.5:
        return best
    return hint if hint in TRACKERS else None


# ---------------------------------------------------------------------------------------------
# Official containers
# ---------------------------------------------------------------------------------------------

_MODULE_PREFIX = "module."


def normalize_state_dict(state_dict: Mapping[str, Any], *, legacy_names: bool = True,
                         path: Optional[PathLike] = None) -> Tuple["collections.OrderedDict[str, torch.Tensor]", int, int]:
    """Strip ``module.`` prefixes (DataParallel) and, if ``legacy_names``, rename ``bbox_head``
    to ``refine_head`` (the original SiamAttn name of the box refinement head).

    Returns:
        ``(state_dict, number of keys stripped, number of keys renamed)``.

    Raises:
        CheckpointError: a value is not a tensor, or two keys collapse onto the same name.
    """
    where = f"'{path}'" if path is not None else "the state dict"
    result: "collections.OrderedDict[str, torch.Tensor]" = collections.OrderedDict()
    stripped = renamed = 0
    for key, value in state_dict.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"Checkpoint {where}: state-dict entry {key!r} is a "
                                  f"{type(value).__name__}, not a tensor.")
        new_key = key
        while new_key.startswith(_MODULE_PREFIX):
            new_key = new_key[len(_MODULE_PREFIX):]
        stripped += new_key != key
        if legacy_names and "bbox_head" in new_key:
            new_key = new_key.replace("bbox_head", "refine_head")
            renamed += 1
        if new_key in result:
            raise CheckpointError(f"Checkpoint {where}: keys '{key}' and another entry both map to '{new_key}'.")
        result[new_key] = value
    return result, stripped, renamed


@dataclass
class OfficialCheckpoint:
    """An imported checkpoint: its weights, and what the container said about them."""

    path: Path
    format: str
    """'pytracking' (dict with 'net'), 'pysot' (dict with 'state_dict', or a bare state dict) or
    'project' (``ltr.admin.checkpoint`` format)."""
    tracker: Optional[str]
    """One of :data:`TRACKERS`, or None when neither keys nor container tell."""
    state_dict: "collections.OrderedDict[str, torch.Tensor]"
    """Tensors with ``module.`` stripped and legacy names renamed."""
    meta: Dict[str, Any] = field(default_factory=dict)
    """Plain data: 'epoch', 'net_type', 'actor_type', 'constructor' ({'fun_name', 'fun_module'}),
    'size' (project files), 'top_level_keys', 'stripped_module_prefix', 'renamed_legacy_keys'."""

    def compare(self, tracker: Optional[str] = None) -> Tuple[List[str], List[str], List[ShapeMismatch]]:
        """:func:`compare_with_manifest` against ``tracker`` (default: the detected one)."""
        tracker = tracker or self.tracker
        if tracker is None:
            raise CheckpointError(f"Cannot tell which tracker '{self.path}' holds; name it explicitly.")
        return compare_with_manifest(self.state_dict, tracker)


def _net_type_hint(net_type: Any, constructor: Mapping[str, str], keys: Iterable[str]) -> Optional[str]:
    text = " ".join(str(v) for v in (net_type, constructor.get("fun_name"), constructor.get("fun_module")) if v)
    if "transt" in text.lower():
        return "transt"
    if "ostrack" in text.lower():
        return "ostrack"
    # DiMPnet is also plain DiMP/PrDiMP; only the transformer branch makes it TrDiMP.
    if "dimp" in text.lower() and any(k.startswith("classifier.transformer.") for k in keys):
        return "trdimp"
    return None


def _unpack(obj: Any, path: Path) -> Tuple[str, Mapping[str, Any], Dict[str, Any], Optional[str]]:
    """(format, raw state dict, meta, tracker hint) of a loaded container."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"Checkpoint '{path}' holds a {type(obj).__name__}, not a checkpoint dict.")
    meta: Dict[str, Any] = {"top_level_keys": [str(k) for k in obj.keys()]}
    if "epoch" in obj and isinstance(obj["epoch"], (int, np.integer)):
        meta["epoch"] = int(obj["epoch"])
    fmt_tag = obj.get("format")
    if isinstance(fmt_tag, str) and fmt_tag.split("/")[0] == CHECKPOINT_FORMAT.split("/")[0] and "net" in obj:
        for key in ("tracker", "size", "iteration"):
            if key in obj:
                meta[key] = _plain(obj[key])
        meta["format_version"] = fmt_tag
        return "project", _state_mapping(obj["net"], path, "net"), meta, obj.get("tracker")
    if "net" in obj:
        for key in ("net_type", "actor_type"):
            if isinstance(obj.get(key), str):
                meta[key] = obj[key]
        constructor: Dict[str, str] = {}
        if isinstance(obj.get("constructor"), ForeignObject):
            for attr in ("fun_name", "fun_module"):
                value = obj["constructor"].get(attr)
                if isinstance(value, str):
                    # Very old files name the pre-rename package; the official loader drops it too.
                    constructor[attr] = value[len("dlframework."):] if value.startswith("dlframework.") else value
            meta["constructor"] = constructor
        state = _state_mapping(obj["net"], path, "net")
        return "pytracking", state, meta, _net_type_hint(meta.get("net_type"), constructor, state.keys())
    if "state_dict" in obj:
        return "pysot", _state_mapping(obj["state_dict"], path, "state_dict"), meta, None
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        meta = {"top_level_keys": []}  # a bare state dict: its keys are the weights
        return "pysot", obj, meta, None
    raise CheckpointError(f"Checkpoint '{path}' is not a recognised checkpoint: expected a 'net' entry "
                          f"(pytracking), a 'state_dict' entry or a bare state dict (pysot); found keys "
                          f"{sorted(map(str, obj.keys()))[:8]}.")


def _state_mapping(value: Any, path: Path, entry: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise CheckpointError(f"Checkpoint '{path}': entry '{entry}' is a {type(value).__name__}, not a state dict.")
    return value


def load_official_checkpoint(path: PathLike) -> OfficialCheckpoint:
    """Load an official (or project) checkpoint safely and normalise its weights.

    Raises:
        RefusedCheckpointError: the file tries to load a global outside the allow-list.
        CheckpointError: unreadable file or unrecognised container.
    """
    path = Path(path)
    fmt, raw_state, meta, hint = _unpack(safe_torch_load(path), path)
    state, stripped, renamed = normalize_state_dict(raw_state, legacy_names=fmt == "pysot", path=path)
    meta["stripped_module_prefix"] = stripped
    meta["renamed_legacy_keys"] = renamed
    tracker = guess_tracker(state.keys(), hint)
    if fmt != "project" and tracker in MANIFEST_VARIANTS:
        meta["variant"] = detect_variant(state, tracker)
        meta["size"] = VARIANT_SIZES[tracker][meta["variant"]]
    return OfficialCheckpoint(path=path, format=fmt, tracker=tracker, state_dict=state, meta=meta)


def load_network_state(path: PathLike, tracker: Optional[str] = None) -> "collections.OrderedDict[str, torch.Tensor]":
    """The normalised state dict of a checkpoint, for ``model.load_state_dict``.

    Args:
        tracker: the tracker the caller builds; a file that clearly holds another tracker's
            weights is rejected instead of failing later with hundreds of key errors.
    """
    if tracker is not None and tracker not in TRACKERS:
        raise ValueError(f"Unknown tracker '{tracker}'; expected one of {', '.join(TRACKERS)}.")
    checkpoint = load_official_checkpoint(path)
    if tracker is not None and checkpoint.tracker not in (None, tracker):
        raise CheckpointError(f"Checkpoint '{path}' holds {checkpoint.tracker} weights, not {tracker}.")
    return checkpoint.state_dict


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def inspect_report(checkpoint: OfficialCheckpoint, tracker: Optional[str] = None) -> Dict[str, Any]:
    """The JSON-ready summary printed by ``inspect``.

    ``missing``/``unexpected``/``mismatched`` compare against the paper-size model of
    ``tracker`` (default: the detected one); all three are empty when no tracker is known.
    """
    tracker = tracker or checkpoint.tracker
    missing: List[str] = []
    unexpected: List[str] = []
    mismatched: List[Dict[str, Any]] = []
    variant = detect_variant(checkpoint.state_dict, tracker) if tracker is not None else None
    if tracker is not None:
        missing, unexpected, shape_errors = compare_with_manifest(checkpoint.state_dict, tracker, variant)
        mismatched = [{"key": key, "file": list(got), "expected": list(want)} for key, got, want in shape_errors]
    report: Dict[str, Any] = {"format": checkpoint.format, "tracker": tracker}
    if variant is not None:
        report["variant"] = variant
    report.update({"tensors": len(checkpoint.state_dict), "missing": missing, "unexpected": unexpected,
                   "mismatched": mismatched})
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ltr.admin.loading",
                                     description="Inspect or convert official tracker checkpoints safely.")
    sub = parser.add_subparsers(dest="command", required=True)
    inspect = sub.add_parser("inspect", help="print format, tracker and key comparison as JSON")
    inspect.add_argument("file")
    inspect.add_argument("--tracker", choices=TRACKERS, help="compare against this tracker instead of the detected one")
    convert = sub.add_parser("convert", help="write a project-format (weights_only) checkpoint")
    convert.add_argument("file")
    convert.add_argument("out")
    convert.add_argument("--tracker", choices=TRACKERS, help="tracker the weights belong to (default: detected)")
    convert.add_argument("--strict", action="store_true",
                         help="write nothing unless the keys and shapes match the paper-size model exactly")
    return parser


def _convert(checkpoint: OfficialCheckpoint, out: str, tracker: Optional[str], strict: bool) -> int:
    if tracker is not None and checkpoint.tracker not in (None, tracker):
        print(f"error: {checkpoint.path} holds {checkpoint.tracker} weights, not {tracker}", file=sys.stderr)
        return 1
    tracker = tracker or checkpoint.tracker
    if tracker is None:
        print(f"error: cannot tell which tracker {checkpoint.path} holds; pass --tracker", file=sys.stderr)
        return 1
    report = inspect_report(checkpoint, tracker)
    problems = {k: len(report[k]) for k in ("missing", "unexpected", "mismatched") if report[k]}
    size = str(checkpoint.meta.get("size", "paper"))
    if problems and size.startswith("paper"):
        detail = ", ".join(f"{n} {kind}" for kind, n in problems.items())
        print(f"warning: {checkpoint.path} differs from the paper-size {tracker} model ({detail}); "
              f"run 'inspect' for the keys", file=sys.stderr)
        if strict:
            print("error: --strict given, nothing written", file=sys.stderr)
            return 1
    source = {"path": str(checkpoint.path), "format": checkpoint.format}
    source.update({k: v for k, v in checkpoint.meta.items() if k in ("net_type", "actor_type", "constructor", "epoch")})
    written = save_checkpoint(out, checkpoint.state_dict, tracker=tracker, size=size,
                              epoch=int(checkpoint.meta.get("epoch", 0)), extra={"imported_from": source})
    print(f"wrote {written} ({tracker}, {len(checkpoint.state_dict)} tensors)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m ltr.admin.loading``; returns the exit status.

    Exit status: 0 success, 1 unreadable/unrecognised file or mismatch under ``--strict``,
    2 refused file (it names a global that could run code).
    """
    args = _parser().parse_args(argv)
    try:
        checkpoint = load_official_checkpoint(args.file)
    except RefusedCheckpointError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    except CheckpointError as error:
        print(f"error: {_first_line(error)}", file=sys.stderr)
        return 1
    if args.command == "inspect":
        print(json.dumps(inspect_report(checkpoint, args.tracker), indent=2))
        return 0
    return _convert(checkpoint, args.out, args.tracker, args.strict)


if __name__ == "__main__":
    sys.exit(main())
