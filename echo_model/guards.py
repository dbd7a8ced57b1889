"""What the server checks before it does any work, and how it reports failures.

- ``require_api_key``: a FastAPI dependency that admits only requests carrying
  the server's API key.
- ``check_request_body``: a FastAPI dependency that refuses malformed or
  oversized request bodies with a 422 saying what is wrong.
- ``BodySizeLimit``: middleware answering 413 to oversized bodies.
- ``ErrorReplies``: middleware turning an unexpected error into a JSON 500 with
  its type and message (no traceback), or a cleanly ended stream.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, SecretStr, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("echo_model.server")

#: The keys of a LangChain RunnableConfig; clients such as RemoteRunnable send
#: several of them (LangServe then keeps only ``configurable``).
CONFIG_KEYS = frozenset(RunnableConfig.__annotations__)

#: The challenge browsers answer with their own login prompt, which is how the
#: playground stays usable behind a key.
WWW_AUTHENTICATE = 'Basic realm="echo-model", charset="UTF-8"'


@dataclass(frozen=True)
class Limits:
    """Request limits; a request over any of them is refused before any work.

    Attributes:
        max_body_bytes: Largest request body (413 above it).
        max_n: Largest ``n`` a request may configure.
        max_messages: Most messages in one input.
        max_batch: Most inputs in one batch.
        max_delay: Largest ``first_token_delay`` or ``token_delay`` a request
            may configure, in seconds.
        max_json_depth: Deepest nesting of arrays and objects in a body.
    """

    max_body_bytes: int = 1_048_576
    max_n: int = 100_000
    max_messages: int = 1_000
    max_batch: int = 100
    max_delay: float = 10.0
    max_json_depth: int = 32


Dependency = Callable[[Request], Awaitable[None]]


def require_api_key(api_key: SecretStr) -> Dependency:
    """Return a dependency admitting requests that present ``api_key``.

    The key may come as ``Authorization: Bearer <key>``, as ``X-API-Key: <key>``,
    or as the password of HTTP Basic auth (any user name), which is what a
    browser sends after its login prompt. Keys are compared in constant time.
    """
    expected = api_key.get_secret_value().encode()

    async def check_api_key(request: Request) -> None:
        presented = _presented_key(request)
        if presented is None or not hmac.compare_digest(presented, expected):
            raise HTTPException(
                status_code=401,
                detail=(
                    "missing or invalid API key: send 'Authorization: Bearer <key>'"
                    " or 'X-API-Key: <key>'"
                ),
                headers={"WWW-Authenticate": WWW_AUTHENTICATE},
            )

    return check_api_key


def _presented_key(request: Request) -> bytes | None:
    if key := request.headers.get("x-api-key"):
        return key.encode()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip().encode()
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None


def check_request_body(limits: Limits, input_schema: type[BaseModel]) -> Dependency:
    """Return a dependency refusing bodies LangServe would choke on.

    LangServe answers some malformed bodies with a bare 500 (a message list
    item without a ``type``, a message whose fields make LangChain's message
    classes raise, ``"config": null``, bytes that are not UTF-8, deep nesting)
    and accepts batches of any size. This parses the body once (LangServe
    reuses the parsed value) and checks its shape and size against ``limits``;
    message inputs are also checked against ``input_schema``, the served
    runnable's, so that their errors are reported as such.
    """

    async def check_body(request: Request) -> None:
        if request.method != "POST":
            return
        try:
            body = await request.json()
        except RecursionError:
            _refuse("body", "the JSON is nested too deeply")
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
            _refuse("body", f"the body is not valid UTF-8 JSON: {error}")
        if not isinstance(body, dict):
            _refuse("body", "the body must be a JSON object")
        # The scope's path, not request.url: that builds a whole URL per request.
        batch = request.scope["path"].rstrip("/").endswith("/batch")
        if "config" in body:
            _check_config(body["config"], batch=batch)
        if _depth(body) > limits.max_json_depth:
            _refuse("body", f"the JSON is nested deeper than {limits.max_json_depth}")
        if batch:
            inputs = body.get("inputs")
            if not isinstance(inputs, list) or not inputs:
                _refuse("inputs", "'inputs' must be a non-empty list")
            if len(inputs) > limits.max_batch:
                _refuse("inputs", f"a batch holds at most {limits.max_batch} inputs")
            configs = body.get("config")
            if isinstance(configs, list) and len(configs) != len(inputs):
                _refuse(
                    ("body", "config"),
                    f"{len(configs)} configs for {len(inputs)} inputs: send one"
                    " config for all, or one per input",
                )
            for index, value in enumerate(inputs):
                _check_input(value, ("body", "inputs", index), limits, input_schema)
        elif "input" in body:
            _check_input(body["input"], ("body", "input"), limits, input_schema)

    return check_body


def _check_config(config: Any, *, batch: bool) -> None:
    if batch and isinstance(config, list):
        configs = config
    elif isinstance(config, dict):
        configs = [config]
    else:
        _refuse(("body", "config"), "'config' must be an object")
    for one in configs:
        if not isinstance(one, dict):
            _refuse(("body", "config"), "each config must be an object")
        if unknown := set(one) - CONFIG_KEYS:
            _refuse(
                ("body", "config"),
                f"unknown config keys {sorted(unknown)}; known: {sorted(CONFIG_KEYS)}",
            )


def _check_input(
    value: Any, loc: tuple[Any, ...], limits: Limits, input_schema: type[BaseModel]
) -> None:
    if isinstance(value, str):
        return  # the common case, and always valid for a chat model
    messages = value.get("messages") if isinstance(value, dict) else value
    if isinstance(messages, list):
        if len(messages) > limits.max_messages:
            _refuse(loc, f"an input holds at most {limits.max_messages} messages")
        for index, item in enumerate(messages):
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                _refuse(
                    (*loc, index),
                    "each message must be an object with a 'type' (human, ai,"
                    " system, tool) and 'content'",
                )
    try:
        input_schema.model_validate(value)
    except ValidationError as error:
        # LangServe would report these itself on most endpoints, but on /batch
        # they escape as a 500.
        raise RequestValidationError(
            [
                {**e, "loc": (*loc, *e["loc"])}
                for e in error.errors(include_url=False, include_context=False)
            ]
        ) from None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        # LangChain's message classes raise these for some field values.
        _refuse(loc, f"invalid message: {type(error).__name__}: {error}")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in item)
    return deepest


def _refuse(loc: str | tuple[Any, ...], message: str) -> None:
    location = [loc] if isinstance(loc, str) else list(loc)
    raise HTTPException(
        status_code=422,
        detail=[{"type": "invalid_request", "loc": location, "msg": message}],
    )


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

    Before the response started: a JSON 500 ``{"detail": message, "type":
    ExceptionType}`` (the traceback goes to the server log only, and any of
    ``secrets`` in the message is masked). After it started (LangServe sends
    an SSE ``error`` event when a run fails mid-stream, then re-raises): the
    response is ended cleanly. Either way the error stops here, so the server
    keeps the connection healthy instead of dropping it (a client reusing it
    would see "connection reset", curl "transfer closed").
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
            logger.exception("unhandled error on %s", scope.get("path"))
            if not started:
                await JSONResponse(
                    status_code=500,
                    content={"detail": self._masked(str(error)), "type": _name(error)},
                )(scope, receive, send)
            elif not finished:
                await send({"type": "http.response.body", "body": b""})

    def _masked(self, message: str) -> str:
        for secret in self.secrets:
            message = message.replace(secret, "***")
        return message


def _name(error: BaseException) -> str:
    # sse-starlette wraps a failing stream in an ExceptionGroup: name the cause.
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return type(error).__name__
