"""Anthropic's error shape on every ``/v1/messages`` response.

Anthropic answers every failure with ``{"type": "error", "error": {"type",
"message"}}`` and a status the SDK maps to an exception class (400
``BadRequestError``, 401 ``AuthenticationError``, 404 ``NotFoundError``, 413
``RequestTooLargeError``, 500 ``InternalServerError``, 529
``OverloadedError``). The adapter's own refusals are built here; so are the
answers to bodies that fail validation (``validation_error_response``, for
these routes only). The rest of the server's refusals (the API-key check's 401, the
router's 404 and 405, the body-size limit's 413, the error middleware's 500)
come in FastAPI's ``{"detail": ...}`` shape and are reshaped on
``/v1/messages`` paths by ``reshape_detail`` (which the shared
``ErrorShapes`` middleware calls through the protocol object; Anthropic's
protocol comes before OpenAI's, which claims the rest of ``/v1``).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response
from starlette.types import Scope

PREFIX = "/v1/messages"

#: Anthropic's error ``type`` for each status the server answers with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
#: Statuses Anthropic does not use, and the ones it uses for the same errors.
STATUSES = {405: 404, 422: 400, 503: 529}


def error_body(message: str, status: int = 400) -> dict[str, Any]:
    """Return Anthropic's error object for ``message`` and ``status``."""
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
    }


def error_response(message: str, status: int = 400) -> Response:
    """Return an Anthropic-shaped JSON error response."""
    return Response(
        orjson.dumps(error_body(message, status)),
        status_code=status,
        media_type="application/json",
    )


def on_messages(path: str) -> bool:
    """Whether ``path`` is one of Anthropic's (``/v1/messages`` and below)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def field_path(loc: Any, body: Any = None) -> str:
    """Return a pydantic ``loc`` as Anthropic writes a field: ``messages.0.content``.

    The tag of a discriminated union (a block's ``type`` value, which pydantic
    puts in the location) and the member of a plain union (``list[...]``) are
    not fields of the request, so both are left out: walking ``body`` along
    the location tells a tag (the ``type`` of the object there) from a field.
    """
    parts: list[str] = []
    value = body
    tagged = False  # whether the object at ``value`` had its tag in ``loc``
    for item in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(item, int):
            parts.append(str(item))
            value, tagged = (value[item] if _indexable(value, item) else None), False
        elif isinstance(value, dict) and item in value:
            parts.append(str(item))
            value, tagged = value[item], False
        elif not tagged and isinstance(value, dict) and item == value.get("type"):
            tagged = True  # a union's tag
        elif _is_union(item):
            continue
        else:
            parts.append(str(item))
            value = None
    return ".".join(parts)


def _indexable(value: Any, index: int) -> bool:
    return isinstance(value, list) and -len(value) <= index < len(value)


def _is_union(item: Any) -> bool:
    return isinstance(item, str) and (
        "[" in item or item in ("str", "int", "float", "bool", "dict", "list", "none")
    )


def validation_error_response(error: RequestValidationError) -> Response:
    """Answer a body that fails validation: Anthropic's 400 naming the field."""
    errors = error.errors()
    # Of the errors pydantic lists for one bad value (one per member of a
    # union), the deepest says most.
    first = max(errors, key=lambda e: len(e.get("loc", ()))) if errors else {}
    kind, loc, ctx = first.get("type"), first.get("loc", ()), first.get("ctx") or {}
    unparsed = tuple(loc) == ("body",) and isinstance(first.get("input"), bytes | str)
    if kind == "json_invalid" or unparsed:
        return error_response(
            "The request body is not valid JSON: send a JSON object with"
            " 'model', 'max_tokens' and 'messages'."
        )
    name = field_path(loc, error.body)
    if not name:
        return error_response(
            "The request body must be a JSON object with 'model', 'max_tokens'"
            " and 'messages'."
        )
    if kind in ("missing", "union_tag_not_found"):
        if kind == "union_tag_not_found":
            name += "." + str(ctx.get("discriminator", "type")).strip("'")
        return error_response(f"{name}: Field required")
    if kind == "union_tag_invalid":
        return error_response(
            f"{name}.type: Input tag {ctx.get('tag')!r} found is not one of the"
            f" expected tags: {ctx.get('expected_tags')}"
        )
    return error_response(f"{name}: {first.get('msg')}")


def reshape_detail(
    status: int, detail: Any, scope: Scope
) -> tuple[int, dict[str, Any]]:
    """Return Anthropic's status and error body for a ``{"detail"}`` error reply.

    What the shared ``ErrorShapes`` middleware calls for ``/v1/messages`` paths, with
    Anthropic's status for it (405 is 404, 422 is 400).
    """
    status = STATUSES.get(status, status)
    return status, error_body(_message(status, detail, scope), status)


def _message(status: int, detail: Any, scope: Scope) -> str:
    if status == 404 and detail in ("Not Found", "Method Not Allowed"):
        return f"Not found: {scope['method']} {scope['path']}"
    if isinstance(detail, list):  # the server's own 422s: [{loc, msg}, ...]
        return "; ".join(
            f"{field_path(item.get('loc', ()))}: {item.get('msg')}"
            if isinstance(item, dict)
            else str(item)
            for item in detail
        )
    return detail if isinstance(detail, str) else orjson.dumps(detail).decode()
