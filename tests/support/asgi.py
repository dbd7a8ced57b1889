"""Calling an ASGI app directly: no network, no HTTP client, only the app's work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]


async def post(
    app: Any,
    path: str,
    body: bytes,
    send: Send,
    headers: Sequence[tuple[bytes, bytes]] = ((b"content-type", b"application/json"),),
) -> Message:
    """POST ``body`` (JSON by default) to ``path`` through ``app``'s ASGI entry point.

    Every message the app sends goes to ``send``. The request channel reports
    a disconnect only once the response has ended, as for a client that reads
    the whole reply (a stream that saw a disconnect would stop early).

    Returns:
        The request's scope, as the app left it (what its layers added).
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"in-process"),
            *headers,
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    ended = asyncio.Event()

    async def receive() -> Message:
        if pending:
            return pending.pop()
        await ended.wait()
        return {"type": "http.disconnect"}

    async def tracked_send(message: Message) -> None:
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            ended.set()

    await app(scope, receive, tracked_send)
    return scope
