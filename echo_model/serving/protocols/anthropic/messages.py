"""Anthropic's messages as LangChain messages: what the model reads.

Content blocks become LangChain's standard blocks, the reverse of
``langchain_anthropic``'s ``_format_messages``: an image's ``base64`` source
is ``{"type": "image", "base64", "mime_type"}``, a PDF ``{"type": "file",
...}``; a ``tool_result`` block is a ``ToolMessage`` (so one last is echoed,
and an agent loop ends); ``thinking`` blocks stay in the assistant message
and are never echoed.
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

from echo_model.serving.core.options import InvalidRequest
from echo_model.serving.protocols.anthropic import schemas as an


def to_langchain(
    system: str | list[an.TextBlock] | None, messages: Sequence[an.Message]
) -> list[BaseMessage]:
    """Convert a validated ``system`` and ``messages`` to LangChain messages.

    A user turn's ``tool_result`` blocks become ``ToolMessage``s and its other
    blocks a ``HumanMessage``, in their order; an assistant turn becomes an
    ``AIMessage`` with its ``tool_use`` blocks as tool calls.

    Raises:
        InvalidRequest: A block is in a turn whose role cannot have it.
    """
    converted: list[BaseMessage] = []
    if isinstance(system, str):
        converted.append(SystemMessage(content=system))
    elif system:
        converted.append(SystemMessage(content=[_text(b) for b in system]))
    for index, turn in enumerate(messages):
        if turn.role == "user":
            converted.extend(_user_messages(turn.content, index))
        else:
            converted.append(_assistant_message(turn.content, index))
    return converted


def _user_messages(
    content: str | list[Any], index: int
) -> list[HumanMessage | ToolMessage]:
    if isinstance(content, str):
        return [HumanMessage(content=content)]
    converted: list[HumanMessage | ToolMessage] = []
    blocks: list[str | dict[str, Any]] = []
    for position, block in enumerate(content):
        if isinstance(block, an.ToolResultBlock):
            if blocks:
                converted.append(HumanMessage(content=blocks))
                blocks = []
            converted.append(
                ToolMessage(
                    content=_result_content(block.content),
                    tool_call_id=block.tool_use_id,
                    status="error" if block.is_error else "success",
                )
            )
        elif isinstance(block, an.TextBlock | an.ImageBlock | an.DocumentBlock):
            blocks.extend(_media(block))
        else:
            msg = (
                f"messages.{index}.content.{position}: a {block.type} block belongs"
                " in an assistant message"
            )
            raise InvalidRequest(msg, f"messages.{index}.content.{position}")
    if blocks or not converted:
        converted.append(HumanMessage(content=blocks))
    return converted


def _assistant_message(content: str | list[Any], index: int) -> AIMessage:
    if isinstance(content, str):
        return AIMessage(content=content)
    blocks: list[str | dict[str, Any]] = []
    calls = []
    for position, block in enumerate(content):
        if isinstance(block, an.ToolUseBlock):
            calls.append(tool_call(name=block.name, args=block.input, id=block.id))
        elif isinstance(block, an.TextBlock):
            blocks.append(_text(block))
        elif isinstance(block, an.ThinkingBlock | an.RedactedThinkingBlock):
            # Kept as Anthropic's block: LangChain's message text leaves it
            # out, so it is neither echoed nor counted.
            blocks.append(block.model_dump(exclude_none=True))
        else:
            msg = (
                f"messages.{index}.content.{position}: a {block.type} block cannot"
                " be in an assistant message"
            )
            raise InvalidRequest(msg, f"messages.{index}.content.{position}")
    return AIMessage(content=blocks, tool_calls=calls)


def _result_content(content: str | list[Any] | None) -> str | list[str | dict]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return [part for block in content for part in _media(block)]


def _text(block: an.TextBlock) -> dict[str, Any]:
    return {"type": "text", "text": block.text}


def _media(block: an.TextBlock | an.ImageBlock | an.DocumentBlock) -> list[dict]:
    """A user block as LangChain's standard content blocks.

    What ``langchain_anthropic`` turns into this block, turned back: an
    image or a file by its data, URL or file id; a text document as
    ``text-plain``; a document of content as its blocks.
    """
    if isinstance(block, an.TextBlock):
        return [_text(block)]
    kind = "image" if isinstance(block, an.ImageBlock) else "file"
    source = block.source
    converted: dict[str, Any]
    if isinstance(source, an.Base64Source):
        converted = {"type": kind, "base64": source.data}
        converted["mime_type"] = source.media_type
    elif isinstance(source, an.URLSource):
        converted = {"type": kind, "url": source.url}
    elif isinstance(source, an.FileSource):
        converted = {"type": kind, "file_id": source.file_id}
    elif isinstance(source, an.PlainTextSource):
        converted = {
            "type": "text-plain",
            "text": source.data,
            "mime_type": source.media_type,
        }
    else:
        inner = source.content
        if isinstance(inner, str):
            return [{"type": "text", "text": inner}]
        return [part for item in inner for part in _media(item)]
    if isinstance(block, an.DocumentBlock):
        for key in ("title", "context"):
            if (value := getattr(block, key)) is not None:
                converted[key] = value
    return [converted]


def openai_tool(tool: an.Tool) -> dict[str, Any]:
    """Return an Anthropic tool as the OpenAI tool dict the model binds."""
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description is not None:
        function["description"] = tool.description
    return {"type": "function", "function": function}
