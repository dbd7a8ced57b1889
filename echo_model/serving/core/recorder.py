"""Record and replay: a request no fixture answers goes to a real provider.

``Recording`` (ASGI middleware, with ``--record`` or ``--proxy-only``) runs
each OpenAI Chat Completions or Anthropic Messages request in strict mode
first. When no fixture matches (the model's ``FixtureMissError``, seen on the
request's journal exchange before anything is sent), the request is forwarded
to ``--upstream`` + the same path with httpx, and the upstream's reply,
streamed or not, is relayed to the client as it arrives. Auth, context
(``X-Echo-Context``) and strict headers are not forwarded; the upstream gets
``--upstream-api-key``.

With ``--record`` a 200 reply also becomes a fixture in aimock's format,
written atomically into ``DIR/recorded/`` (``--fixtures DIR``) and added to
the runtime fixtures, so a repeat is answered at once, on every worker, and a
later run with ``--fixtures DIR`` replays it. It matches on the last user
message's text, ``model``, ``turnIndex``, ``hasToolResult`` and the context.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echo_model.faults import FixtureMissError
from echo_model.serving.core.fixtures import (
    CONTEXT_HEADER,
    STRICT_HEADER,
    ServedFixtures,
)
from echo_model.serving.core.journal import current_exchange

#: The routes forwarded, and their wire shape.
RECORDED_PATHS = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}
#: Request headers never forwarded (the rest are, Anthropic's version included).
DROPPED_HEADERS = frozenset(
    [
        "host",
        "content-length",
        "authorization",
        "x-api-key",
        "api-key",
        "cookie",
        "connection",
        "accept-encoding",
        CONTEXT_HEADER,
        STRICT_HEADER,
    ]
)
#: Response headers not relayed (the relay sets its own framing).
HOP_HEADERS = frozenset(
    ["content-length", "transfer-encoding", "connection", "content-encoding"]
)


class Recording:
    """ASGI middleware forwarding fixture misses upstream (module doc).

    Args:
        app: The app inside.
        upstream: The provider's root URL (the request's path is appended).
        api_key: The key sent upstream, if any.
        fixtures: The served fixtures (recordings are added to them).
        directory: Where ``recorded/`` goes; ``None`` forwards only.
    """

    def __init__(
        self,
        app: ASGIApp,
        upstream: str,
        api_key: str | None,
        fixtures: ServedFixtures,
        directory: str | None,
    ) -> None:
        self.app = app
        self.upstream = upstream.rstrip("/")
        self.api_key = api_key
        self.fixtures = fixtures
        self.directory = Path(directory) / "recorded" if directory else None
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the fixtures, or forward the request upstream."""
        shape = RECORDED_PATHS.get(scope.get("path", ""))
        if scope["type"] != "http" or scope["method"] != "POST" or shape is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        headers = [
            (k, v) for k, v in scope["headers"] if k.decode().lower() != STRICT_HEADER
        ]
        inner = {**scope, "headers": [*headers, (STRICT_HEADER.encode(), b"true")]}
        held: list[Message] = []
        missed = False

        replayed = False

        async def replay() -> Message:
            # The body once, then the client's own messages (its disconnect).
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def hold(message: Message) -> None:
            nonlocal missed
            if missed:
                return
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if held:
                exchange = current_exchange()
                if exchange is not None and isinstance(
                    exchange.error, FixtureMissError
                ):
                    missed = True
                    exchange.error = None
                    return
                await send(held.pop())
            await send(message)

        await self.app(inner, replay, hold)
        if missed:
            await self._forward(scope, body, shape, send)

    async def _forward(self, scope: Scope, body: bytes, shape: str, send: Send) -> None:
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in DROPPED_HEADERS
        }
        if self.api_key:
            if shape == "anthropic":
                headers["x-api-key"] = self.api_key
            else:
                headers["authorization"] = f"Bearer {self.api_key}"
        query = scope.get("query_string", b"").decode()
        url = self.upstream + scope["path"] + (f"?{query}" if query else "")
        request = self.client.build_request("POST", url, content=body, headers=headers)
        response = await self.client.send(request, stream=True)
        reply: list[bytes] = []
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in response.headers.items()
                        if k.lower() not in HOP_HEADERS
                    ],
                }
            )
            async for chunk in response.aiter_bytes():
                reply.append(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": True}
                )
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
        if self.directory is not None and response.status_code == 200:
            context = dict(scope["headers"]).get(CONTEXT_HEADER.encode())
            fixture = recorded_fixture(
                shape,
                orjson.loads(body),
                b"".join(reply),
                context.decode() if context else None,
            )
            if fixture is not None:
                write_atomically(self.directory, fixture)
                self.fixtures.add([fixture])


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def recorded_fixture(
    shape: str, request: dict[str, Any], reply: bytes, context: str | None
) -> dict[str, Any] | None:
    """Return the aimock fixture answering ``request`` with ``reply`` (or ``None``).

    Args:
        shape: ``openai`` or ``anthropic``: the wire shape of both.
        request: The request's JSON.
        reply: The upstream's reply: JSON, or a stream's server-sent events.
        context: The request's context, if it named one.
    """
    messages = request.get("messages") or []
    match: dict[str, Any] = {}
    user = last_user_text(messages)
    if user:
        match["userMessage"] = user
    if isinstance(request.get("model"), str):
        match["model"] = request["model"]
    match["turnIndex"] = sum(1 for m in messages if m.get("role") == "assistant")
    match["hasToolResult"] = has_tool_result(messages)
    if context:
        match["context"] = context
    text, calls = _openai_reply(reply) if shape == "openai" else _anthropic_reply(reply)
    response: dict[str, Any] = {}
    if calls:
        response["toolCalls"] = calls
    if text or not calls:
        response["content"] = text
    return {"match": match, "response": response}


def last_user_text(messages: list[dict[str, Any]]) -> str | None:
    """The text of the last user message that has text (aimock's ``userMessage``)."""
    for message in reversed(messages):
        if message.get("role") == "user" and (text := _text(message.get("content"))):
            return text
    return None


def has_tool_result(messages: list[dict[str, Any]]) -> bool:
    """Whether a tool result follows the last user message that has text."""
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") == "tool" or _has_block(content, "tool_result"):
            return True
        if message.get("role") == "user" and _text(content):
            return False
    return False


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b.get("text", "")
            for b in content
            if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _has_block(content: Any, kind: str) -> bool:
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == kind for b in content
    )


def _events(reply: bytes) -> Iterable[dict[str, Any]]:
    """The JSON of each ``data:`` line of a server-sent event stream."""
    for line in reply.splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data and data != b"[DONE]":
                yield orjson.loads(data)


def _is_stream(reply: bytes) -> bool:
    head = reply.lstrip()[:6]
    return head.startswith((b"data:", b"event:"))


def _openai_reply(reply: bytes) -> tuple[str, list[dict[str, Any]]]:
    if not _is_stream(reply):
        message = orjson.loads(reply)["choices"][0]["message"]
        calls = [
            {
                "id": c["id"],
                "name": c["function"]["name"],
                "arguments": c["function"]["arguments"],
            }
            for c in message.get("tool_calls") or []
        ]
        return message.get("content") or "", calls
    text: list[str] = []
    by_index: dict[int, dict[str, Any]] = {}
    for event in _events(reply):
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                slot = by_index.setdefault(
                    call.get("index", 0), {"id": None, "name": "", "arguments": ""}
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
    return "".join(text), [by_index[i] for i in sorted(by_index)]


def _anthropic_reply(reply: bytes) -> tuple[str, list[dict[str, Any]]]:
    if not _is_stream(reply):
        blocks = orjson.loads(reply).get("content") or []
        whole = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        uses = [
            {"id": b["id"], "name": b["name"], "arguments": b.get("input") or {}}
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        return whole, uses
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for event in _events(reply):
        kind = event.get("type")
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                calls[event["index"]] = {
                    "id": block.get("id"),
                    "name": block.get("name"),
                    "arguments": "",
                }
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                text.append(delta.get("text", ""))
            elif delta.get("type") == "input_json_delta":
                calls[event["index"]]["arguments"] += delta.get("partial_json", "")
    for call in calls.values():
        call["arguments"] = call["arguments"] or "{}"
    return "".join(text), [calls[i] for i in sorted(calls)]


def write_atomically(directory: Path, fixture: dict[str, Any]) -> Path:
    """Write ``{"fixtures": [fixture]}`` to a new file in ``directory``, atomically.

    A temporary file in the same directory, then renamed: a reader (another
    worker, a later run) never sees half a file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps({"fixtures": [fixture]}, option=orjson.OPT_INDENT_2)
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}.json"
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, path)
    return path


__all__ = [
    "RECORDED_PATHS",
    "Recording",
    "has_tool_result",
    "last_user_text",
    "recorded_fixture",
    "write_atomically",
]
