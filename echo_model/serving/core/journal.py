"""The request journal: what each model request sent and got, below the protocols.

``Exchanges`` (ASGI middleware) opens an ``Exchange`` for each request that
runs the model (``WireProtocol.runs_model``), keeps the body exactly as the
client sent it (bounded), the status, the timings and the request id, and
writes one entry to the store's journal when the response ends. What only the
model knows (the reply's text and tool calls, the fixture that answered, the
failure it raised) reaches the exchange through two neutral hooks:
``ModelBackend`` calls ``current_exchange()`` (OpenAI, Anthropic) and
``ExchangeCallback`` is a LangChain callback on LangServe's model. No
protocol reports anything itself.

An entry::

    {"request_id", "worker" (the pid of the process that served it),
     "method", "path", "protocol", "headers" (authorization headers never
     kept), "body" (the client's JSON, or its text; cut at
     MAX_BODY_BYTES with "body_truncated": true), "status", "context",
     "fixture" ("file#index" or null for the echo), "reply": {"text",
     "tool_calls": [{"id", "name", "arguments"}], "error": {"status",
     "message"} or the error body sent}, "timings": {"arrival" (Unix
     seconds), "first_token" and "end" (seconds after arrival; first_token
     null unless streamed)}}

Also here: a LangServe stream's generic ``error`` event is restated with a
fixture's status and message (LangServe itself always sends 500 "Internal
Server Error"), so a scripted error keeps its status on every protocol.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.outputs import LLMResult
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echo_model.faults import EchoFaultError, FixtureErrorReply, FixtureMissError
from echo_model.serving.core.fixtures import CONTEXT_HEADER
from echo_model.serving.core.http import frames_of
from echo_model.serving.core.middleware import request_id
from echo_model.serving.core.protocol import WireProtocol, protocol_for
from echo_model.serving.core.store import RuntimeStore

#: The most of a request body (and of an error reply) an entry keeps.
MAX_BODY_BYTES = 65_536
#: Headers never kept in the journal.
SECRET_HEADERS = frozenset(
    [
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "cookie",
    ]
)


@dataclass
class Exchange:
    """One model request's reply, as the model gave it (filled by the hooks)."""

    text: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    fixture: str | None = None
    error: EchoFaultError | None = None
    replies: int = 0

    def reply(self, text: str, tool_calls: Sequence[dict[str, Any]]) -> None:
        """Note a whole reply (the model's message)."""
        self.text.append(text)
        self.tool_calls.extend(tool_calls)
        self.replies += 1

    def fail(self, error: BaseException) -> None:
        """Note the model's failure, if it is one raised on purpose."""
        if isinstance(error, EchoFaultError):
            self.error = error


_CURRENT: ContextVar[Exchange | None] = ContextVar("echo_exchange", default=None)


def current_exchange() -> Exchange | None:
    """Return the exchange of the request being served, if the journal keeps it."""
    return _CURRENT.get()


def message_reply(message: AIMessage) -> tuple[str, list[dict[str, Any]], str | None]:
    """Return a model message's text, tool calls and fixture label."""
    calls = [
        {"id": c["id"], "name": c["name"], "arguments": c["args"]}
        for c in message.tool_calls
    ]
    fixture = message.response_metadata.get("fixture")
    return message.text, calls, fixture if isinstance(fixture, str) else None


class ExchangeCallback(BaseCallbackHandler):
    """Reports a LangChain run's reply to the request's exchange (LangServe's)."""

    run_inline = True  # cheap, never blocks

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Note the reply of a finished run."""
        exchange = _CURRENT.get()
        if exchange is None or not response.generations:
            return
        for generations in response.generations:
            message = getattr(generations[0], "message", None) if generations else None
            if isinstance(message, AIMessage):
                text, calls, fixture = message_reply(message)
                exchange.reply(text, calls)
                exchange.fixture = exchange.fixture or fixture

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        """Note the failure of a run."""
        exchange = _CURRENT.get()
        if exchange is not None:
            exchange.fail(error)


def is_scripted(error: BaseException | None) -> bool:
    """Whether ``error`` is a fixture's (its status and message are the client's)."""
    return isinstance(error, FixtureErrorReply | FixtureMissError)


class Exchanges:
    """ASGI middleware writing one journal entry per model request (module doc).

    Args:
        app: The app inside.
        protocols: The protocols served; requests none runs the model for pass.
        store: Where the journal lives.
    """

    def __init__(
        self, app: ASGIApp, protocols: Sequence[WireProtocol], store: RuntimeStore
    ) -> None:
        self.app = app
        self.protocols = tuple(protocols)
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then journal it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        protocol = protocol_for(self.protocols, scope["method"], scope["path"])
        if protocol is None:
            await self.app(scope, receive, send)
            return
        exchange = Exchange()
        token = _CURRENT.set(exchange)
        arrival = time.time()
        start = time.perf_counter()
        body: list[bytes] = []
        kept = 0
        reply_body: list[bytes] = []
        status = 0
        streaming = False
        first_token: float | None = None

        async def keep_receive() -> Message:
            nonlocal kept
            message = await receive()
            if message["type"] == "http.request" and kept <= MAX_BODY_BYTES:
                chunk = message.get("body", b"")
                body.append(chunk)
                kept += len(chunk)
            return message

        async def watch_send(message: Message) -> None:
            nonlocal status, streaming, first_token
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", ()))
                streaming = headers.get(b"content-type", b"").startswith(
                    b"text/event-stream"
                )
            elif message["type"] == "http.response.body":
                frame = message.get("body", b"")
                if streaming:
                    if first_token is None and any(
                        map(protocol.is_chunk, frames_of(frame))
                    ):
                        first_token = time.perf_counter() - start
                    if is_scripted(exchange.error) and protocol.is_generic_error(frame):
                        error = exchange.error
                        assert error is not None  # noqa: S101 - is_scripted
                        message = {
                            **message,
                            "body": protocol.stream_error(
                                error.status, _message(error)
                            ),
                        }
                elif status >= 400 and sum(map(len, reply_body)) <= MAX_BODY_BYTES:
                    reply_body.append(bytes(frame))
            await send(message)

        try:
            await self.app(scope, keep_receive, watch_send)
        finally:
            _CURRENT.reset(token)
            self.store.append_entry(
                _entry(
                    scope,
                    protocol,
                    b"".join(body),
                    status,
                    exchange,
                    b"".join(reply_body),
                    {
                        "arrival": arrival,
                        "first_token": first_token,
                        "end": time.perf_counter() - start,
                    },
                )
            )


def _message(error: EchoFaultError) -> str:
    return error.message if isinstance(error, FixtureErrorReply) else str(error)


def _entry(
    scope: Scope,
    protocol: WireProtocol,
    body: bytes,
    status: int,
    exchange: Exchange,
    error_body: bytes,
    timings: dict[str, float | None],
) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        if key not in SECRET_HEADERS:
            headers[key] = value.decode("latin-1")
    truncated = len(body) > MAX_BODY_BYTES
    reply: dict[str, Any] = {
        "text": "".join(exchange.text) if exchange.replies else None,
        "tool_calls": exchange.tool_calls,
        "error": None,
    }
    if exchange.error is not None:
        reply["error"] = {
            "status": exchange.error.status,
            "message": _message(exchange.error),
        }
    elif status >= 400:
        reply["error"] = _json_or_text(error_body[:MAX_BODY_BYTES])
    return {
        "request_id": request_id(scope),
        "worker": os.getpid(),
        "method": scope["method"],
        "path": scope["path"],
        "protocol": protocol.name,
        "headers": headers,
        "body": (
            body[:MAX_BODY_BYTES].decode("utf-8", "replace")
            if truncated
            else _json_or_text(body)
        ),
        "body_truncated": truncated,
        "status": status,
        "context": headers.get(CONTEXT_HEADER) or None,
        "fixture": exchange.fixture,
        "reply": reply,
        "timings": timings,
    }


def _json_or_text(data: bytes) -> Any:
    try:
        return orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def select_entries(
    entries: list[dict[str, Any]], path: str | None = None, context: str | None = None
) -> list[dict[str, Any]]:
    """Return the entries of ``path`` and ``context`` (each if given), oldest first."""
    return [
        e
        for e in entries
        if (path is None or e["path"] == path)
        and (context is None or e["context"] == context)
    ]


__all__ = [
    "MAX_BODY_BYTES",
    "SECRET_HEADERS",
    "Exchange",
    "ExchangeCallback",
    "Exchanges",
    "current_exchange",
    "is_scripted",
    "message_reply",
    "select_entries",
]
