"""Ollama's messages as LangChain messages: what the model reads.

Ollama's tool rounds carry no call ids the client must keep: an assistant
message's calls may lack an ``id`` and a ``tool`` message names its tool
(``tool_name``), or nothing at all (``ChatOllama`` sends neither: the
``ollama`` client drops its ``tool_call_id``). Each call gets an id here
(its own, else ``call_<message>_<index>``), and each result is paired with
the calls of the assistant message before it: by ``tool_call_id`` when it
matches one, else the first unanswered call of its ``tool_name``, else the
next unanswered call in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call

from echo_model.serving.protocols.ollama import schemas as ol

#: The first characters of base64 data and the image type they begin.
IMAGE_SIGNATURES = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)


def image_block(data: str) -> dict[str, Any]:
    """LangChain's standard image block for Ollama's base64 image ``data``.

    Ollama sends no media type: it is read from the data's first bytes
    (PNG, JPEG, GIF, WebP), else left out.
    """
    block: dict[str, Any] = {"type": "image", "base64": data}
    for prefix, mime in IMAGE_SIGNATURES:
        if data.startswith(prefix):
            block["mime_type"] = mime
            break
    return block


def user_content(text: str, images: Sequence[str] | None) -> Any:
    """A user turn's content: the text, then its images as blocks."""
    if not images:
        return text
    blocks: list[Any] = [{"type": "text", "text": text}] if text else []
    return blocks + [image_block(image) for image in images]


def to_langchain(messages: Sequence[ol.Message]) -> list[BaseMessage]:
    """Convert validated Ollama messages to LangChain's, pairing tool results."""
    converted: list[BaseMessage] = []
    pending: list[tuple[str, str]] = []  # (id, name) of calls not yet answered
    for index, message in enumerate(messages):
        text = message.content or ""
        if message.role == "system":
            converted.append(SystemMessage(content=text))
        elif message.role == "user":
            converted.append(HumanMessage(content=user_content(text, message.images)))
        elif message.role == "assistant":
            calls = [
                tool_call(
                    name=call.function.name,
                    args=call.function.arguments,
                    id=call.id or f"call_{index}_{number}",
                )
                for number, call in enumerate(message.tool_calls or ())
            ]
            pending = [(call["id"] or "", call["name"]) for call in calls]
            converted.append(AIMessage(content=text, tool_calls=calls))
        else:
            call_id, name = _answered(message, pending, index)
            converted.append(ToolMessage(content=text, tool_call_id=call_id, name=name))
    return converted


def _answered(
    message: ol.Message, pending: list[tuple[str, str]], index: int
) -> tuple[str, str | None]:
    """The call a tool result answers (taken from ``pending``), as (id, name)."""
    for rule in (
        lambda call: call[0] == message.tool_call_id,
        lambda call: call[1] == message.tool_name,
        lambda call: True,
    ):
        for position, call in enumerate(pending):
            if rule(call):
                del pending[position]
                return call[0], message.tool_name or call[1]
    return message.tool_call_id or f"call_{index}", message.tool_name
