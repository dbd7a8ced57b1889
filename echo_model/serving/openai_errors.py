"""OpenAI's error shape on every ``/v1`` response: ``{"error": {...}}``.

OpenAI answers every failure with ``{"error": {"message", "type", "param",
"code"}}`` and a status the SDK maps to an exception class (400
``BadRequestError``, 401 ``AuthenticationError``, 404 ``NotFoundError``, ...).
The adapter's own refusals are built here; the rest of the server's
refusals (the API-key check's 401, the router's 404 and 405, the body-size
limit's 413, FastAPI's validation errors, the error middleware's 500) come
in FastAPI's ``{"detail": ...}`` shape and are reshaped on ``/v1`` paths by
``OpenAIErrorShape`` and ``validation_error_handler``, leaving every other
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


async def validation_error_handler(request: Request, error: Exception) -> Response:
    """Answer a request body that fails validation: OpenAI's 400 on ``/v1``.

    Elsewhere FastAPI's own 422 handler answers, as before.
    """
    assert isinstance(error, RequestValidationError)  # noqa: S101 - registered so
    if not on_v1(request.scope["path"]):
        return await request_validation_exception_handler(request, error)
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


class OpenAIErrorShape:
    """ASGI middleware giving ``/v1`` error replies OpenAI's shape.

    A response under ``/v1`` with an error status and a ``{"detail": ...}``
    JSON body (FastAPI's shape, which the API-key check, the router and the
    server's middleware use) is rewritten as ``{"error": {...}}``, status and
    headers kept. Everything else passes through untouched, unbuffered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; reshape a ``{"detail"}`` error under ``/v1``."""
        if scope["type"] != "http" or not on_v1(scope["path"]):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = b""

        async def reshaping_send(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                if message["status"] < 400 or _content_type(message) != (
                    b"application/json"
                ):
                    await send(message)
                    return
                start = message  # held until the body is known
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body", False):
                return
            await _send_reshaped(send, start, body, scope)

        await self.app(scope, receive, reshaping_send)


def _content_type(start: Message) -> bytes:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).split(b";")[0].strip().lower()
    return b""


async def _send_reshaped(send: Send, start: Message, body: bytes, scope: Scope) -> None:
    status = start["status"]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "detail" in data and "error" not in data:
        body = orjson.dumps(
            error_body(
                _message(status, data["detail"], scope),
                status=status,
                code=ERROR_CODES.get(status),
            )
        )
    headers = [
        (name, value)
        for name, value in start.get("headers", [])
        if name.lower() != b"content-length"
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _message(status: int, detail: Any, scope: Scope) -> str:
    if status == 404 and detail == "Not Found":
        return f"Invalid URL ({scope['method']} {scope['path']})"
    if status == 405:
        return f"Invalid method for URL ({scope['method']} {scope['path']})"
    if status >= 500:
        return f"The server had an error while processing your request: {detail}"
    return detail if isinstance(detail, str) else orjson.dumps(detail).decode()


#: The type of FastAPI exception handlers, for registering ``validation_error_handler``.
Handler = Callable[[Request, Exception], Awaitable[Response]]
