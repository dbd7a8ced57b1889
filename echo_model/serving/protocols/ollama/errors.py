"""Ollama's error shape on every ``/api`` response: ``{"error": "..."}``.

Ollama answers a failure with the HTTP status and ``{"error": message}``; the
``ollama`` client raises ``ResponseError(message, status_code)`` for it, and
for an ``{"error": ...}`` line in a stream that already started. The routes'
own refusals are built here; the rest of the server's refusals (the API-key
check's 401, the router's 404 and 405, the body-size limit's 413, the error
middleware's 500) come in FastAPI's ``{"detail": ...}`` shape and are
reshaped on ``/api`` paths by ``reshape_detail``, through the protocol object.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response
from starlette.types import Scope

from echo_model.serving.core.http import json_response

PREFIX = "/api"


def on_api(path: str) -> bool:
    """Whether ``path`` is under ``/api`` (Ollama's routes)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_body(message: str) -> dict[str, Any]:
    """Return Ollama's error body for ``message``."""
    return {"error": message}


def error_response(
    message: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    """Return an Ollama-shaped JSON error response."""
    return json_response(error_body(message), status, headers)


def validation_error_response(error: RequestValidationError) -> Response:
    """Answer a body that fails validation: a 400 naming the field, as Ollama's.

    Ollama's server answers a body it cannot decode with a 400 and the
    decoder's message; ours names the field and says what was wrong.
    """
    problems = error.errors()
    # Of the errors pydantic lists for one bad value (one per member of a
    # union), the deepest says most.
    first = max(problems, key=lambda e: len(e.get("loc", ())))
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid" or (not loc and not _is_json(first)):
        return error_response("invalid JSON in the request body")
    if not loc:
        return error_response("the request body must be a JSON object")
    # Pydantic names union members (``str``, ``list[...]``) in locations.
    field = ".".join(p for p in loc if "[" not in p and p not in ("str", "dict"))
    return error_response(f"invalid '{field}': {first.get('msg')}")


def _is_json(problem: Any) -> bool:
    """Whether a problem's input is JSON (FastAPI hands an unparsed body as bytes)."""
    raw = problem.get("input")
    if not isinstance(raw, bytes | str):
        return True
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def reshape_detail(
    status: int, detail: Any, scope: Scope
) -> tuple[int, dict[str, Any]]:
    """Return Ollama's status and error body for a ``{"detail"}`` reply.

    The status is kept; the router's 404 and 405 say what was asked.
    """
    if status == 404 and detail == "Not Found":
        message = f"404 page not found ({scope['method']} {scope['path']})"
    elif status == 405:
        message = f"method {scope['method']} not allowed on {scope['path']}"
    else:
        message = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
    return status, error_body(message)
