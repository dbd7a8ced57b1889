"""JSON-schema helpers shared by tool calling and structured output.

``validate`` checks a value against the subset of JSON Schema that tools use;
``derive_args`` builds a schema-valid object from a message's text (the rules
are in ``echo_model.tools``' docstring).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        path = schema["$ref"].removeprefix("#/").split("/")
        target: Any = root
        for part in path:
            target = target.get(part, {})
        schema = target
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = {**schema, **_resolve(schema["allOf"][0], root)}
    return schema


def validate(schema: dict[str, Any], value: Any, root: dict[str, Any]) -> list[str]:
    """Check ``value`` against the JSON-schema subset tools use; return errors."""
    schema = _resolve(schema, root)
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        if any(not validate(option, value, root) for option in options):
            return []
        return [f"{value!r} matches none of the allowed types"]
    errors: list[str] = []
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_is(value, k) for k in kinds):
        return [f"{value!r} is not of type {'/'.join(kinds)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [
            f"missing required argument {name!r}"
            for name in schema.get("required", [])
            if name not in value
        ]
        for name, item in value.items():
            if name in properties:
                errors += [
                    f"{name}: {e}" for e in validate(properties[name], item, root)
                ]
            elif schema.get("additionalProperties") is False:
                errors.append(f"unexpected argument {name!r}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += [f"[{index}]: {e}" for e in validate(schema["items"], item, root)]
    return errors


def _is(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    expected: type | tuple[type, ...] = _JSON_TYPES.get(kind, object)
    return isinstance(value, expected)


def derive_args(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """Derive a schema-valid arguments object from ``text`` (see module rules)."""
    numbers = (float(n) for n in NUMBER.findall(text))
    value = _derive(schema, text, numbers, schema)
    return value if isinstance(value, dict) else {}


def _derive(
    schema: dict[str, Any], text: str, numbers: Iterator[float], root: dict[str, Any]
) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        usable = [o for o in options if _resolve(o, root).get("type") != "null"]
        return _derive((usable or options)[0], text, numbers, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "string":
        return text
    if kind == "integer":
        return int(next(numbers, 0))
    if kind == "number":
        return next(numbers, 0.0)
    if kind == "boolean":
        return False
    if kind == "array":
        if schema.get("minItems", 0) > 0:
            return [_derive(schema.get("items", {}), text, numbers, root)]
        return []
    if kind == "null":
        return None
    properties = schema.get("properties", {})
    return {
        name: _derive(properties.get(name, {}), text, numbers, root)
        for name in properties
        if name in schema.get("required", [])
    }
