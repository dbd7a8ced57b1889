"""OpenAI's Responses API as a ``WireProtocol``: what the shared layers need."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import Scope

from echo_model.echo import input_tokens
from echo_model.serving.core.fault_spec import HEADER
from echo_model.serving.core.protocol import ErrorReply, ServingContext, WireProtocol
from echo_model.serving.protocols.responses import errors
from echo_model.serving.protocols.responses import schemas as rs
from echo_model.serving.protocols.responses.frames import event
from echo_model.serving.protocols.responses.messages import to_langchain
from echo_model.serving.protocols.responses.routes import PROTOCOL, ResponsesRoutes


class ResponsesProtocol(WireProtocol):
    """The Responses API: ``/v1/responses`` and the paths below it.

    Name it before OpenAI's Chat Completions protocol, which claims every
    other path under ``/v1``.
    """

    name = PROTOCOL

    def add_routes(self, app: FastAPI, context: ServingContext) -> None:
        """Serve ``POST /v1/responses``."""
        app.include_router(ResponsesRoutes(context).router())

    def claims(self, path: str) -> bool:
        """``/v1/responses`` and below (their refusals in OpenAI's shape)."""
        return errors.on_responses(path)

    def runs_model(self, method: str, path: str) -> bool:
        """``POST /v1/responses``."""
        return method == "POST" and path.rstrip("/") == errors.PREFIX

    def error_body(
        self, status: int, message: str, code: str | None = None
    ) -> dict[str, Any]:
        """OpenAI's ``{"error": {message, type, param, code}}``."""
        return errors.error_body(message, status=status, code=code)

    def stream_error(self, status: int, message: str) -> bytes:
        """An ``error`` event, as OpenAI ends a stream that failed mid-way.

        This frame is written outside the stream's writer (an injected fault
        the middleware carries out), which cannot know the stream's count:
        its ``sequence_number`` is 0.
        """
        code = "rate_limit_exceeded" if status == 429 else "server_error"
        payload = {"code": code, "message": message, "param": None}
        return event("error", 0, payload)

    def is_chunk(self, frame: bytes) -> bool:
        """A text delta or a function call's arguments delta."""
        return frame.startswith(
            (
                b"event: response.output_text.delta\n",
                b"event: response.function_call_arguments.delta\n",
            )
        )

    def is_end(self, frame: bytes) -> bool:
        """``response.completed`` or ``response.incomplete``."""
        return frame.startswith(
            (b"event: response.completed\n", b"event: response.incomplete\n")
        )

    def prompt_tokens(self, path: str, body: bytes) -> int | None:
        """``instructions`` and ``input``, counted by the model's rule."""
        if path.rstrip("/") != errors.PREFIX:
            return None
        request = rs.CreateResponseRequest.model_validate_json(body)
        return input_tokens(to_langchain(request))

    def context_refusal(self, tokens: int, maximum: int) -> dict[str, Any]:
        """OpenAI's ``context_length_exceeded``, naming ``input``."""
        return errors.error_body(
            f"Your input exceeds the context window of this model: {tokens} tokens"
            f" > {maximum} maximum. Please adjust your input and try again.",
            status=400,
            param="input",
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
