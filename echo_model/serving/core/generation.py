"""The protocol-neutral path every wire adapter shares: request -> model -> reply.

An adapter (OpenAI's Chat Completions, Anthropic's Messages) turns its wire
request into a ``GenerationRequest`` of LangChain messages and model options,
and turns a ``Generation`` (or the ``StreamEvent``s of ``ModelBackend.stream``)
into its wire response. The echo, the stop-sequence rule, the tool-call rules
and the token count are the model's, reached through this module only.

The model is driven through its own hooks (``_agenerate``/``_astream``, what
``BaseChatModel.ainvoke``/``astream`` call), not through the public methods:
LangChain's run machinery around them (callback managers, tracing config,
message normalisation) costs about 100 us per call here, as much as the rest
of a request, and this path is what the server's speed targets measure. The
model, its defaults and its rules are the same; what the machinery would add
(callbacks, tracers) has no client on this path.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.messages import BaseMessage

from echo_model.chat_models import EchoChatModel
from echo_model.echo import input_tokens, tool_call_echo
from echo_model.faults import EchoFaultError, FixtureErrorReply, FixtureMissError
from echo_model.options import REQUEST_OPTIONS
from echo_model.serving.core.journal import (
    Exchange,
    current_exchange,
)
from echo_model.serving.core.options import InvalidRequest
from echo_model.tools import PlannedCall

FinishReason = Literal["stop", "length", "tool_calls"]

#: Options that are not model fields: call arguments (``n``, ``stop``) and the
#: server's own (``fault``); the others (delays, faults, seeds) are model
#: fields, set on a copy of the served model.
NOT_MODEL_FIELDS = frozenset(o.name for o in REQUEST_OPTIONS if o.target != "model")


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """What one request asks of the model, in LangChain's terms.

    Attributes:
        messages: The conversation, converted from the wire format.
        model: The model name to report back (the client's ``model``), or
            ``None`` for the server's.
        max_tokens: Cap on the reply in tokens (code points), if any; the
            model's ``n`` caps it too.
        stop: Stop sequences; the reply ends before the first one it contains.
        tools: Tools the model may call, as OpenAI tool dicts.
        tool_choice: The model's ``tool_choice`` (``"auto"``, ``"none"``,
            ``"required"``, a tool's name, or None for the default).
        response_format: OpenAI's ``response_format`` dict for JSON replies.
        options: The request's checked options (``options.OptionChecks``):
            ``n``, ``stop``, delays, faults (``echo_model.options``).
        include_stop_sequence: Whether the reply keeps a matched stop sequence;
            the wire protocols drop it (OpenAI and Anthropic both do).
        parallel_tool_calls: ``False`` keeps only the first tool call of the
            reply (OpenAI's ``parallel_tool_calls: false``, Anthropic's
            ``disable_parallel_tool_use``); its output tokens are then those
            of that call alone.
        context: The request's fixture context (``X-Echo-Context``), or
            ``None``: the served model's.
        strict: Whether a request no fixture matches fails (``X-Echo-Strict``),
            or ``None``: the server's ``--strict``.
    """

    messages: list[BaseMessage]
    model: str | None = None
    max_tokens: int | None = None
    stop: Sequence[str] | None = None
    tools: Sequence[dict[str, Any]] = ()
    tool_choice: str | None = None
    response_format: dict[str, Any] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    include_stop_sequence: bool = False
    parallel_tool_calls: bool = True
    context: str | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call of the reply.

    Attributes:
        index: Its position among the reply's tool calls.
        id: The model's call id (``call_...``).
        name: The tool's name.
        arguments: The arguments as the model wrote them: a JSON object for a
            valid call; for an invalid one, the text it could not use (which
            need not be JSON), as OpenAI passes on whatever a model wrote.
        error: Why the call is invalid, or ``None`` for a valid call.
    """

    index: int
    id: str
    name: str
    arguments: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """How the reply ended and what it cost; the last event of a stream.

    Attributes:
        model: The model name reported.
        finish_reason: ``"stop"``, ``"length"`` or ``"tool_calls"`` (OpenAI's
            names; other protocols map them).
        stop_sequence: The stop sequence that ended the reply, if one did.
        input_tokens: The model's input token count (code points).
        output_tokens: The model's output token count (code points).
    """

    model: str
    finish_reason: FinishReason
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Generation:
    """The whole reply to a request.

    Attributes:
        text: The reply text (empty when the reply is tool calls).
        tool_calls: The tool calls, valid ones first (the order ``AIMessage``
            keeps them in), each with its ``index``.
        finish: How the reply ended and its usage.
    """

    text: str
    tool_calls: list[ToolCall]
    finish: Finish


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply text, as one streamed model chunk carried it."""

    text: str


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure the model raised on purpose, as every protocol renders it.

    An injected fault (``fail_after_chunks``, ``error_rate``, a fixture's cut
    stream) is a 500 ``server_error``; a fixture's scripted error carries its
    own status, type, code and retry delay (``FixtureErrorReply``).

    Attributes:
        status: The HTTP status of a whole reply.
        message: What the client reads.
        type: The error type the fixture names, if it names one.
        code: The error code the fixture names, if it names one.
        retry_after: Seconds a client should wait before retrying, if given.
    """

    status: int
    message: str
    type: str | None = None
    code: str | None = None
    retry_after: float | None = None

    @classmethod
    def of(cls, error: EchoFaultError) -> Failure:
        """Return how ``error`` is rendered."""
        if isinstance(error, FixtureErrorReply):
            return cls(
                status=error.status,
                message=error.message,
                type=error.error_type,
                code=error.code,
                retry_after=error.retry_after,
            )
        if isinstance(error, FixtureMissError):
            return cls(
                status=error.status,
                message=f"echo-model strict mode: {error}",
                type="fixture_miss",
                code="no_fixture_match",
            )
        return cls(status=error.status, message=f"echo-model injected fault: {error}")


#: What ``ModelBackend.stream`` yields: text pieces, then any tool calls, then the
#: finish. Concatenated, the pieces are ``Generation.text``; the tool calls and
#: the finish are those of ``ModelBackend.generate`` for the same request.
StreamEvent = TextDelta | ToolCall | Finish


class ModelBackend:
    """Runs ``GenerationRequest``s through the served ``EchoChatModel``.

    Args:
        model: The model with the server's defaults (``Settings.model_defaults``).
    """

    def __init__(self, model: EchoChatModel) -> None:
        self.model = model

    def _call(
        self, request: GenerationRequest
    ) -> tuple[EchoChatModel, list[str] | None, dict[str, Any]]:
        """Return the model to call, its stop sequences and its keyword arguments."""
        check_tool_choice(request.tool_choice, request.tools)
        options = request.options
        fields = {k: v for k, v in options.items() if k not in NOT_MODEL_FIELDS}
        # A shallow copy per request that sets delays or faults: cheap, and the
        # served model is never changed.
        model = self.model.model_copy(update=fields) if fields else self.model
        kwargs: dict[str, Any] = {
            "include_stop_sequence": request.include_stop_sequence
        }
        if request.model:
            kwargs["model"] = request.model
        if "n" in options:
            kwargs["n"] = options["n"]
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.tools:
            kwargs["tools"] = list(request.tools)
            if request.tool_choice is not None:
                kwargs["tool_choice"] = request.tool_choice
        if request.response_format is not None:
            kwargs["response_format"] = request.response_format
        if request.context is not None:
            kwargs["fixture_context"] = request.context
        if request.strict is not None:
            kwargs["fixture_strict"] = request.strict
        stop = request.stop if request.stop is not None else options.get("stop")
        return model, (list(stop) if stop is not None else None), kwargs

    @staticmethod
    def input_tokens(request: GenerationRequest) -> int:
        """Return the input tokens a reply to ``request`` would report, without one.

        The model's own count (``echo.input_tokens``): what a protocol reports
        before the reply (Anthropic's ``message_start``, ``count_tokens``).
        """
        return input_tokens(request.messages)

    async def generate(self, request: GenerationRequest) -> Generation:
        """Return the whole reply; raises the model's ``EchoFaultError`` if injected.

        The model's plain reply (``EchoChatModel.areply``): the ``AIMessage``
        its ``_agenerate`` wraps around it would only be taken apart here.
        """
        model, stop, kwargs = self._call(request)
        exchange = current_exchange()
        try:
            reply = await model.areply(request.messages, stop, **kwargs)
        except EchoFaultError as error:
            if exchange is not None:
                exchange.fail(error)
            raise
        # Valid calls first, the order an AIMessage keeps them in.
        valid = [c for c in reply.tool_calls if c.error is None]
        invalid = [c for c in reply.tool_calls if c.error is not None]
        if exchange is not None:
            exchange.reply(
                reply.echo.text,
                [{"id": c.id, "name": c.name, "arguments": c.args} for c in valid],
            )
            exchange.fixture = reply.fixture
        tool_calls = [
            ToolCall(index, c.id, c.name, _json(c.args))
            for index, c in enumerate(valid)
        ] + [
            ToolCall(len(valid) + index, c.id, c.name, c.raw_args, c.error)
            for index, c in enumerate(invalid)
        ]
        echo = reply.echo
        finish = Finish(
            model=reply.model_name,
            finish_reason=echo.finish_reason,
            stop_sequence=echo.stop_sequence,
            input_tokens=echo.input_tokens,
            output_tokens=echo.output_tokens,
        )
        if not request.parallel_tool_calls and len(tool_calls) > 1:
            tool_calls, finish = _first_call_only(request, tool_calls, finish)
        return Generation(text=echo.text, tool_calls=tool_calls, finish=finish)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamEvent]:
        """Yield the reply as it streams: text pieces, tool calls, the finish.

        Text pieces come as the model streams them (one code point each). Tool
        calls come just before the finish, valid ones first: the model tells
        which calls are invalid only in its final chunk, and ``generate`` lists
        them in that order. Raises the model's ``EchoFaultError`` where the
        model injects it.
        """
        model, stop, kwargs = self._call(request)
        exchange = current_exchange()
        try:
            async for event in self._events(model, request, stop, kwargs, exchange):
                yield event
        except EchoFaultError as error:
            if exchange is not None:
                exchange.fail(error)
            raise

    async def _events(
        self,
        model: EchoChatModel,
        request: GenerationRequest,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        exchange: Exchange | None,
    ) -> AsyncIterator[StreamEvent]:
        pending: list[tuple[str, str, str]] = []
        pieces: list[str] = []
        async for chunk in model._astream(request.messages, stop, **kwargs):
            message = chunk.message
            if text := message.content:
                piece = text if isinstance(text, str) else message.text
                if exchange is not None:
                    pieces.append(piece)
                yield TextDelta(piece)
            for call in getattr(message, "tool_call_chunks", ()):
                args = call["args"] or ""
                pending.append((call["id"] or "", call["name"] or "", args))
            if getattr(message, "chunk_position", None) == "last":
                errors = message.response_metadata.get("tool_call_errors") or {}
                ordered = sorted(pending, key=lambda c: c[0] in errors)
                tool_calls = [
                    ToolCall(index, call_id, name, arguments, errors.get(call_id))
                    for index, (call_id, name, arguments) in enumerate(ordered)
                ]
                finish = _finish(
                    message.response_metadata, getattr(message, "usage_metadata", None)
                )
                if not request.parallel_tool_calls and len(tool_calls) > 1:
                    tool_calls, finish = _first_call_only(request, tool_calls, finish)
                if exchange is not None:
                    _report(exchange, pieces, tool_calls, message.response_metadata)
                for call in tool_calls:
                    yield call
                yield finish


def _report(
    exchange: Exchange,
    pieces: list[str],
    calls: list[ToolCall],
    metadata: Mapping[str, Any],
) -> None:
    """Tell the request's exchange (the journal) what a stream replied."""
    exchange.reply(
        "".join(pieces),
        [
            {"id": c.id, "name": c.name, "arguments": _arguments(c.arguments)}
            for c in calls
        ],
    )
    fixture = metadata.get("fixture")
    exchange.fixture = fixture if isinstance(fixture, str) else None


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_tool_choice(tool_choice: Any, tools: Sequence[dict[str, Any]]) -> None:
    """Refuse a tool choice the model would silently ignore.

    A forced call needs tools, and a named tool must be one of them (the
    model falls back to no forced call for an unknown name).
    """
    if tool_choice in (None, "auto", "none"):
        return
    if not tools:
        msg = "'tool_choice' forces a tool call, but no 'tools' were given"
        raise InvalidRequest(msg, "tool_choice")
    names = {(t.get("function") or t).get("name") for t in tools}
    if tool_choice not in ("any", "required") and tool_choice not in names:
        msg = f"'tool_choice' names tool {tool_choice!r}, which is not among 'tools'"
        raise InvalidRequest(msg, "tool_choice")


def _first_call_only(
    request: GenerationRequest, calls: list[ToolCall], finish: Finish
) -> tuple[list[ToolCall], Finish]:
    """Keep the first call; its output tokens counted by the model's rule."""
    first = calls[0]
    planned = PlannedCall(first.name, {}, first.id, first.arguments, first.error)
    tokens = tool_call_echo(request.messages, [planned]).output_tokens
    return [first], replace(finish, output_tokens=tokens)


def _json(value: Any) -> str:
    # What the model's own serialisation of arguments gives (json.dumps with
    # ensure_ascii=False, default separators), so streamed and whole replies agree.
    return json.dumps(value, ensure_ascii=False)


def _finish(metadata: Mapping[str, Any], usage: Mapping[str, Any] | None) -> Finish:
    usage = usage or {}
    return Finish(
        model=metadata["model_name"],
        finish_reason=metadata["finish_reason"],
        stop_sequence=metadata.get("stop_sequence"),
        input_tokens=usage.get("input_tokens", 0),
        output_tokens=usage.get("output_tokens", 0),
    )


__all__ = [
    "Failure",
    "Finish",
    "Generation",
    "GenerationRequest",
    "InvalidRequest",
    "ModelBackend",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "check_tool_choice",
]
