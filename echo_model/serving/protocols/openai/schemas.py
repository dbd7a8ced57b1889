"""OpenAI Chat Completions request and response bodies, as pydantic models.

The request models validate what a client sends (with OpenAI's types and
ranges; unknown fields are accepted, as OpenAI's server does) and document
it at ``/docs``; the response models only document what the server sends
(replies are built as plain dicts, which is faster than validating a model).
Field names and shapes follow OpenAI's API reference and its ``openai`` SDK.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema

from echo_model.serving.core.options import options_description


class _Open(BaseModel):
    """A request object: OpenAI's types, strictly; unknown keys are kept."""

    model_config = ConfigDict(extra="allow", strict=True)


# --- Message content parts -------------------------------------------------------


class TextPart(_Open):
    """``{"type": "text", "text": ...}``."""

    type: Literal["text"]
    text: str


class ImageURL(_Open):
    """An image by URL: ``https://...`` or a ``data:`` URL with base64 data."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Open):
    """``{"type": "image_url", "image_url": {"url": ...}}``."""

    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(_Open):
    """Base64 audio data and its format (``wav``, ``mp3``)."""

    data: str
    format: str


class AudioPart(_Open):
    """``{"type": "input_audio", "input_audio": {"data": ..., "format": ...}}``."""

    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(_Open):
    """A file: inline (``file_data``, a ``data:`` URL) or uploaded (``file_id``)."""

    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class FilePart(_Open):
    """``{"type": "file", "file": {...}}``."""

    type: Literal["file"]
    file: FileRef


class RefusalPart(_Open):
    """``{"type": "refusal", "refusal": ...}`` (assistant messages only)."""

    type: Literal["refusal"]
    refusal: str


UserPart = Annotated[
    TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")
]
AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]


# --- Messages -------------------------------------------------------------------


class FunctionCall(_Open):
    """A tool call's function: its name and its arguments as JSON text."""

    name: str
    arguments: str


class ToolCallParam(_Open):
    """A tool call an assistant message made."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class SystemMessage(_Open):
    """Instructions: role ``system`` or ``developer``."""

    role: Literal["system", "developer"]
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(_Open):
    """A user turn: text, or parts with images, audio and files."""

    role: Literal["user"]
    content: str | list[UserPart]
    name: str | None = None


class AssistantMessage(_Open):
    """An earlier model turn: text and/or tool calls."""

    role: Literal["assistant"]
    content: str | list[AssistantPart] | None = None
    tool_calls: list[ToolCallParam] | None = None
    name: str | None = None
    refusal: str | None = None


class ToolMessage(_Open):
    """A tool's result, answering the call ``tool_call_id``."""

    role: Literal["tool"]
    content: str | list[TextPart]
    tool_call_id: str


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage,
    Field(discriminator="role"),
]


# --- Tools, tool choice, response format ----------------------------------------


class FunctionDefinition(_Open):
    """A function the model may call; ``parameters`` is a JSON schema."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Open):
    """``{"type": "function", "function": {...}}``."""

    type: Literal["function"]
    function: FunctionDefinition


class ToolChoiceFunction(_Open):
    """The name of the tool a call is forced to."""

    name: str


class NamedToolChoice(_Open):
    """``{"type": "function", "function": {"name": ...}}``: force that tool."""

    type: Literal["function"]
    function: ToolChoiceFunction


class TextFormat(_Open):
    """``{"type": "text"}``: a plain reply."""

    type: Literal["text"]


class JsonObjectFormat(_Open):
    """``{"type": "json_object"}``: the reply is a JSON object."""

    type: Literal["json_object"]


class JsonSchemaSpec(_Open):
    """A named JSON schema the reply must match."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(_Open):
    """``{"type": "json_schema", "json_schema": {...}}``: JSON valid against it."""

    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[
    TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")
]


class StreamOptions(_Open):
    """``include_usage``: one more chunk, with the usage, before ``[DONE]``."""

    include_usage: bool | None = None


ECHO_DESCRIPTION = options_description(
    "send them with the SDK's `extra_body={'echo': {...}}`"
)


class ChatCompletionRequest(_Open):
    """The body of ``POST /v1/chat/completions``.

    Fields OpenAI defines but that cannot change an echo (``temperature``,
    ``top_p``, ``seed``, ``user``, ``metadata``, ``store``, penalties, ...)
    are checked for their type and accepted; so is any unknown field.
    """

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = Field(
        default=None, description="Up to 4 sequences; the reply ends before one."
    )
    n: int | None = Field(default=1, ge=1, le=128)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    echo: dict[str, Any] | None = Field(default=None, description=ECHO_DESCRIPTION)


# --- Responses (documentation only) ----------------------------------------------


class ResponseFunctionCall(BaseModel):
    """A tool call's function in a reply; ``arguments`` is JSON text."""

    name: str
    arguments: str


class ResponseToolCall(BaseModel):
    """A tool call in a reply."""

    id: str
    type: Literal["function"]
    function: ResponseFunctionCall


class ResponseMessage(BaseModel):
    """The assistant message of a choice."""

    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    annotations: list[dict[str, Any]] = []
    tool_calls: list[ResponseToolCall] | None = None


class Choice(BaseModel):
    """One choice of a completion (``n`` identical ones)."""

    index: int
    message: ResponseMessage
    logprobs: None
    finish_reason: Literal["stop", "length", "tool_calls"]


class Usage(BaseModel):
    """Token counts: one token is one Unicode code point."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int]
    completion_tokens_details: dict[str, int]


class ChatCompletion(BaseModel):
    """The reply of ``POST /v1/chat/completions`` without ``stream``."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str
    service_tier: str
    choices: list[Choice]
    usage: Usage


class ChunkChoice(BaseModel):
    """One choice's delta in a streamed chunk."""

    index: int
    delta: dict[str, Any]
    logprobs: None
    finish_reason: Literal["stop", "length", "tool_calls"] | None


class ChatCompletionChunk(BaseModel):
    """One ``data:`` event of a stream (``text/event-stream``), before ``[DONE]``."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    system_fingerprint: str
    service_tier: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class ModelObject(BaseModel):
    """A model the server serves."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    """The models the server serves."""

    object: Literal["list"]
    data: list[ModelObject]


class ErrorDetail(BaseModel):
    """What went wrong, as OpenAI reports it."""

    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """Every error on ``/v1``: ``{"error": {...}}``."""

    error: ErrorDetail


# --- Embeddings ------------------------------------------------------------------

#: One input of ``/v1/embeddings``: a text, or a text's token ids (code points).
EmbeddingInput = (
    str
    | list[str]
    | list[Annotated[int, Field(strict=True, ge=0, le=0x10FFFF)]]
    | list[list[Annotated[int, Field(strict=True, ge=0, le=0x10FFFF)]]]
)


EMBEDDING_INPUT_SCHEMA = TypeAdapter(EmbeddingInput).json_schema()


class EmbeddingsRequest(_Open):
    """The body of ``POST /v1/embeddings``.

    ``input`` is a text, a list of texts, a list of token ids or a list of
    such lists; a token is a Unicode code point here, so ids are code points.
    ``user`` is accepted and changes nothing.
    """

    model: str
    # Checked by the route, which says which of the four forms was meant.
    input: Annotated[Any, WithJsonSchema(EMBEDDING_INPUT_SCHEMA)] = Field(
        description="A text, a list of texts, token ids (code points) or lists."
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, le=65536)
    user: str | None = None


class Embedding(BaseModel):
    """One vector of a reply, at the index of its input."""

    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(
        description="The vector, or with encoding_format base64 its float32s"
        " (little-endian) in base64."
    )


class EmbeddingsUsage(BaseModel):
    """Tokens (code points) of the inputs."""

    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    """The reply of ``POST /v1/embeddings``: one vector per input, in order."""

    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: EmbeddingsUsage
