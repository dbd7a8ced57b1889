"""Anthropic's Messages as a ``WireProtocol``: what the shared layers need."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import Scope

from echo_model.echo import input_tokens
from echo_model.serving.core.protocol import ErrorReply, ServingContext, WireProtocol
from echo_model.serving.protocols.anthropic import errors
from echo_model.serving.protocols.anthropic import schemas as an
from echo_model.serving.protocols.anthropic.messages import to_langchain
from echo_model.serving.protocols.anthropic.routes import PROTOCOL, AnthropicRoutes


class AnthropicProtocol(WireProtocol):
    """Anthropic's protocol: ``/v1/messages`` and the paths below it."""

    name = PROTOCOL
    # Anthropic sends its request id in ``request-id`` on every response, errors
    # included; the SDK reads it into ``message._request_id``.
    request_id_header = "request-id"

    def add_routes(self, app: FastAPI, context: ServingContext) -> None:
        """Serve ``/v1/messages`` and ``/v1/messages/count_tokens``."""
        app.include_router(AnthropicRoutes(context).router())

    def claims(self, path: str) -> bool:
        """``/v1/messages`` and below."""
        return errors.on_messages(path)

    def runs_model(self, method: str, path: str) -> bool:
        """Every ``POST`` to ``/v1/messages`` and below."""
        return method == "POST" and errors.on_messages(path)

    def error_body(
        self, status: int, message: str, code: str | None = None
    ) -> dict[str, Any]:
        """Anthropic's ``{"type": "error", "error": {type, message}}``."""
        return errors.error_body(message, status)

    def stream_error(self, status: int, message: str) -> bytes:
        """``event: error``, as Anthropic ends a failed stream."""
        body = errors.error_body(message, status)
        return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"

    def is_chunk(self, frame: bytes) -> bool:
        """A ``content_block_delta``."""
        return frame.startswith(b"event: content_block_delta")

    def is_end(self, frame: bytes) -> bool:
        """``message_delta`` (which announces the end) or ``message_stop``."""
        return frame.startswith((b"event: message_delta", b"event: message_stop"))

    def prompt_tokens(self, path: str, body: bytes) -> int | None:
        """The system prompt and messages, counted by the model's rule."""
        if path.rstrip("/") != errors.PREFIX:
            return None  # count_tokens has no reply to refuse
        request = an.MessagesRequest.model_validate_json(body)
        return input_tokens(to_langchain(request.system, request.messages))

    def reshape_detail(self, status: int, detail: Any, scope: Scope) -> ErrorReply:
        """Anthropic's error object, with Anthropic's status for it."""
        return errors.reshape_detail(status, detail, scope)
