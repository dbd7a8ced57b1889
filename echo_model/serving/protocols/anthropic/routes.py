"""Anthropic's Messages API over the echo model, at ``/v1/messages``.

Routes only: the wire request becomes a ``GenerationRequest`` (LangChain
messages, the model's options), the shared backend runs the model, and the
reply comes back in Anthropic's shapes (``frames``). The echo, stop
sequences, tool calls and token counts are the model's.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from echo_model.serving.core.fault_middleware import (
    decide_fault,
)
from echo_model.serving.core.fixtures import fixture_call
from echo_model.serving.core.generation import (
    GenerationRequest,
)
from echo_model.serving.core.http import json_response, validation_route
from echo_model.serving.core.options import InvalidRequest, check_stop
from echo_model.serving.core.protocol import ServingContext
from echo_model.serving.core.replies import ModelRoutes
from echo_model.serving.core.stream import stream_reply
from echo_model.serving.protocols.anthropic import schemas as an
from echo_model.serving.protocols.anthropic.errors import (
    error_response,
    validation_error_response,
)
from echo_model.serving.protocols.anthropic.frames import (
    EventWriter,
    fault_body,
    message,
)
from echo_model.serving.protocols.anthropic.messages import openai_tool, to_langchain

PROTOCOL = "anthropic"  # the metrics' protocol label
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


class AnthropicRoutes(ModelRoutes):
    """The ``/v1/messages`` routes: Anthropic requests to generation requests, and back.

    Args:
        context: What the server serves with (model, limits, metrics, guards).
    """

    def __init__(self, context: ServingContext) -> None:
        super().__init__(
            context, lambda error: error_response(error.message), fault_body
        )

    def router(self) -> APIRouter:
        """Return the ``/v1/messages`` routes; bad bodies get Anthropic's shape."""
        router = APIRouter(
            prefix="/v1",
            tags=["anthropic"],
            dependencies=self.guards,
            route_class=validation_route(
                validation_error_response,
                lambda: self.metrics.record_request(PROTOCOL, error=True),
            ),
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
        failed = self.metrics.count_request(PROTOCOL)

        async def work() -> Response:
            generation_request = self._generation_request(body, request)
            # Checked: now the request's fault is decided, before any work.
            await decide_fault(request, generation_request.options.get("fault"))
            if body.stream:
                writer = EventWriter(
                    message_id=_message_id(),
                    model=body.model,
                    input_tokens=self.backend.input_tokens(generation_request),
                )
                return await stream_reply(
                    self.backend, generation_request, writer, failed
                )
            generation = await self.backend.generate(generation_request)
            return json_response(message(generation, _message_id()))

        return await self.replies.answer(work, failed)

    async def count_tokens(self, body: an.CountTokensRequest) -> Response:
        """Count the input tokens a message with this input would report."""
        try:
            messages = self._messages(body)
        except InvalidRequest as error:
            return error_response(error.message)
        tokens = self.backend.input_tokens(GenerationRequest(messages=messages))
        return json_response({"input_tokens": tokens})

    # --- Request -> generation request ----------------------------------------

    def _messages(self, body: an._Input) -> list[Any]:
        if len(body.messages) > self.limits.max_messages:
            msg = f"messages: at most {self.limits.max_messages} messages here"
            raise InvalidRequest(msg, "messages")
        return to_langchain(body.system, body.messages)

    def _generation_request(
        self, body: an.MessagesRequest, request: Request
    ) -> GenerationRequest:
        scripted = fixture_call(request.headers)
        messages = self._messages(body)
        stop = body.stop_sequences
        check_stop(stop, self.limits, "stop_sequences")
        tools = [openai_tool(tool) for tool in body.tools or ()]
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
            options=self.options.check(body.echo, "echo"),
            context=scripted.context,
            strict=scripted.strict,
            parallel_tool_calls=parallel,
        )


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"
