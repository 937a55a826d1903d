"""Typed JSON for dataclasses: strict parsing and a generated JSON Schema.

The results file's schema is written once, as the dataclasses of :mod:`harness.results`. This
module turns such a dataclass tree into (a) a strict parser: every field present with the right
type, no unknown keys, no non-finite numbers, and (b) a JSON Schema (draft 2020-12) that CI
checks every committed result against with ``check-jsonschema``. Supported annotations: the
JSON scalars, ``X | None``, ``list[X]``, ``dict[str, X]``, ``Literal[...]``, ``Any`` and nested
dataclasses.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

T = typing.TypeVar("T")


class SchemaError(ValueError):
    """A JSON value that does not match its dataclass."""


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _check_any(value: Any, path: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(f"non-finite number at {path}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_any(v, f"{path}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_any(v, f"{path}/{i}")
    return value


def parse(tp: Any, value: Any, path: str = "") -> Any:
    """Build a value of annotation ``tp`` from JSON ``value``.

    Raises:
        SchemaError: naming the path of the first mismatch.
    """
    where = path or "/"
    optional, inner = _is_optional(tp)
    if optional:
        return None if value is None else parse(inner, value, path)
    if tp is Any:
        return _check_any(value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SchemaError(f"{where} must be an object")
        hints = _hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise SchemaError(f"{where}: unknown field(s) {', '.join(unknown)}")
        kwargs = {}
        for name, f in fields.items():
            if name not in value:
                has_default = (f.default is not dataclasses.MISSING
                               or f.default_factory is not dataclasses.MISSING)
                if has_default:
                    continue
                raise SchemaError(f"missing field {path}/{name}")
            kwargs[name] = parse(hints[name], value[name], f"{path}/{name}")
        return tp(**kwargs)
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise SchemaError(f"{where} must be one of {typing.get_args(tp)}, not {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise SchemaError(f"{where} must be an array")
        (item,) = typing.get_args(tp)
        return [parse(item, v, f"{path}/{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{where} must be an object")
        _key, item = typing.get_args(tp)
        return {k: parse(item, v, f"{path}/{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise SchemaError(f"{where} must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{where} must be an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"{where} must be a number")
        if not math.isfinite(value):
            raise SchemaError(f"non-finite number at {where}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise SchemaError(f"{where} must be a string")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {where}")


def dump(obj: Any) -> Any:
    """The JSON form of a dataclass tree (``None`` fields kept, as the schema requires)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: dump(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [dump(v) for v in obj]
    if isinstance(obj, dict):
        return {k: dump(v) for k, v in obj.items()}
    return obj


def json_schema(tp: Any, *, title: str | None = None, defs: dict | None = None) -> dict:
    """The JSON Schema of annotation ``tp`` (dataclasses become ``$defs`` entries)."""
    top = defs is None
    defs = {} if defs is None else defs
    optional, inner = _is_optional(tp)
    if optional:
        out: dict = {"anyOf": [json_schema(inner, defs=defs), {"type": "null"}]}
    elif tp is Any:
        out = {}
    elif dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            hints = _hints(tp)
            props, required = {}, []
            for f in dataclasses.fields(tp):
                props[f.name] = json_schema(hints[f.name], defs=defs)
                if (f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING):
                    required.append(f.name)
            doc = (tp.__doc__ or "").strip().splitlines()
            defs[name] = {"type": "object", "description": doc[0] if doc else name,
                          "properties": props, "required": required,
                          "additionalProperties": False}
        out = {"$ref": f"#/$defs/{name}"}
    elif typing.get_origin(tp) is Literal:
        out = {"enum": list(typing.get_args(tp))}
    elif typing.get_origin(tp) is list:
        out = {"type": "array", "items": json_schema(typing.get_args(tp)[0], defs=defs)}
    elif typing.get_origin(tp) is dict:
        out = {"type": "object",
               "additionalProperties": json_schema(typing.get_args(tp)[1], defs=defs)}
    else:
        out = {bool: {"type": "boolean"}, int: {"type": "integer"}, float: {"type": "number"},
               str: {"type": "string"}}[tp]
    if top:
        ref = out
        out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
               **({"title": title} if title else {}), **ref, "$defs": defs}
    return out
