"""Carrying out injected faults on the wire, for every protocol: one middleware.

``FaultInjection`` reads each model request's fault (``faults.FaultPlanner``:
the ``X-Echo-Fault`` header, else the ``fault`` option of the body, else the
server's ``--fault``) and acts on the response the protocol's route produces.
The header is read before the route runs; the body option only once the route
has parsed the body: the route hands it over (``decide_fault``, through
``scope["state"]``) after its checks and before any work, and the adapters
know nothing else of faults:

- ``status``: the status, in the protocol's error shape, before any output
  (``Retry-After`` when asked); the route never runs (for the body option:
  stops before any work).
- ``context_length``: the protocol's context-length refusal (400), also
  answered whenever ``--context-window`` is set and the prompt, counted by the
  model's rule, is longer.
- ``error``, ``disconnect``, ``stall`` after ``k`` chunks of a stream: the
  protocol's mid-stream error event then the end of the stream; the
  connection closed with no terminator (an exception raised to the server
  after the response started, which uvicorn answers by closing the socket);
  silence for the given seconds (or until the client leaves), then the rest.
  A reply that is not streamed gets a 500 for ``error``, its headers then a
  closed connection for ``disconnect``, and its whole reply late for
  ``stall``. A route's own refusal (any status >= 300) passes untouched.

What differs between protocols (their error bodies, which frames of a stream
are chunks, how a body counts its prompt) each protocol's ``WireProtocol``
object says; this module imports no protocol. A chunk is one frame carrying
reply content: OpenAI's ``chat.completion.chunk`` with content or tool calls
in its delta, Anthropic's ``content_block_delta``, LangServe's ``data``
event; for a text reply, one per character, as ``fail_after_chunks`` counts.

Injected faults are logged at INFO as ``injected fault: ...`` and counted in
``echo:injected_faults_total{kind,protocol}``, never as server errors.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echo_model.serving.core.error_shapes import content_type
from echo_model.serving.core.fault_spec import (
    HEADER,
    RETRY_COUNT_HEADER,
    Fault,
    FaultPlanner,
    FaultSpecError,
)
from echo_model.serving.core.http import STREAM_MEDIA_TYPES, frames_of
from echo_model.serving.core.metrics import ServingMetrics
from echo_model.serving.core.protocol import WireProtocol, protocol_for

logger = logging.getLogger("echo_model.server")

_HEADER = HEADER.encode()
_RETRY_COUNT = RETRY_COUNT_HEADER.encode()


class InjectedDisconnect(BaseException):
    """Raised to the server to close a connection mid-response, on purpose.

    A ``BaseException``: the server's error middleware (which turns errors
    into replies, and ends a started stream cleanly) and the frameworks'
    handlers catch ``Exception`` only, so this reaches uvicorn, which closes
    the socket with no terminator: what a dropped connection looks like.
    """


class _Stop(BaseException):
    """Stops the route once the fault has answered for it."""


class FaultInjection:
    """ASGI middleware injecting each model request's fault (see the module doc).

    Add it inside ``ErrorReplies`` (that is, before it): its disconnects and
    stops are ``BaseException``s that pass through that middleware.

    Args:
        app: The app.
        protocols: The protocols served; the first whose request runs the
            model (``WireProtocol.runs_model``) carries out its fault.
        metrics: Where injected faults are counted (``None``: nowhere).
        server_fault: The ``--fault`` flag's fault, for requests that set
            neither the header nor the body option.
        context_window: ``--context-window``: refuse prompts longer than this
            many tokens (``None``: no limit).
    """

    def __init__(
        self,
        app: ASGIApp,
        protocols: Sequence[WireProtocol],
        metrics: ServingMetrics | None = None,
        server_fault: Fault | None = None,
        context_window: int | None = None,
    ) -> None:
        self.app = app
        self.protocols = tuple(protocols)
        self.metrics = metrics
        self.planner = FaultPlanner(server_fault)
        self.context_window = context_window
        install_log_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request, with its fault if it has one."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        protocol = protocol_for(self.protocols, scope["method"], scope["path"])
        if protocol is None:
            await self.app(scope, receive, send)
            return
        header, retry_count = _fault_headers(scope)
        fault = None
        if header is not None:
            try:
                fault = self.planner.plan(header, retry_count)
            except FaultSpecError as error:
                await _reply(
                    send,
                    protocol.header_status,
                    protocol.header_error(f"invalid X-Echo-Fault header: {error}"),
                )
                return
        if self.context_window is not None or (
            fault is not None and fault.kind == "context_length"
        ):
            body, receive = await _read_body(receive)
            refusal = self._context_refusal(protocol, scope["path"], body, fault)
            if refusal is not None:
                self.record(scope, protocol, "context_length", refusal[0])
                await _reply(send, 400, refusal[1])
                return
        decision = _Decision(self, scope, protocol, send, receive, retry_count)
        if header is not None:
            # The header decides before the route runs; a body option is ignored.
            if fault is not None and fault.kind == "context_length":
                fault = None  # checked above
            try:
                await decision.apply(fault, None)
            except FaultAnswered:
                return
        else:
            # The body's option, else the server's fault: the route decides it
            # once it has checked the body (``decide_fault``).
            scope.setdefault("state", {})[STATE_KEY] = decision
        await self._run(scope, receive, decision)

    def _context_refusal(
        self, protocol: WireProtocol, path: str, body: bytes, fault: Fault | None
    ) -> tuple[str, dict[str, Any]] | None:
        """Return the refusal of a prompt over the window or a context fault, if any."""
        tokens = _prompt_tokens(protocol, path, body) if body else None
        if tokens is None:
            return None  # the route answers a body it cannot use
        window = self.context_window
        forced = False
        if fault is not None and fault.kind == "context_length":
            if fault.max_tokens is not None:
                window = fault.max_tokens
            elif window is None or tokens <= window:
                # Refused whatever its length: reported as one token too many.
                window, forced = max(tokens - 1, 0), True
        if window is None or (not forced and tokens <= window):
            return None
        return f"{tokens} tokens > {window}", protocol.context_refusal(tokens, window)

    def record(
        self,
        scope: Scope,
        protocol: WireProtocol,
        kind: str,
        detail: str,
        retry_count: str | None = None,
    ) -> None:
        """Log an injected fault and count it in the metrics."""
        logger.info(
            "injected fault: %s on %s %s (%s, attempt %s)",
            detail,
            scope["method"],
            scope["path"],
            protocol.name,
            retry_count or "0",
        )
        if self.metrics is not None:
            self.metrics.record_fault(kind, protocol.name)

    async def _run(self, scope: Scope, receive: Receive, decision: _Decision) -> None:
        try:
            await self.app(scope, receive, decision.send)
        except BaseException as error:
            # Only the kind is kept: the exception's traceback holds this
            # frame, and a cycle through it would leave the route's stream
            # generators to the cyclic collector, which may close them out
            # of order.
            kind = type(_cause(error))
            if issubclass(kind, _Stop):
                return
            if kind is not InjectedDisconnect:
                raise
        else:
            return
        logger.info(
            "injected fault: connection closed on %s after %d chunks",
            scope["path"],
            decision.faulty.chunks if decision.faulty else 0,
        )
        raise InjectedDisconnect


#: Where a model request's pending fault decision waits for its route, in
#: ``scope["state"]`` (``request.state``).
STATE_KEY = "echo_model.fault"


class FaultAnswered(_Stop):
    """The request's fault has answered it (a status or context-length reply).

    Raised out of ``decide_fault`` (and the route's ``send``) so the
    route stops before any work; the middleware ends the request quietly.
    """


async def decide_fault(request: Request, option: str | None) -> None:
    """Decide the request's fault once the route has read the body's option.

    Precedence: the ``X-Echo-Fault`` header (already decided by the
    middleware), then ``option``, then the server's ``--fault``. Routes call
    this after checking the request and before any work, with the option or
    ``None`` when it is not given; later calls (a batch's other configs) and
    calls outside the middleware do nothing.

    Args:
        request: The request (its ``scope["state"]`` holds the decision).
        option: The body's ``fault`` option, already checked (``parse_fault``).

    Raises:
        FaultAnswered: A ``status`` or ``context_length`` fault has answered
            the request; the route must stop (let it propagate).
    """
    state = request.scope.get("state")
    decision = state.get(STATE_KEY) if isinstance(state, dict) else None
    if not isinstance(decision, _Decision) or decision.decided:
        return
    fault = decision.middleware.planner.plan(None, decision.retry_count, option)
    await decision.apply(fault, request)


class _Decision:
    """One model request's fault: decided once, then carried out on its ``send``.

    The header decides before the route runs; otherwise the route decides
    (``decide_fault``) after reading the body. A route that answers
    without deciding (a refusal of its own: a bad body, a missing API key)
    gets the server's fault when its response starts, as if decided first.
    """

    def __init__(
        self,
        middleware: FaultInjection,
        scope: Scope,
        protocol: WireProtocol,
        send: Send,
        receive: Receive,
        retry_count: str | None,
    ) -> None:
        self.middleware = middleware
        self.scope = scope
        self.protocol = protocol
        self._send = send
        self._receive = receive
        self.retry_count = retry_count
        self.decided = False
        self.faulty: _FaultySend | None = None

    async def apply(self, fault: Fault | None, request: Request | None) -> None:
        """Carry out ``fault`` (already planned); ``request`` reads the prompt.

        Raises:
            FaultAnswered: The fault has answered the request.
        """
        self.decided = True
        if fault is None:
            return
        scope, protocol = self.scope, self.protocol
        if fault.kind == "context_length":
            if request is None:
                return  # no body read: the route's own refusal stands
            refusal = self.middleware._context_refusal(
                protocol, scope["path"], await request.body(), fault
            )
            if refusal is not None:
                self.middleware.record(scope, protocol, "context_length", refusal[0])
                await _reply(self._send, 400, refusal[1])
                raise FaultAnswered
            return
        self.middleware.record(
            scope, protocol, fault.kind, fault.spec(), self.retry_count
        )
        if fault.kind == "status":
            await _status_reply(self._send, protocol, fault)
            raise FaultAnswered
        self.faulty = _FaultySend(fault, protocol, self._send, self._receive)

    async def send(self, message: Message) -> None:
        if not self.decided and message["type"] == "http.response.start":
            planner = self.middleware.planner
            await self.apply(planner.plan(None, self.retry_count), None)
        if self.faulty is not None:
            await self.faulty.send(message)
        else:
            await self._send(message)


class _FaultySend:
    """The ``send`` of a request with an ``error``, ``disconnect`` or ``stall``."""

    def __init__(
        self, fault: Fault, protocol: WireProtocol, send: Send, receive: Receive
    ) -> None:
        self.fault = fault
        self.protocol = protocol
        self._send = send
        self._receive = receive
        self.chunks = 0
        self.fired = False
        self.passthrough = False  # a refusal of the route's own, or done
        self.streaming = False
        self.held: Message | None = None  # a whole reply's start, for ``error``
        self.lock = asyncio.Lock()  # pings must wait out a stall too

    async def send(self, message: Message) -> None:
        async with self.lock:
            await self._handle(message)

    async def _handle(self, message: Message) -> None:
        if self.passthrough:
            await self._send(message)
            return
        if message["type"] == "http.response.start":
            if message["status"] >= 300:
                self.passthrough = True
                await self._send(message)
                return
            self.streaming = content_type(message) in STREAM_MEDIA_TYPES
            if self.streaming:
                await self._send(message)
            else:
                await self._whole_reply_start(message)
            return
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        if not self.streaming:
            if not message.get("more_body", False):  # the reply is complete
                await self._fire_whole_reply()
            return
        await self._stream_body(message)

    async def _stream_body(self, message: Message) -> None:
        """Count a streamed body's chunks, frame by frame; fire when due.

        One body may carry several frames (``FrameBatch``: a stream's frames
        ready together): the fault fires at the frame it is due at, after the
        frames before it went out in a body of their own, so the client gets
        exactly ``after`` chunks before it, however the frames were batched.
        """
        body = message.get("body", b"")
        frames = frames_of(body)
        protocol, after = self.protocol, self.fault.after
        for index, frame in enumerate(frames):
            is_chunk = protocol.is_chunk(frame)
            if self.chunks >= after and (is_chunk or protocol.is_end(frame)):
                if index:
                    await self._send(_body(b"".join(frames[:index]), more=True))
                await self._fire_in_stream()  # returns only for a stall
                self.passthrough = True
                rest = b"".join(frames[index:]) if index else body
                await self._send({**message, "body": rest})
                return
            if is_chunk:
                self.chunks += 1
        if not body and not message.get("more_body", False):
            await self._fire_in_stream()  # the stream ended before ``after``
            self.passthrough = True
        await self._send(message)

    async def _whole_reply_start(self, start: Message) -> None:
        kind = self.fault.kind
        if kind == "stall":
            await self._silence()
            self.passthrough = True
            await self._send(start)
        elif kind == "disconnect":
            await self._send(start)
            raise InjectedDisconnect
        else:  # error: the reply is replaced once the route is done
            self.held = start

    async def _fire_whole_reply(self) -> None:
        status = self.fault.status or 500
        message = _fault_message(self.fault)
        body = self.protocol.error_body(status, message, "injected_fault")
        self.passthrough = True
        await _reply(self._send, status, body)

    async def _fire_in_stream(self) -> None:
        self.fired = True
        kind = self.fault.kind
        if kind == "stall":
            await self._silence()
            return
        if kind == "disconnect":
            raise InjectedDisconnect
        status = self.fault.status or 500
        frame = self.protocol.stream_error(status, _fault_message(self.fault))
        await self._send(
            {"type": "http.response.body", "body": frame, "more_body": True}
        )
        await self._send({"type": "http.response.body", "body": b""})
        raise _Stop

    async def _silence(self) -> None:
        """Wait ``seconds``, or until the client leaves (then stop the route)."""
        sleep = asyncio.ensure_future(asyncio.sleep(self.fault.seconds))
        gone = asyncio.ensure_future(_disconnected(self._receive))
        try:
            done, pending = await asyncio.wait(
                {sleep, gone}, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:  # the server saw the client leave first
            sleep.cancel()
            gone.cancel()
            logger.info("injected fault: stalled client went away")
            raise
        for task in pending:
            task.cancel()
        if gone in done:
            logger.info(
                "injected fault: stalled client went away after %d chunks", self.chunks
            )
            raise _Stop


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _prompt_tokens(protocol: WireProtocol, path: str, body: bytes) -> int | None:
    """The protocol's count of the prompt; ``None`` for a body it cannot read."""
    try:
        return protocol.prompt_tokens(path, body)
    except Exception:  # any body the route will refuse itself
        return None


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body; return it and a ``receive`` that replays it."""
    chunks: list[bytes] = []
    refused: HTTPException | None = None
    try:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
    except HTTPException as error:  # the body-size limit: the route answers it
        refused = error
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if refused is not None:
            raise refused
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return (b"" if refused else body), replay


def _fault_headers(scope: Scope) -> tuple[str | None, str | None]:
    header = retry_count = None
    for name, value in scope["headers"]:
        if name == _HEADER:
            header = value.decode("latin-1")
        elif name == _RETRY_COUNT:
            retry_count = value.decode("latin-1")
    return header, retry_count


async def _status_reply(send: Send, protocol: WireProtocol, fault: Fault) -> None:
    status = fault.status or 500
    await _reply(
        send,
        status,
        protocol.status_fault_body(status, _fault_message(fault)),
        retry_after_headers(fault.retry_after),
    )


def retry_after_headers(seconds: float | None) -> dict[str, str]:
    """Return the headers telling a client to wait ``seconds`` before retrying.

    ``Retry-After`` holds whole seconds (HTTP's delay-seconds), rounded up so a
    client never retries early; ``retry-after-ms``, which the openai and
    anthropic SDKs read first, holds the exact wait in milliseconds.
    """
    if seconds is None:
        return {}
    return {
        "retry-after": str(math.ceil(seconds)),
        "retry-after-ms": str(round(seconds * 1000)),
    }


async def _reply(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    content = orjson.dumps(body)
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def _body(body: bytes, *, more: bool) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": more}


def _fault_message(fault: Fault) -> str:
    return f"echo-model injected fault ({fault.spec()})"


def _cause(error: BaseException) -> BaseException:
    # anyio task groups (streaming responses) wrap what a task raised.
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class _DropInjectedDisconnects(logging.Filter):
    """Keeps uvicorn from logging an injected disconnect as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        return not (
            info and info[1] and isinstance(_cause(info[1]), InjectedDisconnect)
        )


_LOG_FILTER = _DropInjectedDisconnects()


def install_log_filter() -> None:
    """Filter injected disconnects out of uvicorn's error log (idempotent)."""
    logging.getLogger("uvicorn.error").addFilter(_LOG_FILTER)


__all__ = [
    "STATE_KEY",
    "FaultAnswered",
    "FaultInjection",
    "InjectedDisconnect",
    "decide_fault",
    "install_log_filter",
    "retry_after_headers",
]
