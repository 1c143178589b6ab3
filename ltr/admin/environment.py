"""Where data, checkpoints and results live.

One settings object serves training (ltr) and evaluation (pytracking). Values come from,
in increasing priority:

1. defaults: everything under one workspace folder (``<checkout>/workspace``);
2. the local settings file, a plain Python module created with the defaults on first use
   (``ltr/admin/local.py`` in the checkout, or the file named by ``SLT_LOCAL_SETTINGS``);
   it defines ``local_settings()`` returning a dict of field -> path;
3. environment variables ``SLT_<FIELD>`` in upper case, e.g. ``SLT_LASOT_DIR``,
   ``SLT_WORKSPACE_DIR``, ``SLT_RESULTS_DIR``.

A dataset path that is empty or points to the wrong layout is reported by
:func:`require_dataset_dir` with the dataset's name, the path, what was expected there and the
setting or variable to change.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path
from typing import Dict, Iterable, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Fields whose default is derived from the workspace folder.
_WORKSPACE_FIELDS = {
    "checkpoints_dir": "checkpoints",
    "results_dir": "results",
    "result_plots_dir": "result_plots",
    "pretrained_networks_dir": "pretrained_networks",
    "synthetic_dir": "data/synthetic",
    "lmdb_dir": "data/lmdb",
}

#: Dataset root fields; empty by default (the user has to point them at their copy).
DATASET_FIELDS = (
    "lasot_dir",
    "got10k_dir",
    "trackingnet_dir",
    "coco_dir",
    "youtubevos_dir",
    "otb_dir",
    "lasot_lmdb_dir",
    "got10k_lmdb_dir",
    "trackingnet_lmdb_dir",
    "coco_lmdb_dir",
    "youtubevos_lmdb_dir",
)


@dataclasses.dataclass
class EnvSettings:
    """All paths the framework reads from or writes to (absolute or relative strings)."""

    workspace_dir: str = ""
    checkpoints_dir: str = ""
    results_dir: str = ""
    result_plots_dir: str = ""
    pretrained_networks_dir: str = ""
    synthetic_dir: str = ""
    lmdb_dir: str = ""
    #: Parsed evaluation annotations as .npy files (see pytracking.analysis.textio.AnnotationCache);
    #: empty = no cache.
    annotation_cache_dir: str = ""
    lasot_dir: str = ""
    got10k_dir: str = ""
    trackingnet_dir: str = ""
    coco_dir: str = ""
    youtubevos_dir: str = ""
    otb_dir: str = ""
    lasot_lmdb_dir: str = ""
    got10k_lmdb_dir: str = ""
    trackingnet_lmdb_dir: str = ""
    coco_lmdb_dir: str = ""
    youtubevos_lmdb_dir: str = ""

    @staticmethod
    def env_var(field: str) -> str:
        """Environment variable that overrides ``field``."""
        return "SLT_" + field.upper()


class DatasetPathError(FileNotFoundError):
    """A dataset root is not configured or lacks the expected layout."""


def local_settings_path() -> Path:
    """The local settings file (``SLT_LOCAL_SETTINGS`` or ``ltr/admin/local.py``)."""
    override = os.environ.get("SLT_LOCAL_SETTINGS")
    if override:
        return Path(override).expanduser()
    return REPO_ROOT / "ltr" / "admin" / "local.py"


_LOCAL_TEMPLATE = '''"""Local paths for this machine. Edit freely; environment variables SLT_<FIELD> still win.

Empty strings mean "use the default" (derived from workspace_dir) for workspace folders and
"not configured" for datasets.
"""


def local_settings():
    return {{
{entries}
    }}
'''


def create_default_local_file(path: Optional[Path] = None) -> Path:
    """Write the local settings file with every field present (empty = default)."""
    path = Path(path) if path is not None else local_settings_path()
    fields = [f.name for f in dataclasses.fields(EnvSettings)]
    entries = "\n".join(f"        {name!r}: '',  # env: {EnvSettings.env_var(name)}" for name in fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(_LOCAL_TEMPLATE.format(entries=entries))
    os.replace(tmp, path)
    return path


def _read_local_file(path: Path) -> Dict[str, str]:
    spec = importlib.util.spec_from_file_location("_slt_local_settings", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    if not hasattr(module, "local_settings"):
        raise RuntimeError(f"Local settings file {path} must define local_settings() returning a dict of paths.")
    values = module.local_settings()
    unknown = set(values) - {f.name for f in dataclasses.fields(EnvSettings)}
    if unknown:
        raise RuntimeError(f"Local settings file {path} has unknown fields {sorted(unknown)}; "
                           f"known fields: {[f.name for f in dataclasses.fields(EnvSettings)]}")
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


def env_settings(create_local_file: bool = True) -> EnvSettings:
    """Resolve all paths (defaults < local settings file < ``SLT_*`` environment variables)."""
    values: Dict[str, str] = {}
    path = local_settings_path()
    if path.is_file():
        values.update(_read_local_file(path))
    elif create_local_file:
        try:
            create_default_local_file(path)
        except OSError:
            pass  # read-only install: defaults and environment variables still work
    for field in dataclasses.fields(EnvSettings):
        env_value = os.environ.get(EnvSettings.env_var(field.name))
        if env_value:
            values[field.name] = env_value
    settings = EnvSettings(**values)
    if not settings.workspace_dir:
        settings.workspace_dir = str(REPO_ROOT / "workspace")
    for name, sub in _WORKSPACE_FIELDS.items():
        if not getattr(settings, name):
            setattr(settings, name, os.path.join(settings.workspace_dir, sub))
    return settings


def workspace_default(settings: EnvSettings, field: str) -> str:
    """Where ``field`` points when neither the local settings file nor its variable sets it.

    Lets code tell a folder the framework owns (e.g. the synthetic data it generates itself under
    the workspace) from one the user chose.
    """
    if field not in _WORKSPACE_FIELDS:
        raise KeyError(f"'{field}' has no workspace default; fields with one: {sorted(_WORKSPACE_FIELDS)}")
    return os.path.join(settings.workspace_dir, _WORKSPACE_FIELDS[field])


def require_dataset_dir(dataset: str, path: Optional[str], field: str, expected: str,
                        must_contain: Iterable[str] = ()) -> Path:
    """Check that a dataset root is set and has the expected layout; return it as a Path.

    Args:
        dataset: human name, e.g. ``"LaSOT"``.
        path: the configured root (may be empty or None).
        field: the EnvSettings field that sets it, e.g. ``"lasot_dir"``.
        expected: one-line description of the layout, e.g. ``"<root>/<class>/<class>-<n>/img"``.
        must_contain: relative entries that must exist under the root.
    Raises:
        DatasetPathError naming the dataset, the path, the expected layout and how to fix it.
    """
    how_to_fix = (f"set '{field}' in {local_settings_path()} or the environment variable "
                  f"{EnvSettings.env_var(field)}, or pass the root explicitly")
    if not path:
        raise DatasetPathError(f"{dataset}: no dataset root configured. Expected a folder laid out as {expected}; "
                               f"{how_to_fix}.")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetPathError(f"{dataset}: root '{root}' does not exist or is not a folder. Expected {expected}; "
                               f"{how_to_fix}.")
    missing = [entry for entry in must_contain if not (root / entry).exists()]
    if missing:
        raise DatasetPathError(f"{dataset}: root '{root}' lacks {missing}. Expected {expected}; {how_to_fix}.")
    return root
