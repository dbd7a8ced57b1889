"""One middleware giving error replies the shape of the protocol they belong to.

FastAPI, the API-key check, the router and the server's middleware answer
errors as ``{"detail": ...}``. Under ``/v1`` a client expects its vendor's
shape instead: each protocol object says which paths are its own
(``WireProtocol.claims``) and how a detail becomes its error body
(``WireProtocol.reshape_detail``); this middleware does the rest, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echo_model.serving.core.protocol import WireProtocol

#: ``(status, detail, scope)`` -> the protocol's ``(status, error body)``.
Reshape = Callable[[int, Any, Scope], tuple[int, dict[str, Any]]]


class ErrorShapes:
    """ASGI middleware rewriting ``{"detail"}`` error replies in each protocol's shape.

    A response with an error status and a JSON ``{"detail": ...}`` body, on a
    path one of ``protocols`` claims (the first that claims it wins), is
    rewritten by that protocol's ``reshape_detail``, headers kept. Everything
    else, and a body already in a protocol's shape (it has an ``error`` key),
    passes through untouched and unbuffered. Protocols that keep FastAPI's
    shape (``WireProtocol.reshapes_details`` false) are skipped.

    Args:
        app: The app to wrap.
        protocols: The protocols served, the most specific paths first.
    """

    def __init__(self, app: ASGIApp, protocols: Sequence[WireProtocol]) -> None:
        self.app = app
        self.shapes = tuple(
            (p.claims, p.reshape_detail) for p in protocols if p.reshapes_details()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; reshape a ``{"detail"}`` error on a claimed path."""
        reshape = None
        if scope["type"] == "http":
            path = scope["path"]
            reshape = next((r for claims, r in self.shapes if claims(path)), None)
        if reshape is None:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = b""

        async def reshaping_send(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start":
                if message["status"] < 400 or content_type(message) != (
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
            await _send_reshaped(send, start, body, reshape, scope)

        await self.app(scope, receive, reshaping_send)


def content_type(start: Message) -> bytes:
    """Return the media type of a response start message (``b""`` if none)."""
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).split(b";")[0].strip().lower()
    return b""


async def _send_reshaped(
    send: Send, start: Message, body: bytes, reshape: Reshape, scope: Scope
) -> None:
    status: int = start["status"]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "detail" in data and "error" not in data:
        status, shaped = reshape(status, data["detail"], scope)
        body = orjson.dumps(shaped)
    headers = [
        (name, value)
        for name, value in start.get("headers", [])
        if name.lower() != b"content-length"
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
