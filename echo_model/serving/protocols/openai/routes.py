"""OpenAI's Chat Completions API over the echo model, at ``/v1``.

Routes only: the wire request becomes a ``GenerationRequest`` (LangChain
messages, the model's options), the shared backend runs the model, and the
reply comes back in OpenAI's shapes (``frames``). The echo, stop sequences,
tool calls and token counts are the model's.
"""

from __future__ import annotations

import time
import uuid
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
from echo_model.serving.core.options import InvalidRequest, check_stop
from echo_model.serving.core.protocol import ServingContext
from echo_model.serving.core.replies import ModelRoutes
from echo_model.serving.core.stream import stream_reply
from echo_model.serving.protocols.openai import schemas as oa
from echo_model.serving.protocols.openai.embeddings import EmbeddingsRoute
from echo_model.serving.protocols.openai.errors import (
    error_response,
    validation_error_response,
)
from echo_model.serving.protocols.openai.frames import (
    ChunkWriter,
    completion,
    fault_body,
)
from echo_model.serving.protocols.openai.messages import to_langchain

PROTOCOL = "openai"  # the metrics' protocol label
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


class OpenAIRoutes(ModelRoutes):
    """The ``/v1`` routes: OpenAI requests to generation requests, and replies back.

    Args:
        context: What the server serves with (model, limits, metrics, guards).
    """

    def __init__(self, context: ServingContext) -> None:
        super().__init__(
            context,
            lambda error: error_response(error.message, param=error.param),
            fault_body,
        )
        self.created = int(time.time())

    def router(self) -> APIRouter:
        """Return the ``/v1`` routes, answering bad bodies in OpenAI's shape."""
        router = APIRouter(
            prefix="/v1",
            tags=["openai"],
            dependencies=self.guards,
            route_class=validation_route(
                validation_error_response,
                lambda: self.metrics.record_request(PROTOCOL, error=True),
            ),
        )
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
            "/embeddings",
            EmbeddingsRoute(self.limits, self.metrics, PROTOCOL, self.replies).embed,
            methods=["POST"],
            response_model=oa.EmbeddingsResponse,
            responses=ERRORS,
            summary="Create embeddings",
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
        data = [self._model_object(self.backend.model.model_name)]
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
        failed = self.metrics.count_request(PROTOCOL)

        async def work() -> Response:
            generation_request = self._generation_request(body, request)
            # Checked: now the request's fault is decided, before any work.
            await decide_fault(request, generation_request.options.get("fault"))
            if body.stream:
                writer = ChunkWriter(
                    chunk_id=_completion_id(),
                    created=int(time.time()),
                    model=body.model,
                    choices=body.n or 1,
                    include_usage=bool(
                        body.stream_options and body.stream_options.include_usage
                    ),
                )
                return await stream_reply(
                    self.backend, generation_request, writer, failed
                )
            generation = await self.backend.generate(generation_request)
            return json_response(
                completion(generation, _completion_id(), int(time.time()), body.n or 1)
            )

        return await self.replies.answer(work, failed)

    # --- Request -> generation request ----------------------------------------

    def _generation_request(
        self, body: oa.ChatCompletionRequest, request: Request
    ) -> GenerationRequest:
        scripted = fixture_call(request.headers)
        if len(body.messages) > self.limits.max_messages:
            msg = f"'messages' holds at most {self.limits.max_messages} messages here"
            raise InvalidRequest(msg, "messages")
        stop = [body.stop] if isinstance(body.stop, str) else body.stop
        if stop is not None and len(stop) > MAX_STOP_SEQUENCES:
            msg = f"'stop' holds at most {MAX_STOP_SEQUENCES} sequences"
            raise InvalidRequest(msg, "stop")
        check_stop(stop, self.limits, "stop")
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
            options=self.options.check(body.echo, "echo"),
            context=scripted.context,
            strict=scripted.strict,
            parallel_tool_calls=body.parallel_tool_calls is not False,
        )

    def _model_object(self, model_id: str) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": self.created,
            "owned_by": "echo-model",
        }


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"
