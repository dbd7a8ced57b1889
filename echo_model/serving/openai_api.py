"""OpenAI's Chat Completions API over the echo model, at ``/v1``.

An adapter only: the wire request becomes a ``generation.GenerationRequest``
(LangChain messages, the model's options) and the ``Generation`` or stream
events come back in OpenAI's shapes. The echo, stop sequences, tool calls and
token counts are the model's (``generation`` runs it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends as DependsParam
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.runnables import Runnable
from starlette.responses import Response

from echo_model import __version__
from echo_model.chat_models import EchoFaultError
from echo_model.serving import openai_schemas as oa
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
from echo_model.serving.openai_errors import (
    error_body,
    error_response,
    validation_error_handler,
)
from echo_model.serving.wire import event_stream, json_response

PROTOCOL = "openai"  # the metrics' protocol label
SYSTEM_FINGERPRINT = f"fp_echo_{__version__}"
MAX_STOP_SEQUENCES = 4  # OpenAI's limit
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": oa.ErrorResponse, "description": description}
    for status, description in [
        (400, "Invalid request"),
        (401, "Missing or wrong API key"),
        (413, "Body too large"),
        (500, "Injected fault (fail_after_chunks, error_rate)"),
    ]
}
STREAM_RESPONSE = {
    "description": (
        "With `stream: true`: Server-Sent Events, each `data:` a"
        " `chat.completion.chunk` (see ChatCompletionChunk), then `data: [DONE]`;"
        ' `data: {"error": {...}}` ends a stream that fails after it started.'
    ),
    "content": {
        "text/event-stream": {
            "schema": {"$ref": "#/components/schemas/ChatCompletionChunk"}
        }
    },
}


def add_openai_routes(
    app: FastAPI,
    configurable: Runnable,
    *,
    limits: Limits,
    guards: Sequence[DependsParam],
) -> None:
    """Serve OpenAI's Chat Completions API at ``/v1`` on ``app``.

    Adds the routes (behind ``guards``) and the validation-error handler that
    answers ``/v1`` bodies in OpenAI's shape (other routes keep FastAPI's);
    the app gives other ``/v1`` refusals OpenAI's shape
    (``error_shapes.ErrorShapes`` with ``openai_errors.reshape_detail``).

    Args:
        app: The app.
        configurable: The configurable model LangServe serves
            (``runnables.configurable_model``): its default model, with the
            server's defaults, answers; its configurable fields' rules check
            the per-request ``echo`` options.
        limits: The server's request limits.
        guards: Dependencies every route needs (the API-key check).
    """
    adapter = OpenAIAdapter(*served_model_parts(configurable, limits), limits)
    app.include_router(adapter.router(guards))
    app.add_exception_handler(RequestValidationError, validation_error_handler)


class OpenAIAdapter:
    """Turns OpenAI requests into generation requests, and replies back."""

    def __init__(
        self, generator: Generator, options: SimulationOptions, limits: Limits
    ) -> None:
        self.generator = generator
        self.options = options
        self.limits = limits
        self.created = int(time.time())

    def router(self, guards: Sequence[DependsParam]) -> APIRouter:
        """Return the ``/v1`` routes."""
        router = APIRouter(prefix="/v1", tags=["openai"], dependencies=list(guards))
        router.add_api_route(
            "/models",
            self.list_models,
            methods=["GET"],
            response_model=oa.ModelList,
            responses=ERRORS,
            summary="List models",
        )
        router.add_api_route(
            "/models/{model_id:path}",
            self.get_model,
            methods=["GET"],
            response_model=oa.ModelObject,
            responses=ERRORS,
            summary="Retrieve a model",
        )
        router.add_api_route(
            "/chat/completions",
            self.chat_completions,
            methods=["POST"],
            response_model=oa.ChatCompletion,
            responses={**ERRORS, 200: STREAM_RESPONSE},
            summary="Create a chat completion",
        )
        return router

    # --- Routes ---------------------------------------------------------------

    async def list_models(self) -> Response:
        """List the served model (any name is answered by it)."""
        data = [self._model_object(self.generator.model.model_name)]
        return json_response({"object": "list", "data": data})

    async def get_model(self, model_id: str) -> Response:
        """Describe a model: every name is served, by the echo model."""
        return json_response(self._model_object(model_id))

    async def chat_completions(
        self, body: oa.ChatCompletionRequest, request: Request
    ) -> Response:
        """Echo the last message, in OpenAI's ``chat.completion`` shape.

        With ``stream: true`` the reply is Server-Sent Events of
        ``chat.completion.chunk``s ending with ``data: [DONE]``. The echo
        options ride in ``echo`` (the SDK's ``extra_body``).
        """
        failed = count_request(request, PROTOCOL, body.model)
        try:
            generation_request = await self._generation_request(body, request)
            if body.stream:
                return await self._stream(body, generation_request, failed)
            generation = await self.generator.generate(generation_request)
        except InvalidRequest as error:
            failed()
            return error_response(error.message, param=error.param)
        except EchoFaultError as error:
            failed()
            return _fault_response(error)
        except FaultAnswered:  # the echo.fault option's status or context refusal
            failed()
            raise
        return json_response(
            completion(generation, _completion_id(), int(time.time()), body.n or 1)
        )

    # --- Request -> generation request -----------------------------------------------

    async def _generation_request(
        self, body: oa.ChatCompletionRequest, request: Request
    ) -> GenerationRequest:
        if len(body.messages) > self.limits.max_messages:
            msg = f"'messages' holds at most {self.limits.max_messages} messages here"
            raise InvalidRequest(msg, "messages")
        stop = [body.stop] if isinstance(body.stop, str) else body.stop
        if stop is not None and len(stop) > MAX_STOP_SEQUENCES:
            msg = f"'stop' holds at most {MAX_STOP_SEQUENCES} sequences"
            raise InvalidRequest(msg, "stop")
        tools = [tool.model_dump(exclude_none=True) for tool in body.tools or ()]
        choice = body.tool_choice
        tool_choice = (
            choice.function.name if isinstance(choice, oa.NamedToolChoice) else choice
        )
        response_format = None
        if body.response_format is not None and body.response_format.type != "text":
            response_format = body.response_format.model_dump(
                by_alias=True, exclude_none=True
            )
        return GenerationRequest(
            messages=[to_langchain(m, i) for i, m in enumerate(body.messages)],
            model=body.model,
            max_tokens=(
                body.max_completion_tokens
                if body.max_completion_tokens is not None
                else body.max_tokens
            ),
            stop=stop,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            options=await self.options.validate(body.echo, request, "echo"),
            parallel_tool_calls=body.parallel_tool_calls is not False,
        )

    # --- Streaming ---------------------------------------------------------------

    async def _stream(
        self,
        body: oa.ChatCompletionRequest,
        generation_request: GenerationRequest,
        failed: Callable[[], None],
    ) -> Response:
        events = aiter(self.generator.stream(generation_request))
        # The first event before the response starts: a fault injected before
        # the first chunk is then an ordinary error reply, as OpenAI's would be.
        first = await anext(events)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        frames = sse_frames(
            first,
            events,
            chunk_id=_completion_id(),
            created=int(time.time()),
            model=body.model,
            choices=body.n or 1,
            include_usage=include_usage,
            failed=failed,
        )
        return event_stream(frames)

    def _model_object(self, model_id: str) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "echo-model",
        }


# --- OpenAI messages -> LangChain messages -----------------------------------------


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


# --- Generation -> OpenAI responses -------------------------------------------------


def completion(
    generation: Generation, completion_id: str, created: int, choices: int = 1
) -> dict[str, Any]:
    """Return the ``chat.completion`` body of ``generation``, ``choices`` times."""
    finish = generation.finish
    message: dict[str, Any] = {
        "role": "assistant",
        "content": generation.text if not generation.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if generation.tool_calls:
        message["tool_calls"] = [_tool_call(call) for call in generation.tool_calls]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": finish.model,
        "choices": [
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": finish.finish_reason,
            }
            for index in range(choices)
        ],
        "usage": usage(finish, choices),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def usage(finish: Finish, choices: int = 1) -> dict[str, Any]:
    """OpenAI's usage object from the model's counts (completions count per choice)."""
    completion_tokens = finish.output_tokens * choices
    return {
        "prompt_tokens": finish.input_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": finish.input_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


async def sse_frames(
    first: StreamEvent,
    events: AsyncIterator[StreamEvent],
    *,
    chunk_id: str,
    created: int,
    model: str,
    choices: int,
    include_usage: bool,
    failed: Callable[[], None] = lambda: None,
) -> AsyncIterator[bytes]:
    """Yield a stream's ``data:`` frames: OpenAI's chunk order, then ``[DONE]``.

    The first chunk of each choice carries ``role``; text deltas follow, one
    per model chunk; a tool call comes as a delta with its ``index``, ``id``,
    ``type`` and name, then one with its arguments; the last chunk of each
    choice has an empty delta and the ``finish_reason``. With
    ``include_usage`` every chunk has ``"usage": null`` and one more chunk,
    with no choices, carries the usage. A fault after the stream started
    ends it with ``data: {"error": {...}}`` instead (and no ``[DONE]``),
    and calls ``failed``.
    """
    head = orjson.dumps(
        {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "service_tier": "default",
        }
    )[:-1]
    tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
    # Text deltas are the hot path: the frame around the text is made once.
    before = [
        b"data: " + head + b',"choices":[{"index":%d,"delta":{"content":' % index
        for index in range(choices)
    ]
    after = b'},"logprobs":null,"finish_reason":null}]' + tail

    def frame(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {
            "index": index,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
        }
        return b"data: " + head + b',"choices":' + orjson.dumps([choice]) + tail

    for index in range(choices):
        yield frame(index, {"role": "assistant", "content": "", "refusal": None})
    event: StreamEvent | None = first
    try:
        while event is not None:
            if isinstance(event, TextDelta):
                text = orjson.dumps(event.text)
                for index in range(choices):
                    yield before[index] + text + after
            elif isinstance(event, ToolCall):
                call = event
                for index in range(choices):
                    yield frame(index, {"tool_calls": [_call_head(call)]})
                    yield frame(index, {"tool_calls": [_call_arguments(call)]})
            else:
                for index in range(choices):
                    yield frame(index, {}, event.finish_reason)
                if include_usage:
                    yield (
                        b"data: "
                        + head
                        + b',"choices":[],"usage":'
                        + orjson.dumps(usage(event, choices))
                        + b"}\n\n"
                    )
                yield b"data: [DONE]\n\n"
                return
            event = await anext(events, None)
    except EchoFaultError as error:
        failed()
        yield b"data: " + orjson.dumps(_fault_body(error)) + b"\n\n"


def _call_head(call: ToolCall) -> dict[str, Any]:
    return {
        "index": call.index,
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }


def _call_arguments(call: ToolCall) -> dict[str, Any]:
    return {"index": call.index, "function": {"arguments": call.arguments}}


# --- Small helpers ---------------------------------------------------------------


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _fault_body(error: EchoFaultError) -> dict[str, Any]:
    return error_body(
        f"echo-model injected fault: {error}",
        status=500,
        type_="server_error",
        code="injected_fault",
    )


def _fault_response(error: EchoFaultError) -> Response:
    return json_response(_fault_body(error), status_code=500)
