"""Ollama's API as a ``WireProtocol``: what the shared layers need."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from starlette.types import Scope

from echo_model.echo import input_tokens
from echo_model.serving.core.protocol import ErrorReply, ServingContext, WireProtocol
from echo_model.serving.protocols.ollama import errors
from echo_model.serving.protocols.ollama import schemas as ol
from echo_model.serving.protocols.ollama.messages import to_langchain, user_content
from echo_model.serving.protocols.ollama.routes import PROTOCOL, OllamaRoutes

#: The routes that run the model (faults apply to them), and those of them
#: that have a prompt (the context window applies to them).
MODEL_PATHS = frozenset(["/api/chat", "/api/generate", "/api/embed", "/api/embeddings"])


class OllamaProtocol(WireProtocol):
    """Ollama's protocol: every path under ``/api``."""

    name = PROTOCOL

    def add_routes(self, app: FastAPI, context: ServingContext) -> None:
        """Serve ``/api/chat``, ``/api/generate``, the embeddings and the models."""
        app.include_router(OllamaRoutes(context).router())

    def claims(self, path: str) -> bool:
        """Everything under ``/api``."""
        return errors.on_api(path)

    def runs_model(self, method: str, path: str) -> bool:
        """``POST`` to chat, generate and the embeddings."""
        return method == "POST" and path.rstrip("/") in MODEL_PATHS

    def error_body(
        self, status: int, message: str, code: str | None = None
    ) -> dict[str, Any]:
        """Ollama's ``{"error": "..."}``."""
        return errors.error_body(message)

    def stream_error(self, status: int, message: str) -> bytes:
        """An ``{"error": "..."}`` line, which the ``ollama`` client raises."""
        return orjson.dumps(errors.error_body(message)) + b"\n"

    def is_chunk(self, frame: bytes) -> bool:
        """A ``done: false`` line with text or tool calls."""
        return frame.endswith(b',"done":false}\n') and (
            b'"tool_calls":[' in frame
            or not frame.endswith(
                (b'"content":""},"done":false}\n', b'"response":"","done":false}\n')
            )
        )

    def is_end(self, frame: bytes) -> bool:
        """The ``done: true`` line."""
        return b'"done":true' in frame

    def prompt_tokens(self, path: str, body: bytes) -> int | None:
        """The messages (or system and prompt), counted by the model's rule."""
        path = path.rstrip("/")
        messages: list[BaseMessage]
        if path == "/api/chat":
            chat = ol.ChatRequest.model_validate_json(body)
            messages = to_langchain(chat.messages or ())
        elif path == "/api/generate":
            generate = ol.GenerateRequest.model_validate_json(body)
            system = [SystemMessage(generate.system)] if generate.system else []
            prompt = user_content(generate.prompt or "", generate.images)
            messages = [*system, HumanMessage(prompt)]
        else:
            return None  # embeddings have no reply to refuse
        return input_tokens(messages)

    def reshape_detail(self, status: int, detail: Any, scope: Scope) -> ErrorReply:
        """Ollama's ``{"error": "..."}``, the status kept."""
        return errors.reshape_detail(status, detail, scope)
