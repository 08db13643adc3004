"""Typed config dataclasses built from TOML tables, with strict checking of keys and values."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from rlkit.errors import ConfigError, one_of, suggest

T = TypeVar("T")


def from_dict(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    """Build dataclass `cls` from `data`, rejecting unknown keys and values of the wrong type."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"{_join(where, key)}: unknown key{suggest(key, fields)}; "
                f"valid keys: {one_of(fields)}"
            )
    kwargs = {key: coerce(hints[key], value, _join(where, key)) for key, value in data.items()}
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except ValueError as exc:  # __post_init__ range checks, which start with the field name
        message = str(exc)
        first = message.split(" ", 1)[0]
        raise ConfigError(
            f"{_join(where, message)}" if first in fields else f"{where}: {message}"
        ) from None


def coerce(hint: Any, value: Any, where: str) -> Any:
    """Check `value` against type `hint`, converting ints to floats where a float is wanted."""
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            names = [str(c) for c in choices]
            raise ConfigError(
                f"{where}: {value!r} is not valid{suggest(str(value), names)}; "
                f"choose one of {', '.join(repr(c) for c in choices)}"
            )
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(hint)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(
            errors[0] if len(errors) == 1 else f"{where}: {value!r} has the wrong type"
        )
    if dataclasses.is_dataclass(hint):
        if dataclasses.is_dataclass(value):
            return value
        return from_dict(hint, value, where)  # type: ignore[arg-type]
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(hint)
        item = args[0] if args else Any
        items = [coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    return _scalar(hint, value, where)


def _scalar(hint: Any, value: Any, where: str) -> Any:
    """Check a plain scalar value; a float must be finite (no setting of rlkit means "infinite"
    or "not a number", and one would only fail later, deep in a run)."""
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {value!r} is not a finite number; give a finite value")
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {_type_name(hint)}, got {value!r}")
    return value


def to_dict(obj: Any) -> Any:
    """Turn a (nested) config dataclass into plain TOML-ready values, dropping None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = to_dict(getattr(obj, f.name))
            if value is not None:
                out[f.name] = value
        return out
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    return obj


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse `section.key=value` (value in TOML syntax, bare words as strings)."""
    key, sep, raw = text.partition("=")
    path = [p.strip() for p in key.strip().split(".")]
    if not sep or not all(path):
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. run.seed=3")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return path, value


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set a nested key of a raw experiment table in place."""
    node = data
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {'.'.join(path)}: {part!r} is not a table")
        node = child
    node[path[-1]] = value


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Write a nested dict as TOML: scalars first, then sub-tables."""
    lines: list[str] = []
    _dump_table(data, [], lines)
    return "\n".join(lines).strip() + "\n"


def _dump_table(data: Mapping[str, Any], prefix: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    if prefix and (scalars or not tables):
        lines.append(f"\n[{'.'.join(prefix)}]")
    for key, value in scalars.items():
        lines.append(f"{key} = {_toml_value(value)}")
    for key, value in tables.items():
        _dump_table(value, [*prefix, key], lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _type_name(hint: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, hint.__name__
    )
