"""OpenAI's published Responses schemas (``openai/openai-openapi``), to check replies.

``tests/data/openai/responses_openapi.json`` holds the components of
``openapi.yaml`` reachable from ``Response``, ``ResponseStreamEvent``,
``CreateResponse`` and ``ErrorResponse`` (descriptions and examples dropped);
its ``source`` names the commit.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SPEC = Path(__file__).parent.parent / "data" / "openai" / "responses_openapi.json"


@cache
def _components() -> dict[str, Any]:
    return json.loads(SPEC.read_text())["components"]


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """The validator of the component schema ``name``."""
    schema = {"components": _components(), "$ref": f"#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema)


@cache
def event_schemas() -> dict[str, str]:
    """Each stream event ``type`` and the component that defines it."""
    names: dict[str, str] = {}
    schemas = _components()["schemas"]
    for ref in schemas["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        (kind,) = schemas[name]["properties"]["type"]["enum"]
        names[kind] = name
    return names


def check(name: str, value: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``value`` is a valid ``name``."""
    validator(name).validate(value)


def check_event(data: dict[str, Any]) -> None:
    """Validate one stream event against the schema its ``type`` names."""
    check(event_schemas()[data["type"]], data)
