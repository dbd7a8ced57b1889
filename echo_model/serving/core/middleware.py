"""ASGI middleware: the arrival stamp, request ids, the body-size limit, error replies.

- ``ArrivalStamp``: notes when each request reached the server, for the
  engine's timings (``echo_model.engine.REQUEST_ARRIVAL``).
- ``RequestIds``: gives every request an id, sent back in a response header
  (each protocol names it) and used by the error log and 500 bodies.
- ``BodySizeLimit``: answers 413 to oversized bodies.
- ``ErrorReplies``: turns an unexpected error into a JSON 500 (its message only
  if it is meant for the client), or a cleanly ended stream; a failure the
  model raised on purpose keeps its status (a fixture's 429, a strict 503).
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Sequence

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echo_model.chat_models import EchoFaultError
from echo_model.engine import REQUEST_ARRIVAL, Clock
from echo_model.faults import FixtureErrorReply, FixtureMissError
from echo_model.serving.core.fault_middleware import retry_after_headers
from echo_model.serving.core.protocol import WireProtocol

logger = logging.getLogger("echo_model.server")

#: Errors whose message is meant for the client: the faults a client asked the
#: model to inject, and validation errors. Any other message may carry secrets
#: or internals (of a wrapped model, say), so LangServe hides them, and so do we.
CLIENT_ERRORS: tuple[type[Exception], ...] = (EchoFaultError, ValidationError)


class ArrivalStamp:
    """ASGI middleware stamping each request's arrival for the engine.

    Outermost of the app's own middleware: the engine then measures a reply's
    TTFT, e2e and queue time from when the request reached the server, as
    the client does, not from when the model started (after the request was
    read, parsed and routed).

    Args:
        app: The app inside.
        clock: The engine's clock, so the stamp and its timings agree.
    """

    def __init__(self, app: ASGIApp, clock: Clock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stamp the arrival for the request's context, then pass it on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = REQUEST_ARRIVAL.set(self.clock.time())
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_ARRIVAL.reset(token)


#: Where a request's id is kept in ``scope["state"]`` (``request.state``).
REQUEST_ID_KEY = "request_id"
#: The response header carrying the id on paths no protocol claims.
REQUEST_ID_HEADER = "x-request-id"


def new_request_id() -> str:
    """Return a fresh request id, in the ``req_...`` form Anthropic's have."""
    return f"req_{uuid.uuid4().hex}"


def request_id(scope: Scope) -> str | None:
    """Return the id ``RequestIds`` gave the request of ``scope``, if any."""
    state = scope.get("state")
    value = state.get(REQUEST_ID_KEY) if isinstance(state, dict) else None
    return value if isinstance(value, str) else None


class RequestIds:
    """ASGI middleware giving every request an id, sent back in a header.

    The header is the one the protocol that claims the path names
    (``WireProtocol.request_id_header``: ``request-id`` on Anthropic's
    routes, as Anthropic sends it and the SDK reads it into ``_request_id``),
    else ``x-request-id``. Every response carries it, errors included; the
    error middleware logs an unexpected error under the same id and names it
    in the 500 body (``error_id``).

    Args:
        app: The app inside.
        protocols: The protocols served, the most specific paths first.
    """

    def __init__(self, app: ASGIApp, protocols: Sequence[WireProtocol] = ()) -> None:
        self.app = app
        self.protocols = tuple(protocols)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Give the request its id and add the header to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = new_request_id()
        scope.setdefault("state", {})[REQUEST_ID_KEY] = value
        path = scope["path"]
        name = next(
            (p.request_id_header for p in self.protocols if p.claims(path)),
            REQUEST_ID_HEADER,
        ).encode()
        header = (name, value.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodySizeLimit:
    """ASGI middleware refusing request bodies over the limit with a JSON 413.

    A body whose ``Content-Length`` is over the limit is refused before any of
    it is read; one sent without a length is counted as it arrives and refused
    as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 (400 for a bad length header)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await JSONResponse(
                    {"detail": "invalid Content-Length header"}, status_code=400
                )(scope, receive, send)
                return
            if int(declared) > self.max_body_bytes:
                await JSONResponse(
                    {"detail": self._too_large(int(declared))}, status_code=413
                )(scope, receive, send)
                return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise HTTPException(status_code=413, detail=self._too_large(received))
            return message

        await self.app(scope, counted_receive, send)

    def _too_large(self, size: int) -> str:
        return (
            f"the body is {size} bytes or more; this server accepts at most"
            f" {self.max_body_bytes} (--max-body-bytes)"
        )


class ErrorReplies:
    """ASGI middleware turning an unexpected error into a reply that helps.

    Before the response started: a JSON 500. For an error meant for the client
    (``CLIENT_ERRORS``) it is ``{"detail": message, "type": ExceptionType}``;
    for any other, ``{"detail": "Internal Server Error", "type":
    ExceptionType, "error_id": id}``, and the server log line with the
    traceback carries the same id. After it started (LangServe sends an SSE
    ``error`` event when a run fails mid-stream, then re-raises): the response
    is ended cleanly. Either way the error stops here, so the server keeps the
    connection healthy instead of dropping it (a client reusing it would see
    "connection reset", curl "transfer closed"). Any of ``secrets`` is masked
    in replies and in the log.
    """

    def __init__(self, app: ASGIApp, secrets: Sequence[SecretStr] = ()) -> None:
        self.app = app
        self.secrets = [s.get_secret_value() for s in secrets if s.get_secret_value()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; reply or finish cleanly if it fails."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = finished = False

        async def tracked_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body":
                finished = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as error:
            cause = _cause(error)
            if isinstance(cause, FixtureErrorReply | FixtureMissError):
                # A fixture's scripted reply: no traceback in the log.
                logger.info("fixture error on %s: %s", scope.get("path"), cause)
                if not started:
                    await JSONResponse(
                        status_code=cause.status,
                        content=self._reply(cause, ""),
                        headers=retry_after_headers(
                            getattr(cause, "retry_after", None)
                        ),
                    )(scope, receive, send)
                elif not finished:
                    await send({"type": "http.response.body", "body": b""})
                return
            error_id = request_id(scope) or new_request_id()
            # Formatted here, not by the log handler, to mask the secrets in it.
            logger.error(
                "unhandled error %s on %s\n%s",
                error_id,
                scope.get("path"),
                self._masked("".join(traceback.format_exception(error)).rstrip()),
            )
            if not started:
                await JSONResponse(
                    status_code=500, content=self._reply(error, error_id)
                )(scope, receive, send)
            elif not finished:
                await send({"type": "http.response.body", "body": b""})

    def _reply(self, error: Exception, error_id: str) -> dict[str, str]:
        cause = _cause(error)
        if isinstance(cause, FixtureErrorReply):
            return {"detail": self._masked(cause.message), "type": type(cause).__name__}
        if isinstance(cause, CLIENT_ERRORS):
            return {"detail": self._masked(str(cause)), "type": type(cause).__name__}
        return {
            "detail": "Internal Server Error",
            "type": type(cause).__name__,
            "error_id": error_id,
        }

    def _masked(self, message: str) -> str:
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return message


def _cause(error: BaseException) -> BaseException:
    # sse-starlette wraps a failing stream in an ExceptionGroup: find the cause.
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
