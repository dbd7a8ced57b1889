"""OpenAI Responses request and response bodies, as pydantic models.

The request models validate what a client sends to ``POST /v1/responses``
(OpenAI's types; unknown fields are accepted, as OpenAI's server does) and
document it at ``/docs``; the response models only document what the server
sends (replies are built as plain dicts). Field names and shapes follow
OpenAI's published definition (``openai/openai-openapi``) and the ``openai``
SDK's ``types.responses``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from echo_model.serving.core.options import options_description


class _Open(BaseModel):
    """A request object: OpenAI's types, strictly; unknown keys are kept."""

    model_config = ConfigDict(extra="allow", strict=True)


# --- Content parts ----------------------------------------------------------------


class InputText(_Open):
    """``{"type": "input_text", "text": ...}``."""

    type: Literal["input_text"]
    text: str


class InputImage(_Open):
    """An image by URL (``https://...`` or a ``data:`` URL) or uploaded file id."""

    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high", "original"] | None = None


class InputFile(_Open):
    """A file: inline (``file_data``), by URL (``file_url``) or by ``file_id``."""

    type: Literal["input_file"]
    file_data: str | None = None
    file_id: str | None = None
    file_url: str | None = None
    filename: str | None = None


class OutputText(_Open):
    """An earlier reply's text (``output_text``), sent back as history."""

    type: Literal["output_text"]
    text: str
    annotations: list[Any] | None = None


class Refusal(_Open):
    """An earlier reply's refusal, sent back as history."""

    type: Literal["refusal"]
    refusal: str


Part = Annotated[
    InputText | InputImage | InputFile | OutputText | Refusal,
    Field(discriminator="type"),
]


# --- Input items ------------------------------------------------------------------


class MessageItem(_Open):
    """A message: ``{role, content}``, with or without ``type: "message"``."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[Part]
    id: str | None = None
    status: str | None = None


class FunctionCallItem(_Open):
    """A function call an earlier reply made (``call_id`` pairs it with its output)."""

    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(_Open):
    """A function's result, answering the call ``call_id``."""

    type: Literal["function_call_output"]
    call_id: str
    output: str | list[Part]
    id: str | None = None
    status: str | None = None


def _item_type(value: Any) -> str | None:
    """A message may leave ``type`` out (OpenAI's ``EasyInputMessage``)."""
    if isinstance(value, dict):
        kind = value.get("type")
        return "message" if kind is None and "role" in value else kind
    return getattr(value, "type", None)


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")],
    Discriminator(_item_type),
]


# --- Tools, tool choice, text format ------------------------------------------------


class FunctionTool(_Open):
    """``{"type": "function", "name", "parameters", ...}``: flat, unlike Chat's."""

    type: Literal["function"]
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


#: Only function tools: the union's tag names ``tools.[i].type`` when another
#: type (``web_search``, ``file_search``, ...) is sent.
Tool = Annotated[FunctionTool, Field(discriminator="type")]


class NamedToolChoice(_Open):
    """``{"type": "function", "name": ...}``: force that tool (flat)."""

    type: Literal["function"]
    name: str


class TextFormat(_Open):
    """``{"type": "text"}``: a plain reply."""

    type: Literal["text"]


class JsonObjectFormat(_Open):
    """``{"type": "json_object"}``: the reply is a JSON object."""

    type: Literal["json_object"]


class JsonSchemaFormat(_Open):
    """``{"type": "json_schema", "name", "schema", "strict"}``: flat, unlike Chat's."""

    type: Literal["json_schema"]
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


Format = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]


class TextConfig(_Open):
    """``text``: the reply's format and (accepted, not applied) verbosity."""

    format: Format | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


ECHO_DESCRIPTION = options_description(
    "send them with the SDK's `extra_body={'echo': {...}}`"
)


class CreateResponseRequest(_Open):
    """The body of ``POST /v1/responses``.

    Fields OpenAI defines but that cannot change an echo (``reasoning``,
    ``include``, ``store``, ``truncation``, ``metadata``, ``temperature``,
    ``top_p``, ``user``, ``text.verbosity``, ...) are checked for their type
    and accepted; so is any unknown field.
    """

    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    stream: bool | None = False
    max_output_tokens: int | None = Field(default=None, ge=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    reasoning: dict[str, Any] | None = None
    include: list[str] | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    truncation: Literal["auto", "disabled"] | None = None
    metadata: dict[str, str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    user: str | None = None
    echo: dict[str, Any] | None = Field(default=None, description=ECHO_DESCRIPTION)


# --- Replies (documentation only) ---------------------------------------------------


class Usage(BaseModel):
    """Token counts: one token is one Unicode code point."""

    input_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens: int
    output_tokens_details: dict[str, int]
    total_tokens: int


class Response(BaseModel):
    """The reply of ``POST /v1/responses`` without ``stream``."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "failed", "in_progress"]
    incomplete_details: dict[str, str] | None
    error: dict[str, str] | None
    model: str
    output: list[dict[str, Any]]
    parallel_tool_calls: bool
    tool_choice: str | dict[str, str]
    tools: list[dict[str, Any]]
    usage: Usage | None = None


class StreamEvent(BaseModel):
    """A stream event: ``event: <type>``, ``data: {type, sequence_number, ...}``."""

    type: str
    sequence_number: int


class ErrorDetail(BaseModel):
    """What went wrong, as OpenAI reports it."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """Every error on ``/v1/responses``: ``{"error": {...}}``."""

    error: ErrorDetail
