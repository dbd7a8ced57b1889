"""OpenAI's error shape on ``/v1/responses``: ``{"error": {...}}``.

The Responses API answers failures as Chat Completions does (the SDK maps the
status to its exception classes: 400 ``BadRequestError``, 404
``NotFoundError``, 429 ``RateLimitError``, ...). This is the Responses
protocol's own copy of that shape: protocols never import each other. FastAPI's
``{"detail": ...}`` refusals on these paths (API key, router, body size) are
reshaped by ``reshape_detail``, which the shared ``ErrorShapes`` middleware
calls through the protocol object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response
from starlette.types import Scope

PREFIX = "/v1/responses"

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


def on_responses(path: str) -> bool:
    """Whether ``path`` is ``/v1/responses`` or below it."""
    return path == PREFIX or path.startswith(PREFIX + "/")


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
) -> Response:
    """Return an OpenAI-shaped JSON error response."""
    body = error_body(message, status=status, param=param, code=code)
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json"
    )


def param_of(loc: Sequence[Any]) -> str | None:
    """Return the ``param`` (``input.[0].content``) for a pydantic ``loc``.

    A union's member (``list[...]``, ``str``, ``NamedToolChoice``) and a
    tagged union's tag (``function_call``) are in the location but are no
    field of the request: both are left out.
    """
    parts: list[str] = []
    previous: Any = None
    for item in loc[1:] if loc and loc[0] == "body" else loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif not (_tagged(previous) and item in _TAGS) and not _is_union(item):
            parts.append(str(item))
        previous = item
    return ".".join(parts) or None


_TAGS = frozenset(
    [
        *("message", "function_call", "function_call_output", "function"),
        *("input_text", "input_image", "input_file", "output_text", "refusal"),
        *("text", "json_object", "json_schema"),  # text.format types
    ]
)


def _tagged(field: Any) -> bool:
    """Whether a tagged union's tag follows ``field`` in a location."""
    return isinstance(field, int) or field == "format"


def _is_union(item: Any) -> bool:
    return isinstance(item, str) and (
        "[" in item
        or item in ("str", "int", "float", "bool", "dict", "list", "none")
        or item[:1].isupper()  # a model member of a plain union
    )


def validation_error_response(error: RequestValidationError) -> Response:
    """Answer a body that fails validation: OpenAI's 400 naming the parameter."""
    # Of the errors pydantic lists for one bad value (one per member of a
    # union), the deepest says most.
    first = max(error.errors(), key=lambda e: len(e.get("loc", ())))
    kind, loc, ctx = first.get("type"), first.get("loc", ()), first.get("ctx") or {}
    unparsed = loc == ("body",) and isinstance(first.get("input"), bytes | str)
    if kind == "json_invalid" or unparsed:
        return error_response(
            "We could not parse the JSON body of your request: it is not"
            " valid JSON. Send a JSON object with 'model' and 'input'."
        )
    param = param_of(loc)
    if param is None:
        return error_response(
            "The request body must be a JSON object with 'model' and 'input'."
        )
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        # A callable discriminator (an input item's) names itself: its tag is
        # the item's ``type``.
        tag = str(ctx.get("discriminator", "type")).strip("'")
        param += "." + (tag if tag.isidentifier() else "type")
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
    """Return OpenAI's status and error body for a ``{"detail"}`` error reply."""
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
