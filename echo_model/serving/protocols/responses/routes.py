"""OpenAI's Responses API over the echo model, at ``/v1/responses``.

Routes only: the wire request becomes a ``GenerationRequest`` (LangChain
messages, the model's options), the shared backend runs the model, and the
reply comes back in the Responses API's shapes (``frames``). The echo, stop
sequences, tool calls, structured output and token counts are the model's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from echo_model.serving.core.fault_middleware import (
    decide_fault,
)
from echo_model.serving.core.fixtures import fixture_call
from echo_model.serving.core.generation import (
    GenerationRequest,
)
from echo_model.serving.core.http import json_response, validation_route
from echo_model.serving.core.options import InvalidRequest
from echo_model.serving.core.protocol import ServingContext
from echo_model.serving.core.replies import ModelRoutes
from echo_model.serving.core.stream import stream_reply
from echo_model.serving.protocols.responses import schemas as rs
from echo_model.serving.protocols.responses.errors import (
    error_response,
    validation_error_response,
)
from echo_model.serving.protocols.responses.frames import (
    ReplyHead,
    ResponseWriter,
    fault_body,
    request_fields,
    response,
)
from echo_model.serving.protocols.responses.messages import to_langchain

PROTOCOL = "responses"  # the metrics' protocol label
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": rs.ErrorResponse, "description": description}
    for status, description in [
        (400, "Invalid request"),
        (401, "Missing or wrong API key"),
        (413, "Body too large"),
        (500, "Injected fault (fail_after_chunks, error_rate)"),
    ]
}
STREAM_RESPONSE = {
    "description": (
        "With `stream: true`: Server-Sent Events, each `event: <type>` with"
        " `data: {type, sequence_number, ...}`: `response.created`,"
        " `response.in_progress`, the output items' events, then"
        " `response.completed` (or `response.incomplete`) carrying the whole"
        " response; `response.failed` ends a stream that fails after it started."
    ),
    "content": {
        "text/event-stream": {"schema": {"$ref": "#/components/schemas/StreamEvent"}}
    },
}


class ResponsesRoutes(ModelRoutes):
    """``POST /v1/responses``: Responses requests to generation requests, and back.

    Args:
        context: What the server serves with (model, limits, metrics, guards).
    """

    def __init__(self, context: ServingContext) -> None:
        super().__init__(
            context,
            lambda error: error_response(
                error.message, param=error.param, code=error_code(error)
            ),
            fault_body,
        )

    def router(self) -> APIRouter:
        """Return the route, answering bad bodies in OpenAI's shape."""
        router = APIRouter(
            prefix="/v1",
            tags=["openai responses"],
            dependencies=self.guards,
            route_class=validation_route(
                validation_error_response,
                lambda: self.metrics.record_request(PROTOCOL, error=True),
            ),
        )
        router.add_api_route(
            "/responses",
            self.create,
            methods=["POST"],
            response_model=rs.Response,
            responses={**ERRORS, 200: STREAM_RESPONSE},
            summary="Create a model response",
        )
        return router

    async def create(
        self, body: rs.CreateResponseRequest, request: Request
    ) -> Response:
        """Echo the last input item, in the Responses API's ``response`` shape.

        With ``stream: true`` the reply is Server-Sent Events ending with
        ``response.completed`` (or ``response.incomplete``). The echo options
        ride in ``echo`` (the SDK's ``extra_body``).
        """
        failed = self.metrics.count_request(PROTOCOL)

        async def work() -> Response:
            generation_request = self.generation_request(body, request)
            # Checked: now the request's fault is decided, before any work.
            await decide_fault(request, generation_request.options.get("fault"))
            head = ReplyHead(reported(body))
            if body.stream:
                return await stream_reply(
                    self.backend, generation_request, ResponseWriter(head), failed
                )
            generation = await self.backend.generate(generation_request)
            return json_response(response(head, generation))

        return await self.replies.answer(work, failed)

    def generation_request(
        self, body: rs.CreateResponseRequest, request: Request
    ) -> GenerationRequest:
        """Return what ``body`` asks of the model, or refuse it (``InvalidRequest``).

        The request's headers choose its fixture context and strictness
        (``X-Echo-Context``, ``X-Echo-Strict``).
        """
        scripted = fixture_call(request.headers)
        if body.previous_response_id is not None:
            # Nothing is stored here: OpenAI's answer for an id it does not hold.
            msg = (
                f"Previous response with id '{body.previous_response_id}' not found:"
                " this server stores no responses; send the whole conversation"
                " in 'input'."
            )
            raise InvalidRequest(msg, "previous_response_id")
        if not isinstance(body.input, str):
            if not body.input:
                raise InvalidRequest("'input' holds no items", "input")
            if len(body.input) > self.limits.max_messages:
                msg = f"'input' holds at most {self.limits.max_messages} items here"
                raise InvalidRequest(msg, "input")
        tools = [
            {
                "type": "function",
                "function": tool.model_dump(exclude={"type"}, exclude_none=True),
            }
            for tool in body.tools or ()
        ]
        choice = body.tool_choice
        tool_choice = choice.name if isinstance(choice, rs.NamedToolChoice) else choice
        text_format = body.text.format if body.text else None
        response_format = None
        if isinstance(text_format, rs.JsonSchemaFormat):
            spec = text_format.model_dump(
                by_alias=True, exclude={"type"}, exclude_none=True
            )
            response_format = {"type": "json_schema", "json_schema": spec}
        elif isinstance(text_format, rs.JsonObjectFormat):
            response_format = {"type": "json_object"}
        return GenerationRequest(
            messages=to_langchain(body),
            model=body.model,
            max_tokens=body.max_output_tokens,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            options=self.options.check(body.echo, "echo"),
            parallel_tool_calls=body.parallel_tool_calls is not False,
            context=scripted.context,
            strict=scripted.strict,
        )


def error_code(error: InvalidRequest) -> str | None:
    """OpenAI's code for a refusal that has one."""
    return (
        "previous_response_not_found" if error.param == "previous_response_id" else None
    )


def reported(body: rs.CreateResponseRequest) -> dict[str, Any]:
    """The request's settings a response reports back."""
    choice = body.tool_choice
    text = body.text or rs.TextConfig()
    return request_fields(
        model=body.model,
        instructions=body.instructions,
        max_output_tokens=body.max_output_tokens,
        tools=[
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "strict": True if tool.strict is None else tool.strict,
            }
            for tool in body.tools or ()
        ],
        tool_choice=(
            choice.model_dump(include={"type", "name"})
            if isinstance(choice, rs.NamedToolChoice)
            else choice or "auto"
        ),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        text={
            "format": (
                text.format.model_dump(by_alias=True, exclude_none=True)
                if text.format is not None
                else {"type": "text"}
            ),
            "verbosity": text.verbosity or "medium",
        },
        reasoning=body.reasoning,
        metadata=body.metadata,
        temperature=body.temperature,
        top_p=body.top_p,
        truncation=body.truncation,
        user=body.user,
    )
