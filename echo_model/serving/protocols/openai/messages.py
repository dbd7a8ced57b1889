"""OpenAI's chat messages as LangChain messages: what the model reads."""

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

from echo_model.serving.protocols.openai import schemas as oa


def to_langchain(message: Any, index: int) -> BaseMessage:
    """Convert one validated OpenAI message to its LangChain message."""
    if isinstance(message, oa.UserMessage):
        content = message.content
        if not isinstance(content, str):
            return HumanMessage(content=[_part(p) for p in content], name=message.name)
        return HumanMessage(content=content, name=message.name)
    if isinstance(message, oa.SystemMessage):
        return SystemMessage(content=_text(message.content), name=message.name)
    if isinstance(message, oa.ToolMessage):
        return ToolMessage(
            content=_text(message.content), tool_call_id=message.tool_call_id
        )
    assert isinstance(message, oa.AssistantMessage)  # noqa: S101 - the union's last
    calls, invalid = [], []
    for call in message.tool_calls or ():
        try:
            args = orjson.loads(call.function.arguments)
        except orjson.JSONDecodeError:
            args = None
        if isinstance(args, dict):
            calls.append(tool_call(name=call.function.name, args=args, id=call.id))
        else:  # what a model wrote that is not a JSON object: kept as such
            invalid.append(
                invalid_tool_call(
                    name=call.function.name,
                    args=call.function.arguments,
                    id=call.id,
                    error="arguments are not a JSON object",
                )
            )
    return AIMessage(
        content=_text(message.content) if message.content is not None else "",
        tool_calls=calls,
        invalid_tool_calls=invalid,
        name=message.name,
    )


def _text(content: str | Sequence[oa.TextPart | oa.RefusalPart]) -> str:
    if isinstance(content, str):
        return content
    return "".join(
        part.text if isinstance(part, oa.TextPart) else part.refusal for part in content
    )


def _part(part: Any) -> str | dict[str, Any]:
    """A user content part as LangChain content: OpenAI's form, files as standard.

    Images and audio keep OpenAI's form, which LangChain accepts as content
    and the model describes as it does LangChain's own blocks. A file becomes
    LangChain's standard file block (what ``ChatOpenAI`` sends a file block
    as, turned back), so that it reads as the same ``[file ...]`` marker.
    """
    if isinstance(part, oa.FilePart):
        ref = part.file
        if ref.file_data and ref.file_data.startswith("data:"):
            header, _, data = ref.file_data.partition(",")
            mime = header.removeprefix("data:").split(";")[0] or "application/pdf"
            block = {"type": "file", "base64": data, "mime_type": mime}
        elif ref.file_data:
            block = {"type": "file", "base64": ref.file_data}
        else:
            block = {"type": "file", "file_id": ref.file_id or ""}
        if ref.filename:
            block["filename"] = ref.filename
        return block
    return part.model_dump(exclude_none=True)
