"""Responses input items as LangChain messages: what the model reads.

``instructions`` becomes a system message first; a string ``input`` is one
user message; items map one to one, except that ``function_call`` items
join the assistant message before them (or a new one), as the tool calls of
one model turn, and a ``function_call_output`` is the ``ToolMessage``
answering its ``call_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call

from echo_model.serving.protocols.responses import schemas as rs


def to_langchain(request: rs.CreateResponseRequest) -> list[BaseMessage]:
    """Return the conversation ``request`` holds, in LangChain's messages."""
    messages: list[BaseMessage] = []
    if request.instructions is not None:
        messages.append(SystemMessage(content=request.instructions))
    if isinstance(request.input, str):
        messages.append(HumanMessage(content=request.input))
        return messages
    for item in request.input:
        if isinstance(item, rs.FunctionCallItem):
            last = messages[-1] if messages else None
            turn = last if isinstance(last, AIMessage) else AIMessage(content="")
            if turn is not last:
                messages.append(turn)
            _add_call(turn, item)
        elif isinstance(item, rs.FunctionCallOutputItem):
            messages.append(
                ToolMessage(content=_content(item.output), tool_call_id=item.call_id)
            )
        else:
            messages.append(_message(item))
    return messages


def _message(item: rs.MessageItem) -> BaseMessage:
    if item.role in ("system", "developer"):
        return SystemMessage(content=_text(item.content))
    if item.role == "assistant":
        return AIMessage(content=_text(item.content))
    return HumanMessage(content=_content(item.content))


def _add_call(turn: AIMessage, item: rs.FunctionCallItem) -> None:
    try:
        args = orjson.loads(item.arguments)
    except orjson.JSONDecodeError:
        args = None
    if isinstance(args, dict):
        turn.tool_calls.append(tool_call(name=item.name, args=args, id=item.call_id))
    else:  # what a model wrote that is not a JSON object: kept as such
        turn.invalid_tool_calls.append(
            invalid_tool_call(
                name=item.name,
                args=item.arguments,
                id=item.call_id,
                error="arguments are not a JSON object",
            )
        )


def _text(content: str | Sequence[Any]) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        part.refusal if isinstance(part, rs.Refusal) else getattr(part, "text", "")
        for part in content
    )


def _content(content: str | Sequence[Any]) -> str | list[str | dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [_part(part) for part in content]


def _part(part: Any) -> dict[str, Any]:
    """A content part as LangChain content: text, or a media block it describes.

    Images by URL keep OpenAI's ``image_url`` form, which LangChain accepts;
    files and uploaded images become LangChain's standard blocks, so each
    reads as the same ``[image ...]`` / ``[file ...]`` marker as on
    ``/v1/chat/completions``.
    """
    if isinstance(part, rs.InputImage):
        if part.image_url is not None:
            return {"type": "image_url", "image_url": {"url": part.image_url}}
        return {"type": "image", "file_id": part.file_id or ""}
    if isinstance(part, rs.InputFile):
        block: dict[str, Any]
        if part.file_data and part.file_data.startswith("data:"):
            header, _, data = part.file_data.partition(",")
            mime = header.removeprefix("data:").split(";")[0] or "application/pdf"
            block = {"type": "file", "base64": data, "mime_type": mime}
        elif part.file_data:
            block = {"type": "file", "base64": part.file_data}
        elif part.file_url:
            block = {"type": "file", "url": part.file_url}
        else:
            block = {"type": "file", "file_id": part.file_id or ""}
        if part.filename:
            block["filename"] = part.filename
        return block
    if isinstance(part, rs.Refusal):
        return {"type": "text", "text": part.refusal}
    return {"type": "text", "text": part.text}
