"""Corrections to the OpenAPI schema LangServe's routes generate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from echo_model.serving.core.options import option_schemas

STREAM_ENDPOINTS = ("/stream", "/stream_log", "/stream_events")
SSE_RESPONSE = {
    "description": (
        "Server-Sent Events: `data` events carrying JSON, then `end`; an `error`"
        " event if the run fails after the stream started."
    ),
    # Each event's data is JSON: a chunk, a log patch or an event, by endpoint.
    "content": {"text/event-stream": {"schema": {}}},
}


#: Keys of a property schema that say what values it takes.
TYPE_KEYS = ("type", "anyOf", "items", "minimum", "maximum")


def document_event_streams(app: FastAPI) -> None:
    """Correct the schema LangServe's routes generate, once, when it is built.

    - Streaming endpoints answer ``text/event-stream``: LangServe declares them
      as returning JSON, which misleads clients and API tools.
    - The configurable options keep their constraints (``n >= 0``,
      ``0 <= error_rate <= 1``, ...): LangServe's copy of the config model
      keeps each field's bare type only.
    """
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, operations in schema["paths"].items():
                if path.endswith(STREAM_ENDPOINTS):
                    for operation in operations.values():
                        operation["responses"]["200"] = SSE_RESPONSE
            publish_option_constraints(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def publish_option_constraints(schema: dict[str, Any]) -> None:
    """Give each configurable option in ``schema`` the type the server checks.

    LangServe names its copy of a runnable's configurable fields
    ``<path>Configurable``; their titles, descriptions and defaults stay.
    """
    options = option_schemas()
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Configurable"):
            continue
        for field, published in component.get("properties", {}).items():
            if field in options:
                for key in TYPE_KEYS:
                    published.pop(key, None)
                published.update(options[field])
