"""OpenAI's error shape on every ``/v1`` response: ``{"error": {...}}``.

OpenAI answers every failure with ``{"error": {"message", "type", "param",
"code"}}`` and a status the SDK maps to an exception class (400
``BadRequestError``, 401 ``AuthenticationError``, 404 ``NotFoundError``, ...).
The routes' own refusals are built here; the rest of the server's
refusals (the API-key check's 401, the router's 404 and 405, the body-size
limit's 413, FastAPI's validation errors, the error middleware's 500) come
in FastAPI's ``{"detail": ...}`` shape and are reshaped on ``/v1`` paths by
``reshape_detail`` (which the shared ``ErrorShapes`` middleware calls through
the protocol object) and ``validation_error_handler``, leaving every other
route as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from fastapi import Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response
from starlette.types import Scope

from echo_model.serving.core.metrics import ServingMetrics

PREFIX = "/v1"

#: OpenAI's ``type`` for each status the server answers with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
}
ERROR_CODES = {401: "invalid_api_key", 404: "unknown_url", 413: "request_too_large"}


def error_body(
    message: str,
    *,
    status: int = 400,
    param: str | None = None,
    code: str | None = None,
    type_: str | None = None,
) -> dict[str, Any]:
    """Return OpenAI's error object for ``message``."""
    return {
        "error": {
            "message": message,
            "type": type_ or ERROR_TYPES.get(status, "server_error"),
            "param": param,
            "code": code,
        }
    }


def error_response(
    message: str,
    *,
    status: int = 400,
    param: str | None = None,
    code: str | None = None,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Return an OpenAI-shaped JSON error response."""
    body = error_body(message, status=status, param=param, code=code, type_=type_)
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def on_v1(path: str) -> bool:
    """Whether ``path`` is under ``/v1`` (OpenAI's routes)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def param_of(loc: Sequence[Any]) -> str | None:
    """Return OpenAI's ``param`` (``messages.[0].content``) for a pydantic ``loc``.

    Pydantic puts the tag of a discriminated union (a message's role, a
    part's type) and the member of a plain union (``list[str]``) in the
    location; neither is a field of the request, so both are left out.
    """
    parts: list[str] = []
    previous: Any = None
    for item in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not (isinstance(previous, int) and _is_tag(item)) and not _is_union(item):
            parts.append(str(item))
        previous = item
    return ".".join(parts) or None


_TAGS = frozenset(
    [
        *("system", "developer", "user", "assistant", "tool"),  # message roles
        *("text", "image_url", "input_audio", "file", "refusal"),  # part types
    ]
)


def _is_tag(item: Any) -> bool:
    return isinstance(item, str) and item in _TAGS


def _is_union(item: Any) -> bool:
    return isinstance(item, str) and (
        "[" in item or item in ("str", "int", "float", "bool", "dict", "list", "none")
    )


#: A FastAPI exception handler.
Handler = Callable[[Request, Exception], Awaitable[Response]]


def validation_error_handler(metrics: ServingMetrics) -> Handler:
    """Return the handler answering bodies that fail validation on ``/v1``.

    The app-wide ``RequestValidationError`` handler: OpenAI's 400 on ``/v1``
    (counted in ``metrics`` as a failed ``openai`` request); elsewhere
    FastAPI's own 422 handler answers, as before.
    """

    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)  # noqa: S101 - registered so
        if not on_v1(request.scope["path"]):
            return await request_validation_exception_handler(request, error)
        metrics.record_request("openai", error=True)
        return validation_error_response(error)

    return handle


def validation_error_response(error: RequestValidationError) -> Response:
    """Answer a body that fails validation: OpenAI's 400 naming the parameter."""
    # Of the errors pydantic lists for one bad value (one per member of a
    # union), the deepest says most: ``stop.[1]`` rather than ``stop``.
    first = max(error.errors(), key=lambda e: len(e.get("loc", ())))
    kind, loc, ctx = first.get("type"), first.get("loc", ()), first.get("ctx") or {}
    # FastAPI hands a body it could not parse as JSON over as its bytes.
    unparsed = loc == ("body",) and isinstance(first.get("input"), bytes | str)
    if kind == "json_invalid" or unparsed:
        return error_response(
            "We could not parse the JSON body of your request: it is not"
            " valid JSON. Send a JSON object with 'model' and 'messages'."
        )
    param = param_of(loc)
    if param is None:
        return error_response(
            "The request body must be a JSON object with 'model' and 'messages'."
        )
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        param += "." + str(ctx.get("discriminator", "type")).strip("'")
    if kind in ("missing", "union_tag_not_found"):
        message = f"Missing required parameter: '{param}'."
    elif kind == "union_tag_invalid":
        message = (
            f"Invalid value for '{param}': {ctx.get('tag')!r}. Supported values"
            f" are: {ctx.get('expected_tags')}."
        )
    else:
        message = f"Invalid value for '{param}': {first.get('msg')}."
    return error_response(message, param=param)


def reshape_detail(
    status: int, detail: Any, scope: Scope
) -> tuple[int, dict[str, Any]]:
    """Return OpenAI's status and error body for a ``{"detail"}`` error reply.

    What the shared ``ErrorShapes`` middleware calls for ``/v1`` paths (other
    than Anthropic's): the status is kept.
    """
    body = error_body(
        _message(status, detail, scope), status=status, code=ERROR_CODES.get(status)
    )
    return status, body


def _message(status: int, detail: Any, scope: Scope) -> str:
    if status == 404 and detail == "Not Found":
        return f"Invalid URL ({scope['method']} {scope['path']})"
    if status == 405:
        return f"Invalid method for URL ({scope['method']} {scope['path']})"
    if status >= 500:
        return f"The server had an error while processing your request: {detail}"
    return detail if isinstance(detail, str) else orjson.dumps(detail).decode()
