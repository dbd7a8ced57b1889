"""Corrections to the OpenAPI schema LangServe's routes generate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

STREAM_ENDPOINTS = ("/stream", "/stream_log", "/stream_events")
SSE_RESPONSE = {
    "description": (
        "Server-Sent Events: `data` events carrying JSON, then `end`; an `error`"
        " event if the run fails after the stream started."
    ),
    # Each event's data is JSON: a chunk, a log patch or an event, by endpoint.
    "content": {"text/event-stream": {"schema": {}}},
}


def document_event_streams(app: FastAPI) -> None:
    """Make the schema say that streaming endpoints answer ``text/event-stream``.

    LangServe declares them as returning JSON, which misleads clients and API
    tools; this rewrites their 200 response once, when the schema is built.
    """
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, operations in schema["paths"].items():
                if path.endswith(STREAM_ENDPOINTS):
                    for operation in operations.values():
                        operation["responses"]["200"] = SSE_RESPONSE
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
