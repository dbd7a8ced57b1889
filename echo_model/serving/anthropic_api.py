"""Anthropic's Messages API over the echo model, at ``/v1/messages``.

An adapter only: the wire request becomes a ``generation.GenerationRequest``
(LangChain messages, the model's options) and the ``Generation`` or stream
events come back in Anthropic's shapes. The echo, stop sequences, tool calls
and token counts are the model's (``generation`` runs it).

Mapping choices (documented in docs/anthropic.md):

- Content blocks become LangChain's standard blocks, the reverse of
  ``langchain_anthropic``'s ``_format_messages``: an image's ``base64`` source
  is ``{"type": "image", "base64", "mime_type"}``, a PDF ``{"type": "file",
  ...}``; a ``tool_result`` block is a ``ToolMessage`` (so one last is echoed,
  and an agent loop ends); ``thinking`` blocks stay in the assistant message
  and are never echoed.
- Stop reasons: the model's ``stop`` is ``end_turn`` (``stop_sequence`` when
  a sequence matched), ``length`` is ``max_tokens``, ``tool_calls`` is
  ``tool_use``.
- Tool use ids are the model's call ids with ``toolu_`` for ``call_``
  (``call_ab12...`` is ``toolu_ab12...``): deterministic, like the model's.
- A tool call the model could not parse (an invalid call) has ``input: {}``:
  Anthropic's ``tool_use.input`` is always a JSON object.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, FastAPI, Request
from fastapi.params import Depends as DependsParam
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call
from langchain_core.runnables import Runnable
from starlette.responses import Response

from echo_model.chat_models import EchoFaultError
from echo_model.serving import anthropic_schemas as an
from echo_model.serving.anthropic_errors import (
    AnthropicRoute,
    error_body,
    error_response,
)
from echo_model.serving.fault_injection import FaultAnswered
from echo_model.serving.generation import (
    Finish,
    Generation,
    GenerationRequest,
    Generator,
    InvalidRequest,
    SimulationOptions,
    StreamEvent,
    TextDelta,
    ToolCall,
    served_model_parts,
)
from echo_model.serving.limits import Limits
from echo_model.serving.metrics import count_request
from echo_model.serving.wire import event_stream, json_response

PROTOCOL = "anthropic"  # the metrics' protocol label
#: Characters of tool input JSON per ``input_json_delta``: the input streams
#: in fragments, as Anthropic's does, which clients must join.
JSON_FRAGMENT = 16
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": an.ErrorResponse, "description": description}
    for status, description in [
        (400, "Invalid request"),
        (401, "Missing or wrong API key"),
        (404, "No such route"),
        (413, "Body too large"),
        (500, "Injected fault (fail_after_chunks, error_rate)"),
    ]
}
STREAM_RESPONSE = {
    "description": (
        "With `stream: true`: Server-Sent Events, each an `event: <type>` line"
        " and a `data:` JSON object of that type (see StreamEvent):"
        " `message_start`, `ping`, per content block `content_block_start`,"
        " `content_block_delta`s and `content_block_stop`, then `message_delta`"
        " and `message_stop`; `event: error` ends a stream that fails after"
        " it started."
    ),
    "content": {
        "text/event-stream": {"schema": {"$ref": "#/components/schemas/StreamEvent"}}
    },
}
STOP_REASONS = {"length": "max_tokens", "tool_calls": "tool_use"}
#: Request examples for ``/docs`` (and for schemathesis to start from).
EXAMPLES: dict[str, dict[str, Any]] = {
    "echo": {
        "summary": "Echo the last message",
        "value": {
            "model": "claude-echo",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Hello, echo!"}],
        },
    },
    "tools": {
        "summary": "Stream a tool call, with echo options",
        "value": {
            "model": "claude-echo",
            "max_tokens": 100,
            "stream": True,
            "stop_sequences": ["!"],
            "tools": [
                {
                    "name": "add",
                    "description": "Add two integers.",
                    "input_schema": {
                        "type": "object",
                        "properties": {
                            "a": {"type": "integer"},
                            "b": {"type": "integer"},
                        },
                        "required": ["a", "b"],
                    },
                }
            ],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "add(2, 3)"}]}
            ],
            "echo": {"token_delay": 0.001},
        },
    },
}


def add_anthropic_routes(
    app: FastAPI,
    configurable: Runnable,
    *,
    limits: Limits,
    guards: Sequence[DependsParam],
) -> None:
    """Serve Anthropic's Messages API at ``/v1/messages`` on ``app``.

    Adds the routes (behind ``guards``); the app gives other refusals on these
    paths Anthropic's shape (``error_shapes.ErrorShapes`` with
    ``anthropic_errors.reshape_detail``).

    Args:
        app: The app.
        configurable: The configurable model LangServe serves
            (``runnables.configurable_model``): its default model, with the
            server's defaults, answers; its configurable fields' rules check
            the per-request ``echo`` options.
        limits: The server's request limits.
        guards: Dependencies every route needs (the API-key check).
    """
    adapter = AnthropicAdapter(*served_model_parts(configurable, limits), limits)
    app.include_router(adapter.router(guards))


class AnthropicAdapter:
    """Turns Anthropic requests into generation requests, and replies back."""

    def __init__(
        self, generator: Generator, options: SimulationOptions, limits: Limits
    ) -> None:
        self.generator = generator
        self.options = options
        self.limits = limits

    def router(self, guards: Sequence[DependsParam]) -> APIRouter:
        """Return the ``/v1/messages`` routes."""
        router = APIRouter(
            prefix="/v1",
            tags=["anthropic"],
            dependencies=list(guards),
            route_class=AnthropicRoute,
        )
        router.add_api_route(
            "/messages",
            self.messages,
            methods=["POST"],
            response_model=an.MessageResponse,
            responses={**ERRORS, 200: STREAM_RESPONSE},
            summary="Create a message",
        )
        router.add_api_route(
            "/messages/count_tokens",
            self.count_tokens,
            methods=["POST"],
            response_model=an.TokenCount,
            responses=ERRORS,
            summary="Count the input tokens of a message",
        )
        return router

    # --- Routes ---------------------------------------------------------------

    async def messages(
        self,
        body: Annotated[an.MessagesRequest, Body(openapi_examples=EXAMPLES)],
        request: Request,
    ) -> Response:
        """Echo the last message, in Anthropic's ``message`` shape.

        With ``stream: true`` the reply is Anthropic's typed Server-Sent
        Events. The echo options ride in ``echo`` (the SDK's ``extra_body``).
        The ``anthropic-version`` and ``anthropic-beta`` headers are accepted
        and change nothing.
        """
        failed = count_request(request, PROTOCOL, body.model)
        try:
            generation_request = await self._generation_request(body, request)
            if body.stream:
                return await self._stream(generation_request, failed)
            generation = await self.generator.generate(generation_request)
        except InvalidRequest as error:
            failed()
            return error_response(error.message)
        except EchoFaultError as error:
            failed()
            return json_response(_fault_body(error), status_code=500)
        except FaultAnswered:  # the echo.fault option's status or context refusal
            failed()
            raise
        return json_response(message(generation, _message_id()))

    async def count_tokens(
        self, body: an.CountTokensRequest, request: Request
    ) -> Response:
        """Count the input tokens a message with this input would report."""
        try:
            messages = self._messages(body)
        except InvalidRequest as error:
            return error_response(error.message)
        tokens = self.generator.input_tokens(GenerationRequest(messages=messages))
        return json_response({"input_tokens": tokens})

    # --- Request -> generation request -------------------------------------------

    def _messages(self, body: an._Input) -> list[BaseMessage]:
        if len(body.messages) > self.limits.max_messages:
            msg = f"messages: at most {self.limits.max_messages} messages here"
            raise InvalidRequest(msg, "messages")
        return to_langchain(body.system, body.messages)

    async def _generation_request(
        self, body: an.MessagesRequest, request: Request
    ) -> GenerationRequest:
        messages = self._messages(body)
        stop = body.stop_sequences
        if stop is not None:
            self._check_stop_sequences(stop)
        tools = [_openai_tool(tool) for tool in body.tools or ()]
        choice = body.tool_choice
        tool_choice: str | None = None
        parallel = True
        if isinstance(choice, an.ToolChoiceTool):
            tool_choice = choice.name
        elif choice is not None:
            tool_choice = choice.type
        if choice is not None and not isinstance(choice, an.ToolChoiceNone):
            parallel = not choice.disable_parallel_tool_use
        response_format = None
        if body.output_config is not None and body.output_config.format is not None:
            schema = body.output_config.format.schema_
            response_format = {"type": "json_schema", "json_schema": {"schema": schema}}
        return GenerationRequest(
            messages=messages,
            model=body.model,
            max_tokens=body.max_tokens,
            stop=stop,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            options=await self.options.validate(body.echo, request, "echo"),
            parallel_tool_calls=parallel,
        )

    def _check_stop_sequences(self, stop: list[str]) -> None:
        limits = self.limits
        if len(stop) > limits.max_stop_sequences:
            msg = f"stop_sequences: at most {limits.max_stop_sequences} sequences here"
            raise InvalidRequest(msg, "stop_sequences")
        for index, sequence in enumerate(stop):
            if len(sequence) > limits.max_stop_length:
                msg = (
                    f"stop_sequences.{index}: at most {limits.max_stop_length}"
                    " characters here"
                )
                raise InvalidRequest(msg, f"stop_sequences.{index}")

    # --- Streaming ---------------------------------------------------------------

    async def _stream(
        self, generation_request: GenerationRequest, failed: Callable[[], None]
    ) -> Response:
        events = aiter(self.generator.stream(generation_request))
        # The first event before the response starts: a fault injected before
        # the first chunk is then an ordinary error reply, as Anthropic's is.
        first = await anext(events)
        frames = sse_frames(
            first,
            events,
            message_id=_message_id(),
            model=generation_request.model or self.generator.model.model_name,
            input_tokens=self.generator.input_tokens(generation_request),
            on_fault=failed,
        )
        return event_stream(frames)


# --- Anthropic messages -> LangChain messages ------------------------------------


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


def _openai_tool(tool: an.Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.input_schema}
    if tool.description is not None:
        function["description"] = tool.description
    return {"type": "function", "function": function}


# --- Generation -> Anthropic responses -------------------------------------------


def message(generation: Generation, message_id: str) -> dict[str, Any]:
    """Return the ``message`` body of ``generation``."""
    finish = generation.finish
    content: list[dict[str, Any]] = []
    if generation.text:
        content.append({"type": "text", "text": generation.text})
    content.extend(_tool_use(call) for call in generation.tool_calls)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": finish.model,
        "content": content,
        "stop_reason": stop_reason(finish),
        "stop_sequence": finish.stop_sequence,
        "usage": usage(finish.input_tokens, finish.output_tokens),
    }


def stop_reason(finish: Finish) -> str:
    """Anthropic's ``stop_reason`` for how the model's reply ended."""
    if finish.finish_reason in STOP_REASONS:
        return STOP_REASONS[finish.finish_reason]
    return "stop_sequence" if finish.stop_sequence is not None else "end_turn"


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    """Anthropic's usage object from the model's counts (nothing is cached)."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def tool_use_id(call_id: str) -> str:
    """The ``tool_use`` id of the model's call id: ``call_x`` is ``toolu_x``."""
    return "toolu_" + call_id.removeprefix("call_")


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": tool_use_id(call.id),
        "name": call.name,
        "input": orjson.loads(call.arguments) if call.error is None else {},
    }


async def sse_frames(
    first: StreamEvent,
    events: AsyncIterator[StreamEvent],
    *,
    message_id: str,
    model: str,
    input_tokens: int,
    on_fault: Callable[[], None] = lambda: None,
) -> AsyncIterator[bytes]:
    """Yield a stream's events in Anthropic's order, ``event:`` and ``data:`` each.

    ``message_start`` (the message with no content yet, and its input tokens),
    ``ping``, then per content block (the text, then each tool call) its
    ``content_block_start``, deltas (``text_delta`` per model chunk;
    ``input_json_delta`` fragments of a tool call's input) and
    ``content_block_stop``, then ``message_delta`` (the stop reason, the stop
    sequence and the whole usage) and ``message_stop``. A fault after the
    stream started ends it with ``event: error`` instead (and ``on_fault`` is
    called).
    """
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage(input_tokens, 0),
    }
    yield _event("message_start", {"type": "message_start", "message": start})
    yield _event("ping", {"type": "ping"})
    # Text deltas are the hot path: the frame around the text is made once.
    before = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta",'
        b'"index":0,"delta":{"type":"text_delta","text":'
    )
    after = b"}}\n\n"
    blocks = 0  # content blocks started
    text_open = False
    event: StreamEvent | None = first
    try:
        while event is not None:
            if isinstance(event, TextDelta):
                if not text_open:
                    text_open, blocks = True, blocks + 1
                    yield _block_start(0, {"type": "text", "text": ""})
                yield before + orjson.dumps(event.text) + after
            elif isinstance(event, ToolCall):
                if text_open:
                    text_open = False
                    yield _block_stop(0)
                for frame in _tool_use_frames(blocks, event):
                    yield frame
                blocks += 1
            else:
                if text_open:
                    yield _block_stop(0)
                delta = {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": stop_reason(event),
                        "stop_sequence": event.stop_sequence,
                    },
                    "usage": usage(event.input_tokens, event.output_tokens),
                }
                yield _event("message_delta", delta)
                yield _event("message_stop", {"type": "message_stop"})
                return
            event = await anext(events, None)
    except EchoFaultError as error:
        on_fault()
        yield _event("error", _fault_body(error))


def _tool_use_frames(index: int, call: ToolCall) -> list[bytes]:
    block = {**_tool_use(call), "input": {}}
    arguments = call.arguments if call.error is None else "{}"
    frames = [_block_start(index, block)]
    # Anthropic's streams open a tool's input with an empty fragment.
    for offset in range(-JSON_FRAGMENT, len(arguments), JSON_FRAGMENT):
        fragment = arguments[max(offset, 0) : offset + JSON_FRAGMENT]
        delta = {"type": "input_json_delta", "partial_json": fragment}
        frames.append(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        )
    frames.append(_block_stop(index))
    return frames


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    return _event(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def _block_stop(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


# --- Small helpers ---------------------------------------------------------------


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def _fault_body(error: EchoFaultError) -> dict[str, Any]:
    return error_body(f"echo-model injected fault: {error}", status=500)
