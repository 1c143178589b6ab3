"""The settings object handed to a train setting's ``run(settings)`` (pytracking style), typed.

Two kinds of attributes:

* **fields** of the setting's :data:`~ltr.admin.config.Schema` (learning rates, T, temperature,
  ...): every assignment is checked against the declaration (type, choices), an unknown name
  is an error listing the valid fields, and each value remembers its source
  (:data:`~ltr.admin.config.SOURCES`) for ``--print-config``;
* **run context** set by ``ltr/run_training.py`` and never by a user: ``env`` (paths),
  ``module_name``, ``script_name``, ``project_path`` (``<module>/<script>``, the checkpoint
  sub-folder) and the distributed fields ``rank``, ``world_size``, ``local_rank``.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional

from ltr.admin import config
from ltr.admin.config import ConfigError, Field, Schema
from ltr.admin.environment import EnvSettings, env_settings

__all__ = ["Settings", "RUN_CONTEXT", "ConfigError"]

#: Attributes that describe the run rather than configure it (not fields, not settable by --set).
RUN_CONTEXT = ("env", "module_name", "script_name", "project_path", "rank", "world_size", "local_rank")


def _default_schema() -> Dict[str, Field]:
    # Imported late: the field declarations live with the training settings, which import this module.
    from ltr.train_settings.fields import COMMON_FIELDS
    return dict(COMMON_FIELDS)


class Settings:
    """Typed configuration of one training run (see the module docstring).

    Args:
        schema: the setting's fields; default: the fields every setting shares
            (:data:`ltr.train_settings.fields.COMMON_FIELDS`). A setting's ``configure``
            declares its tracker's own fields on top (:meth:`declare`).
        **values: field values assigned by code (source ``'code'``).
    """

    def __init__(self, schema: Optional[Schema] = None, **values: Any) -> None:
        object.__setattr__(self, "_schema", dict(_default_schema() if schema is None else schema))
        object.__setattr__(self, "_values", {n: f.default for n, f in self._schema.items()})
        object.__setattr__(self, "_sources", {n: config.FIELD_DEFAULT for n in self._schema})
        self.env: EnvSettings = env_settings()
        self.module_name = ""
        self.script_name = ""
        self.project_path = ""
        self.rank = 0
        self.world_size = 1
        self.local_rank = 0
        for key, value in values.items():
            setattr(self, key, value)

    # -- attribute access -------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(config.unknown_field_message(name, object.__getattribute__(self, "_schema"),
                                                          self._where()))

    def __setattr__(self, name: str, value: Any) -> None:
        if name in RUN_CONTEXT:
            object.__setattr__(self, name, value)
        else:
            self.set(name, value, config.CODE)

    def __contains__(self, name: str) -> bool:
        return name in self._schema

    def _where(self) -> str:
        project = self.__dict__.get("project_path", "")
        return f"setting '{project.replace('/', ' ')}'" if project else "these settings"

    # -- typed assignment -------------------------------------------------------------------
    @property
    def schema(self) -> Dict[str, Field]:
        """The declared fields (a copy)."""
        return dict(self._schema)

    def source(self, name: str) -> str:
        """Where the value of field ``name`` came from (one of :data:`ltr.admin.config.SOURCES`)."""
        self._require(name)
        return self._sources[name]

    def set(self, name: str, value: Any, source: str = config.CODE) -> None:
        """Assign field ``name`` (type-checked) and record ``source``."""
        field = self._require(name)
        if source not in config.SOURCES:
            raise ValueError(f"Unknown source {source!r}; one of {config.SOURCES}")
        self._values[name] = config.coerce_value(name, field, value)
        self._sources[name] = source

    def fill(self, values: Mapping[str, Any], source: str) -> None:
        """Assign the fields of ``values`` whose current value comes from a lower-priority source
        than ``source`` (the command line wins over a setting's numbers, which win over the
        official recipe). Every name must be a declared field."""
        rank = config.SOURCES.index(source)
        for name, value in values.items():
            self._require(name)
            if config.SOURCES.index(self._sources[name]) < rank:
                self.set(name, value, source)

    def declare(self, schema: Schema) -> None:
        """Add fields (e.g. a tracker's own) to this object's schema; values start at their defaults."""
        for name, field in schema.items():
            if name in self._schema:
                if self._schema[name] != field:
                    raise TypeError(f"Field {name!r} is already declared differently")
                continue
            self._schema[name] = field
            self._values[name] = field.default
            self._sources[name] = config.FIELD_DEFAULT

    def apply_assignments(self, assignments: Iterable[str]) -> None:
        """``--set FIELD=VALUE`` strings (source ``'command line'``)."""
        for text in assignments:
            name, value = config.parse_assignment(text, self._schema, self._where())
            self.set(name, value, config.COMMAND_LINE)

    def _require(self, name: str) -> Field:
        if name not in self._schema:
            raise ConfigError(config.unknown_field_message(name, self._schema, self._where()))
        return self._schema[name]

    # -- views ------------------------------------------------------------------------------
    def describe(self) -> str:
        """The resolved configuration: one line per field with its value, source and help."""
        rows = [(name, self._values[name], self._sources[name], field.help) for name, field in self._schema.items()]
        header = f"# {self._where()}: field  value  source  help"
        return header + "\n" + config.format_table(rows)

    def as_dict(self) -> Dict[str, Any]:
        """Plain-data view for checkpoints and logs: the fields and the run context but ``env``."""
        from ltr.admin.checkpoint import to_plain
        data = {name: self.__dict__.get(name) for name in RUN_CONTEXT if name != "env"}
        data.update(self._values)
        return to_plain(data)
