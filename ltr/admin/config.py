"""Typed configuration fields for training settings.

A training setting declares its fields once (name, type, default, one-line help) as a
:data:`Schema`; :class:`ltr.admin.settings.Settings` holds the values, checks every assignment
against the schema and remembers where each value came from (:data:`SOURCES`), so

    python ltr/run_training.py siamrpnpp slt_tiny --set temperature=2 --print-config

prints the resolved configuration with ``command line`` beside ``temperature``, and a misspelled
field is an error that lists the valid ones instead of an attribute nothing reads.
"""
from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

__all__ = ["Field", "Schema", "ConfigError", "SOURCES", "FIELD_DEFAULT", "DETECTED", "OFFICIAL_RECIPE", "SETTING_DEFAULT",
           "COMMAND_LINE", "CODE", "merge_schemas", "coerce_value", "parse_assignment", "unknown_field_message"]

#: Where a value came from, lowest priority first. A value is only filled from a source when the
#: field still holds a value of a lower-priority source, so the command line wins over the
#: setting's own numbers, which win over the official recipe they change.
FIELD_DEFAULT = "field default"
DETECTED = "detected"  # chosen for this machine at start (e.g. cuda when a GPU is present)
OFFICIAL_RECIPE = "official recipe"
SETTING_DEFAULT = "setting default"
COMMAND_LINE = "command line"
CODE = "code"  # assigned by a program (an experiment's arm, a test): wins like the command line
SOURCES: Tuple[str, ...] = (FIELD_DEFAULT, DETECTED, OFFICIAL_RECIPE, SETTING_DEFAULT, COMMAND_LINE, CODE)

_TYPES = (int, float, str, bool, dict, tuple)


class ConfigError(ValueError):
    """An unknown field, or a value of the wrong type or outside the field's choices."""


@dataclass(frozen=True)
class Field:
    """One configuration field.

    Attributes:
        type: ``int``, ``float``, ``str``, ``bool``, ``dict`` or ``tuple`` (lists are accepted for
            tuples, ints for floats).
        default: the value before any recipe fills it (None only when ``optional``).
        help: one line for ``--print-config`` and error messages.
        optional: None is a valid value (e.g. ``grad_clip=None``: no clipping).
        choices: the allowed values, when the field is an enumeration.
        check: called with every (typed, non-None) value; raises ValueError or TypeError with the
            reason when the value is not valid (e.g. an unknown key of a dict field).
    """

    type: type
    default: Any
    help: str
    optional: bool = False
    choices: Tuple[Any, ...] = ()
    check: Optional[Callable[[Any], Any]] = None

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"Field type must be one of {[t.__name__ for t in _TYPES]}, got {self.type!r}")
        if self.default is None and not self.optional:
            raise TypeError(f"Field ({self.help!r}) has default None but is not optional")

    def describe_type(self) -> str:
        text = self.type.__name__
        if self.choices:
            text = " | ".join(repr(c) for c in self.choices)
        return f"{text} or None" if self.optional else text


#: Field name -> declaration, in the order ``--print-config`` shows them.
Schema = Mapping[str, Field]


def merge_schemas(*schemas: Schema) -> Dict[str, Field]:
    """One schema from several; a name declared twice must be declared identically (a tracker
    that needs another default fills it from its recipe, it does not redeclare the field)."""
    merged: Dict[str, Field] = {}
    for schema in schemas:
        for name, field in schema.items():
            if name in merged and merged[name] != field:
                raise TypeError(f"Field {name!r} declared twice with different declarations: "
                                f"{merged[name]} and {field}")
            merged[name] = field
    return merged


def unknown_field_message(name: str, schema: Schema, where: str = "") -> str:
    """'unknown field X (did you mean Y?); valid fields: ...' for an error message."""
    close = difflib.get_close_matches(name, list(schema), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    place = f" of {where}" if where else ""
    return (f"Unknown field {name!r}{place}{hint}. Valid fields: {', '.join(sorted(schema))}. "
            f"`python ltr/run_training.py TRACKER SETTING --print-config` lists them with their help.")


def coerce_value(name: str, field: Field, value: Any) -> Any:
    """``value`` as the field's type, or :class:`ConfigError` naming the field, the value and the type."""
    if value is None:
        if field.optional:
            return None
        raise ConfigError(f"Field {name!r} ({field.help}) cannot be None; expected {field.describe_type()}.")
    wanted = field.type
    ok = True
    if wanted is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            value = value.lower() in ("true", "yes", "1", "on")
        ok = isinstance(value, bool)
    elif wanted is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif wanted is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif wanted is tuple:
        ok = isinstance(value, (tuple, list))
        value = tuple(value) if ok else value
    elif wanted is dict:
        ok = isinstance(value, Mapping)
        value = dict(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"Field {name!r} ({field.help}) expects {field.describe_type()}, "
                          f"got {value!r} ({type(value).__name__}).")
    if field.choices and value not in field.choices:
        raise ConfigError(f"Field {name!r} ({field.help}) must be one of "
                          f"{', '.join(repr(c) for c in field.choices)}; got {value!r}.")
    if field.check is not None:
        try:
            field.check(value)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"Field {name!r} = {value!r}: {error}") from None
    return value


def parse_assignment(text: str, schema: Schema, where: str = "") -> Tuple[str, Any]:
    """``'FIELD=VALUE'`` -> (field, typed value).

    VALUE is read as a Python literal (``2``, ``1e-4``, ``None``, ``True``, ``(2, 4)``,
    ``{'a': 1}``); anything else is a string, so ``so_mode=add`` needs no quotes.
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected FIELD=VALUE, e.g. --set temperature=2.")
    name, raw = (part.strip() for part in text.split("=", 1))
    if name not in schema:
        raise ConfigError(f"--set {text!r}: " + unknown_field_message(name, schema, where))
    field = schema[name]
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    if field.type is str and not isinstance(value, str) and value is not None:
        value = raw  # e.g. a string field set to 123: keep the text
    try:
        return name, coerce_value(name, field, value)
    except ConfigError as error:
        raise ConfigError(f"--set {text!r}: {error}") from None


def format_table(rows: Iterable[Tuple[str, Any, str, str]]) -> str:
    """Aligned ``name  value  source  help`` lines."""
    rows = [(n, repr(v), s, h) for n, v, s, h in rows]
    if not rows:
        return ""
    # a long value (a dict of learning rates) overflows its column instead of widening every line
    widths = [min(max(len(r[i]) for r in rows), 28) for i in range(3)]
    return "\n".join(f"{n:<{widths[0]}}  {v:<{widths[1]}}  {s:<{widths[2]}}  {h}" for n, v, s, h in rows)


def optional_field(type_: type, help: str, default: Optional[Any] = None, choices: Tuple[Any, ...] = (),
                   check: Optional[Callable[[Any], Any]] = None) -> Field:
    """Shorthand for a field whose value may be None."""
    return Field(type_, default, help, optional=True, choices=choices, check=check)
