"""Ollama's request and response bodies, as pydantic models (``docs/api.md``).

The request models validate what a client sends and document it at
``/docs``; unknown fields are accepted, as Ollama's server ignores them. The
``model`` is optional in the schema so that the route answers its absence as
Ollama does (400 ``model is required``). Response models only document what
the server sends (replies are built as plain dicts).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from echo_model.serving.core.options import options_description

OPTIONS_DESCRIPTION = (
    "Ollama's model options: `num_predict` caps the reply (tokens, one a"
    " character), `stop` ends it before a sequence; the others (`temperature`,"
    " `seed`, `num_ctx`, ...) are accepted and change nothing. `echo`: "
    + options_description("inside `options`: `options={'echo': {...}}`")
)


class _Open(BaseModel):
    """A request object: unknown keys are kept, as Ollama ignores them."""

    model_config = ConfigDict(extra="allow")


class ToolCallFunction(_Open):
    """A call's function: its name and its arguments, a JSON object."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    index: int | None = None


class ToolCall(_Open):
    """A tool call an assistant message made (``id`` optional)."""

    id: str | None = None
    function: ToolCallFunction


class Message(_Open):
    """One chat message; a ``tool`` message names its tool (``tool_name``)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    images: list[str] | None = Field(default=None, description="Base64-encoded images.")
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    thinking: str | None = None


class ToolFunction(_Open):
    """A function the model may call; ``parameters`` is a JSON schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Open):
    """``{"type": "function", "function": {...}}``."""

    type: Literal["function"] = "function"
    function: ToolFunction


Format = Literal["", "json"] | dict[str, Any] | None


class _ModelRequest(_Open):
    model: str | None = Field(default=None, description="Required.")
    keep_alive: float | str | None = None


class _GenerateBase(_ModelRequest):
    stream: bool | None = Field(default=True, description="Default true: NDJSON lines.")
    format: Format = Field(
        default=None, description='`"json"` or a JSON schema the reply validates.'
    )
    options: dict[str, Any] | None = Field(
        default=None, description=OPTIONS_DESCRIPTION
    )
    think: bool | Literal["low", "medium", "high", "max"] | None = None


class ChatRequest(_GenerateBase):
    """The body of ``POST /api/chat``."""

    messages: list[Message] | None = None
    tools: list[Tool] | None = None


class GenerateRequest(_GenerateBase):
    """The body of ``POST /api/generate``: ``suffix`` and ``raw`` are accepted."""

    prompt: str | None = None
    system: str | None = None
    suffix: str | None = None
    raw: bool | None = None
    images: list[str] | None = None
    context: list[int] | None = None


class EmbedRequest(_ModelRequest):
    """The body of ``POST /api/embed``."""

    input: str | list[str] = ""
    truncate: bool | None = None
    dimensions: int | None = Field(default=None, ge=1, le=65536)
    options: dict[str, Any] | None = None


class EmbeddingsRequest(_ModelRequest):
    """The body of the legacy ``POST /api/embeddings``."""

    prompt: str | None = None
    options: dict[str, Any] | None = None


class ShowRequest(_Open):
    """The body of ``POST /api/show`` (``name`` is the old spelling of ``model``)."""

    model: str | None = None
    name: str | None = None
    verbose: bool | None = None


# --- Responses (documentation only) ----------------------------------------------


class ResponseToolCall(BaseModel):
    """A tool call in a reply: arguments are an object."""

    id: str
    function: dict[str, Any]


class ResponseMessage(BaseModel):
    """The assistant message of a reply (a fragment of it in a stream line)."""

    role: Literal["assistant"]
    content: str
    tool_calls: list[ResponseToolCall] | None = None


class _Final(BaseModel):
    model: str
    created_at: str
    done: bool
    done_reason: Literal["stop", "length", "load"] | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class ChatResponse(_Final):
    """A reply of ``/api/chat``, or one line of its stream (``done`` says which)."""

    message: ResponseMessage


class GenerateResponse(_Final):
    """A reply of ``/api/generate``, or one line of its stream."""

    response: str


class EmbedResponse(BaseModel):
    """The reply of ``/api/embed``."""

    model: str
    embeddings: list[list[float]]
    total_duration: int
    load_duration: int
    prompt_eval_count: int


class EmbeddingsResponse(BaseModel):
    """The reply of ``/api/embeddings``."""

    embedding: list[float]


class ModelDetails(BaseModel):
    """What the model is made of."""

    parent_model: str
    format: str
    family: str
    families: list[str]
    parameter_size: str
    quantization_level: str


class ListedModel(BaseModel):
    """A model of ``/api/tags``."""

    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: ModelDetails


class TagsResponse(BaseModel):
    """The reply of ``/api/tags``."""

    models: list[ListedModel]


class RunningModel(BaseModel):
    """A model of ``/api/ps``."""

    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails
    expires_at: str
    size_vram: int
    context_length: int


class PsResponse(BaseModel):
    """The reply of ``/api/ps``."""

    models: list[RunningModel]


class ShowResponse(BaseModel):
    """The reply of ``/api/show``."""

    modelfile: str
    parameters: str
    template: str
    details: ModelDetails
    model_info: dict[str, Any]
    capabilities: list[str]
    modified_at: str


class VersionResponse(BaseModel):
    """The reply of ``/api/version``."""

    version: str


class ErrorResponse(BaseModel):
    """Every error on ``/api``, and the line ending a failed stream."""

    error: str
