"""OpenAI's Chat Completions as a ``WireProtocol``: what the shared layers need."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import Scope

from echo_model.echo import input_tokens
from echo_model.serving.core.fault_spec import HEADER
from echo_model.serving.core.protocol import ErrorReply, ServingContext, WireProtocol
from echo_model.serving.protocols.openai import errors
from echo_model.serving.protocols.openai import schemas as oa
from echo_model.serving.protocols.openai.messages import to_langchain
from echo_model.serving.protocols.openai.routes import PROTOCOL, OpenAIRoutes

CHAT_COMPLETIONS = "/v1/chat/completions"


class OpenAIProtocol(WireProtocol):
    """OpenAI's protocol: every path under ``/v1`` that no other protocol claims.

    Name it after the protocols whose paths lie under ``/v1`` (Anthropic's):
    the first protocol that claims a path answers for it.
    """

    name = PROTOCOL

    def add_routes(self, app: FastAPI, context: ServingContext) -> None:
        """Serve ``/v1/models`` and ``/v1/chat/completions``."""
        app.include_router(OpenAIRoutes(context).router())

    def claims(self, path: str) -> bool:
        """Everything under ``/v1``."""
        return errors.on_v1(path)

    def runs_model(self, method: str, path: str) -> bool:
        """Every ``POST`` under ``/v1``."""
        return method == "POST" and errors.on_v1(path)

    def error_body(
        self, status: int, message: str, code: str | None = None
    ) -> dict[str, Any]:
        """OpenAI's ``{"error": {message, type, param, code}}``."""
        return errors.error_body(message, status=status, code=code)

    def stream_error(self, status: int, message: str) -> bytes:
        """A ``data:`` line holding the error object, as OpenAI ends a stream."""
        body = self.error_body(status, message, "injected_fault")
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def is_chunk(self, frame: bytes) -> bool:
        """A chunk whose delta carries content or tool calls."""
        return b'"delta":{"content":' in frame or b'"delta":{"tool_calls":' in frame

    def is_end(self, frame: bytes) -> bool:
        """A chunk with a finish reason, or ``[DONE]``."""
        return frame.startswith(b"data: [DONE]") or b'"finish_reason":"' in frame

    def prompt_tokens(self, path: str, body: bytes) -> int | None:
        """The messages of a chat completion, counted by the model's rule."""
        if path.rstrip("/") != CHAT_COMPLETIONS:
            return None
        request = oa.ChatCompletionRequest.model_validate_json(body)
        return input_tokens(
            [to_langchain(m, i) for i, m in enumerate(request.messages)]
        )

    def context_refusal(self, tokens: int, maximum: int) -> dict[str, Any]:
        """OpenAI's ``context_length_exceeded``, naming ``messages``."""
        return errors.error_body(
            f"This model's maximum context length is {maximum} tokens. However, your"
            f" messages resulted in {tokens} tokens. Please reduce the length of the"
            " messages.",
            status=400,
            param="messages",
            code="context_length_exceeded",
        )

    def header_error(self, message: str) -> dict[str, Any]:
        """A 400 naming the header as the parameter at fault."""
        return errors.error_body(message, status=400, param=HEADER)

    def status_fault_body(self, status: int, message: str) -> dict[str, Any]:
        """A 429 carries OpenAI's ``rate_limit_exceeded`` code."""
        code = "rate_limit_exceeded" if status == 429 else None
        return errors.error_body(message, status=status, code=code)

    def reshape_detail(self, status: int, detail: Any, scope: Scope) -> ErrorReply:
        """OpenAI's error object, the status kept."""
        return errors.reshape_detail(status, detail, scope)
