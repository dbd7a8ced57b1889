"""Anthropic Messages request and response bodies, as pydantic models.

The request models validate what a client sends (with Anthropic's types and
ranges; unknown fields are accepted, as cache_control, citations and newer
fields should not break a client) and document it at ``/docs``; the response
models only document what the server sends (replies are built as plain dicts).
Field names and shapes follow Anthropic's API reference and its ``anthropic``
SDK (``anthropic.types``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from echo_model.serving.core.options import options_description


class _Open(BaseModel):
    """A request object: Anthropic's types, strictly; unknown keys are kept."""

    model_config = ConfigDict(extra="allow", strict=True)


# --- Content blocks ---------------------------------------------------------------


class TextBlock(_Open):
    """``{"type": "text", "text": ...}``."""

    type: Literal["text"]
    text: str


class Base64Source(_Open):
    """Inline data: ``{"type": "base64", "media_type": ..., "data": ...}``."""

    type: Literal["base64"]
    media_type: str
    data: str


class URLSource(_Open):
    """Data at a URL: ``{"type": "url", "url": ...}``."""

    type: Literal["url"]
    url: str


class FileSource(_Open):
    """An uploaded file: ``{"type": "file", "file_id": ...}``."""

    type: Literal["file"]
    file_id: str


class PlainTextSource(_Open):
    """A text document: ``{"type": "text", "media_type": ..., "data": ...}``."""

    type: Literal["text"]
    media_type: str = "text/plain"
    data: str


ImageSource = Annotated[
    Base64Source | URLSource | FileSource, Field(discriminator="type")
]


class ImageBlock(_Open):
    """``{"type": "image", "source": {...}}``."""

    type: Literal["image"]
    source: ImageSource


class ContentSource(_Open):
    """A document given as content: ``{"type": "content", "content": ...}``."""

    type: Literal["content"]
    content: str | list[Annotated[TextBlock | ImageBlock, Field(discriminator="type")]]


DocumentSource = Annotated[
    Base64Source | URLSource | FileSource | PlainTextSource | ContentSource,
    Field(discriminator="type"),
]


class DocumentBlock(_Open):
    """``{"type": "document", "source": {...}}``: a PDF, text or content."""

    type: Literal["document"]
    source: DocumentSource
    title: str | None = None
    context: str | None = None


ResultPart = Annotated[
    TextBlock | ImageBlock | DocumentBlock, Field(discriminator="type")
]


class ToolUseBlock(_Open):
    """An earlier tool call of the assistant: its id, tool name and input."""

    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(_Open):
    """A tool's result, answering the ``tool_use`` block ``tool_use_id``."""

    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[ResultPart] | None = None
    is_error: bool | None = None


class ThinkingBlock(_Open):
    """Earlier extended thinking, with its signature (accepted, never echoed)."""

    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(_Open):
    """Earlier redacted thinking (accepted, never echoed)."""

    type: Literal["redacted_thinking"]
    data: str


ContentBlock = Annotated[
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock,
    Field(discriminator="type"),
]


class Message(_Open):
    """One turn: ``user`` (text, media, tool results) or ``assistant``."""

    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


# --- Tools, tool choice, output format -----------------------------------------------


class Tool(_Open):
    """A client tool the model may call; ``input_schema`` is a JSON schema.

    Anthropic's server tools (``web_search_...``, ``bash_...``) have other
    ``type`` values; the echo model cannot run them, so they are refused.
    """

    type: Literal["custom"] | None = None
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,128}$")
    description: str | None = None
    input_schema: dict[str, Any]


class ToolChoiceAuto(_Open):
    """``{"type": "auto"}``: the model decides (the default with tools)."""

    type: Literal["auto"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(_Open):
    """``{"type": "any"}``: the model must call some tool."""

    type: Literal["any"]
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(_Open):
    """``{"type": "tool", "name": ...}``: the model must call that tool."""

    type: Literal["tool"]
    name: str
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(_Open):
    """``{"type": "none"}``: the model must not call a tool."""

    type: Literal["none"]


ToolChoice = Annotated[
    ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone,
    Field(discriminator="type"),
]


class JsonOutputFormat(_Open):
    """``{"type": "json_schema", "schema": {...}}``: JSON valid against it."""

    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfig(_Open):
    """``output_config``: the reply's ``format`` (structured outputs), ``effort``."""

    format: JsonOutputFormat | None = None
    effort: str | None = None


class Metadata(_Open):
    """Request metadata: an opaque ``user_id``."""

    user_id: str | None = None


ECHO_DESCRIPTION = options_description(
    "send them with the SDK's `extra_body={'echo': {...}}`"
)


class _Input(_Open):
    """What a messages request and a token count share: the conversation."""

    model: str
    messages: list[Message] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: dict[str, Any] | None = None
    output_config: OutputConfig | None = None


class MessagesRequest(_Input):
    """The body of ``POST /v1/messages``.

    Fields Anthropic defines but that cannot change an echo (``temperature``,
    ``top_k``, ``top_p``, ``metadata``, ``thinking``, ``service_tier``, ...)
    are checked for their type and accepted; so is any unknown field.
    """

    max_tokens: int = Field(ge=1, description="Cap on the reply, in tokens.")
    stop_sequences: list[str] | None = Field(
        default=None, description="The reply ends before the first it contains."
    )
    stream: bool | None = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: Metadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    echo: dict[str, Any] | None = Field(default=None, description=ECHO_DESCRIPTION)


class CountTokensRequest(_Input):
    """The body of ``POST /v1/messages/count_tokens``."""


# --- Responses (documentation only) ----------------------------------------------


class ResponseTextBlock(BaseModel):
    """Reply text."""

    type: Literal["text"]
    text: str


class ResponseToolUseBlock(BaseModel):
    """A tool call of the reply."""

    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any]


class Usage(BaseModel):
    """Token counts: one token is one Unicode code point."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]


class MessageResponse(BaseModel):
    """The reply of ``POST /v1/messages`` without ``stream``."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[ResponseTextBlock | ResponseToolUseBlock]
    stop_reason: StopReason
    stop_sequence: str | None
    usage: Usage


class StreamEvent(BaseModel):
    """One ``event:``/``data:`` pair of a stream (``text/event-stream``).

    In order: ``message_start``, ``ping``, per content block
    ``content_block_start``, ``content_block_delta``s (``text_delta`` or
    ``input_json_delta``), ``content_block_stop``; then ``message_delta``
    (stop reason and usage) and ``message_stop``. ``error`` ends a stream
    that fails after it started.
    """

    type: Literal[
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "error",
    ]


class TokenCount(BaseModel):
    """The reply of ``POST /v1/messages/count_tokens``."""

    input_tokens: int


class ErrorDetail(BaseModel):
    """What went wrong, as Anthropic reports it."""

    type: Literal[
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
    ]
    message: str


class ErrorResponse(BaseModel):
    """Every error on ``/v1/messages``: ``{"type": "error", "error": {...}}``."""

    type: Literal["error"]
    error: ErrorDetail
