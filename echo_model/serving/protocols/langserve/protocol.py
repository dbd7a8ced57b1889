"""LangServe's protocol as a ``WireProtocol``: what the shared layers need."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from langchain_core.messages import BaseMessage, HumanMessage, convert_to_messages

from echo_model.echo import input_tokens
from echo_model.serving.core.fault_spec import HEADER
from echo_model.serving.core.protocol import ServingContext, WireProtocol
from echo_model.serving.protocols.langserve.routes import (
    CHAT_PATH,
    MODEL_PATH,
    PROTOCOL,
    add_langserve_routes,
)

#: LangServe's endpoints that run the model.
RUN_ENDPOINTS = frozenset(["invoke", "batch", "stream", "stream_log", "stream_events"])


class LangServeProtocol(WireProtocol):
    """LangServe's protocol at ``/echo`` and ``/chat``; errors keep FastAPI's shape."""

    name = PROTOCOL
    # A malformed header is refused as FastAPI refuses any bad request part.
    header_status = 422

    def add_routes(self, app: FastAPI, context: ServingContext) -> None:
        """Serve the model at ``/echo`` and the chat chain at ``/chat``."""
        add_langserve_routes(app, context)

    def claims(self, path: str) -> bool:
        """``/echo`` and ``/chat`` and below."""
        return path.startswith((MODEL_PATH + "/", CHAT_PATH + "/"))

    def runs_model(self, method: str, path: str) -> bool:
        """A ``POST`` to one of the run endpoints."""
        endpoint = path.rstrip("/").rsplit("/", 1)[-1]
        return method == "POST" and endpoint in RUN_ENDPOINTS and self.claims(path)

    def error_body(
        self, status: int, message: str, code: str | None = None
    ) -> dict[str, Any]:
        """FastAPI's ``{"detail": message}``."""
        return {"detail": message}

    def stream_error(self, status: int, message: str) -> bytes:
        """LangServe's own ``error`` event.

        RemoteRunnable raises an ``HTTPStatusError`` with its status and message.
        """
        body = orjson.dumps({"status_code": status, "message": message})
        return b"event: error\r\ndata: " + body + b"\r\n\r\n"

    def is_chunk(self, frame: bytes) -> bool:
        """A ``data`` event."""
        return frame.startswith(b"event: data")

    def is_generic_error(self, frame: bytes) -> bool:
        """LangServe's ``error`` event: always 500 "Internal Server Error"."""
        return frame.startswith(b"event: error")

    def is_end(self, frame: bytes) -> bool:
        """The ``end`` event."""
        return frame.startswith(b"event: end")

    def prompt_tokens(self, path: str, body: bytes) -> int | None:
        """The longest input's messages (of a batch, each input's), counted."""
        data = orjson.loads(body)
        batch = path.rstrip("/").endswith("/batch")
        inputs = data["inputs"] if batch else [data["input"]]
        return max((input_tokens(_messages(i)) for i in inputs), default=0)

    def header_error(self, message: str) -> dict[str, Any]:
        """FastAPI's validation shape, as its other 422s."""
        loc = ["header", HEADER]
        return {"detail": [{"type": "value_error", "loc": loc, "msg": message}]}


def _messages(value: Any) -> list[BaseMessage]:
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, dict) and "messages" in value:
        value = value["messages"]
    if isinstance(value, dict) and value.get("type") in ("ChatPromptValue", "chat"):
        value = value["messages"]
    return convert_to_messages(value)
