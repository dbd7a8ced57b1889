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
#: Keys that say what a schema holds; an option with none of them (``{}``) is
#: derived only if nothing else is allowed.
_SCHEMA_KEYS = frozenset(
    ["type", "properties", "items", "anyOf", "oneOf", "allOf", "enum", "const"]
)

_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
    "null": type(None),
}


def _expand(
    schema: dict[str, Any], root: dict[str, Any]
) -> tuple[dict[str, Any], frozenset[str]]:
    """Follow ``$ref`` (and a lone ``allOf``) to the schema meant; also the refs.

    ``#`` names the root. References that only name each other name no schema:
    they give ``{}``.
    """
    refs: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        if ref in refs:
            return {}, frozenset(refs)
        refs.add(ref)
        target: Any = root
        for part in ref.removeprefix("#").removeprefix("/").split("/"):
            if part:
                target = target.get(part, {}) if isinstance(target, dict) else {}
        schema = target if isinstance(target, dict) else {}
    if "allOf" in schema and len(schema["allOf"]) == 1:
        inner, inner_refs = _expand(schema["allOf"][0], root)
        schema, refs = {**schema, **inner}, refs | inner_refs
    return schema, frozenset(refs)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    return _expand(schema, root)[0]


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
    """Derive a schema-valid arguments object from ``text`` (see module rules).

    A schema met again inside itself (a recursive ``$ref``) ends the recursion:
    ``None`` where it may be null, else an empty array or object.
    """
    numbers = (float(n) for n in NUMBER.findall(text))
    value = _derive(schema, text, numbers, schema, frozenset(["#"]))
    return value if isinstance(value, dict) else {}


def _derive(
    schema: dict[str, Any],
    text: str,
    numbers: Iterator[float],
    root: dict[str, Any],
    within: frozenset[str],
) -> Any:
    """Derive a value of ``schema``; ``within`` holds the refs being derived."""
    schema, refs = _expand(schema, root)
    if refs & within:
        return _without_recursion(schema, root)
    within |= refs
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return _derive(_option(options, root, within), text, numbers, root, within)
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
            return [_derive(schema.get("items", {}), text, numbers, root, within)]
        return []
    if kind == "null":
        return None
    properties = schema.get("properties", {})
    return {
        name: _derive(properties.get(name, {}), text, numbers, root, within)
        for name in properties
        if name in schema.get("required", [])
    }


def _option(
    options: list[dict[str, Any]], root: dict[str, Any], within: frozenset[str]
) -> dict[str, Any]:
    """The ``anyOf``/``oneOf`` option to derive from.

    The first that says what it holds and does not recurse; else ``null`` if
    allowed (an empty option ``{}`` is often a recursive ref LangChain dropped);
    else the first option.
    """
    null: dict[str, Any] | None = None
    for option in options:
        resolved, refs = _expand(option, root)
        if resolved.get("type") == "null":
            null = option
        elif not refs & within and _SCHEMA_KEYS & resolved.keys():
            return option
    return null if null is not None else options[0]


def _without_recursion(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """A value of ``schema`` that derives nothing within it: null, [] or {}."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    options = schema.get("anyOf") or schema.get("oneOf") or []
    if "null" in kinds or any(_resolve(o, root).get("type") == "null" for o in options):
        return None
    return [] if "array" in kinds else {}
