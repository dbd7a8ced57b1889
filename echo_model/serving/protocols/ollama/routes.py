"""Ollama's API over the echo model, at ``/api``.

Routes only: the wire request becomes a ``GenerationRequest`` (LangChain
messages, the model's options), the shared backend runs the model, and the
reply comes back in Ollama's shapes (``frames``): NDJSON lines by default
(Ollama streams unless ``"stream": false``), one object otherwise. The echo,
stop sequences, tool calls and token counts are the model's; embeddings are
``EchoEmbeddings``' (``echo_model.embeddings.embed_text``).

Ollama's ``options`` hold its model parameters: ``num_predict`` caps the
reply, ``stop`` ends it; the rest are accepted and change nothing. The echo
options (delays, faults, ...) ride in ``options.echo``, the one place both
``ChatOllama`` and the ``ollama`` client pass through unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from starlette.responses import Response

from echo_model import __version__
from echo_model.embeddings import DEFAULT_DIMENSIONS, count_tokens, embed_text
from echo_model.engine import DEFAULT_ENGINE
from echo_model.serving.core.fault_middleware import (
    decide_fault,
)
from echo_model.serving.core.fixtures import fixture_call
from echo_model.serving.core.generation import (
    Generation,
    GenerationRequest,
)
from echo_model.serving.core.http import NDJSON, json_response, validation_route
from echo_model.serving.core.options import InvalidRequest, check_stop
from echo_model.serving.core.protocol import ServingContext
from echo_model.serving.core.replies import ModelRoutes
from echo_model.serving.core.stream import stream_reply
from echo_model.serving.protocols.ollama import schemas as ol
from echo_model.serving.protocols.ollama.errors import (
    error_response,
    validation_error_response,
)
from echo_model.serving.protocols.ollama.frames import (
    LineWriter,
    Timings,
    chat_reply,
    fault_body,
    generate_reply,
    load_reply,
    rfc3339,
)
from echo_model.serving.protocols.ollama.messages import to_langchain, user_content

PROTOCOL = "ollama"  # the metrics' protocol label
MODEL_REQUIRED = "model is required"  # Ollama's own words
#: How long ``/api/ps`` says the model stays loaded: Ollama's default keep_alive.
KEEP_ALIVE = timedelta(minutes=5)
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ol.ErrorResponse, "description": description}
    for status, description in [
        (400, "Invalid request (a missing model: 'model is required')"),
        (401, "Missing or wrong API key"),
        (413, "Body too large"),
        (500, "Injected fault (fail_after_chunks, error_rate)"),
    ]
}


def json_bodies(route_class: type[APIRoute]) -> type[APIRoute]:
    """Return ``route_class`` reading every body as JSON, whatever its media type.

    Ollama's server does, and its documented ``curl ... -d '{...}'`` sends
    ``application/x-www-form-urlencoded``; FastAPI parses JSON only when the
    request says it is JSON.
    """

    class JsonBodyRoute(route_class):  # type: ignore[valid-type,misc]
        # A body the fast path takes is already typed JSON (``core.fast_path``).
        SAME_ON_FAST_PATH = getattr(route_class, "SAME_ON_FAST_PATH", False)

        def get_route_handler(
            self,
        ) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def handler(request: Request) -> Response:
                headers = request.scope["headers"]
                headers[:] = [(k, v) for k, v in headers if k != b"content-type"]
                headers.append((b"content-type", b"application/json"))
                return await handle(request)

            return handler

    return JsonBodyRoute


def _stream_response(schema: str) -> dict[str, Any]:
    return {
        "description": (
            f"By default (`stream` not false): NDJSON, one {schema} a line, the"
            ' last with `done: true`; an `{"error": "..."}` line ends a stream'
            " that fails after it started."
        ),
        "content": {
            NDJSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}},
        },
    }


class OllamaRoutes(ModelRoutes):
    """The ``/api`` routes: Ollama requests to generation requests, and replies back.

    Args:
        context: What the server serves with (model, limits, metrics, guards).
    """

    def __init__(self, context: ServingContext) -> None:
        super().__init__(
            context, lambda error: error_response(error.message), fault_body
        )
        self.clock = (context.model.engine or DEFAULT_ENGINE).clock
        self.modified_at = rfc3339(datetime.now(UTC))

    def router(self) -> APIRouter:
        """Return the ``/api`` routes, answering bad bodies in Ollama's shape."""
        router = APIRouter(
            prefix="/api",
            tags=["ollama"],
            dependencies=self.guards,
            route_class=json_bodies(
                validation_route(
                    validation_error_response,
                    lambda: self.metrics.record_request(PROTOCOL, error=True),
                )
            ),
        )
        post, get = ["POST"], ["GET"]
        routes: list[tuple[str, Callable[..., Any], list[str], Any, Any, str]]
        routes = [
            ("/chat", self.chat, post, ol.ChatResponse,
             {**ERRORS, 200: _stream_response("ChatResponse")}, "Chat"),
            ("/generate", self.generate, post, ol.GenerateResponse,
             {**ERRORS, 200: _stream_response("GenerateResponse")}, "Generate"),
            ("/embed", self.embed, post, ol.EmbedResponse, ERRORS, "Embed"),
            ("/embeddings", self.embeddings, post, ol.EmbeddingsResponse, ERRORS,
             "Embed one prompt (legacy)"),
            ("/tags", self.tags, get, ol.TagsResponse, ERRORS, "List models"),
            ("/show", self.show, post, ol.ShowResponse, ERRORS, "Show a model"),
            ("/ps", self.ps, get, ol.PsResponse, ERRORS, "List running models"),
            ("/version", self.version, get, ol.VersionResponse, ERRORS, "Version"),
        ]  # fmt: skip
        for path, handler, methods, model, responses, summary in routes:
            router.add_api_route(
                path,
                handler,
                methods=methods,
                response_model=model,
                responses=responses,
                summary=summary,
            )
        return router

    # --- Generation -------------------------------------------------------------

    async def chat(self, body: ol.ChatRequest, request: Request) -> Response:
        """Answer the conversation: echo its last message, Ollama's way.

        Streams NDJSON unless ``stream`` is false; tool calls come with their
        arguments as an object. No messages: the model "loads" (``done_reason:
        "load"``), as Ollama answers.
        """
        return await self._run(
            request,
            body.model,
            lambda: [*to_langchain(body.messages or ())],
            body,
            chat=True,
        )

    async def generate(self, body: ol.GenerateRequest, request: Request) -> Response:
        """Answer a prompt (and ``system``): echo the prompt, in ``response``.

        ``suffix``, ``raw``, ``template`` and ``context`` are accepted and
        change nothing. No prompt: the model "loads", as Ollama answers.
        """

        def messages() -> list[BaseMessage]:
            if not body.prompt and not body.images:
                return []
            system = [SystemMessage(content=body.system)] if body.system else []
            content = user_content(body.prompt or "", body.images)
            return [*system, HumanMessage(content=content)]

        return await self._run(request, body.model, messages, body, chat=False)

    async def _run(
        self,
        request: Request,
        model: str | None,
        messages: Any,
        body: ol.ChatRequest | ol.GenerateRequest,
        *,
        chat: bool,
    ) -> Response:
        failed = self.metrics.count_request(PROTOCOL)

        async def work() -> Response:
            if not model:
                raise InvalidRequest(MODEL_REQUIRED, "model")
            converted: list[BaseMessage] = messages()
            generation_request = self._generation_request(
                body, model, converted, request
            )
            # Checked: now the request's fault is decided, before any work.
            await decide_fault(request, generation_request.options.get("fault"))
            if not converted:
                return json_response(load_reply(model, chat))
            timings = Timings.begin(self.clock)
            if body.stream is not False:
                writer = LineWriter(
                    model=model,
                    timings=timings,
                    chat=chat,
                    expected_ttft=self._ttft(generation_request, 0),
                )
                return await stream_reply(
                    self.backend, generation_request, writer, failed, NDJSON
                )
            generation = await self.backend.generate(generation_request)
            return json_response(
                self._whole(generation, generation_request, timings, chat)
            )

        return await self.replies.answer(work, failed)

    def _whole(
        self,
        generation: Generation,
        request: GenerationRequest,
        timings: Timings,
        chat: bool,
    ) -> dict[str, Any]:
        ttft = self._ttft(request, generation.finish.input_tokens)
        durations = timings.durations(ttft)
        return (
            chat_reply(generation, durations)
            if chat
            else generate_reply(generation, durations)
        )

    def _ttft(self, request: GenerationRequest, prompt_tokens: int) -> float:
        """Where the model's latency rule puts the first token (its mean)."""
        options, model = request.options, self.backend.model
        prefill = options.get("prefill_per_token", model.prefill_per_token)
        first = options.get("first_token_delay", model.first_token_delay)
        return float(prefill or 0) * prompt_tokens + float(first or 0)

    def _generation_request(
        self,
        body: ol.ChatRequest | ol.GenerateRequest,
        model: str,
        messages: list[BaseMessage],
        request: Request,
    ) -> GenerationRequest:
        scripted = fixture_call(request.headers)
        if len(messages) > self.limits.max_messages:
            msg = f"'messages' holds at most {self.limits.max_messages} messages here"
            raise InvalidRequest(msg, "messages")
        options = body.options or {}
        echo = self.options.check(options.get("echo"), "options.echo")
        stop = options.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        if stop is not None and not (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop)
        ):
            msg = "invalid 'options.stop': a string or a list of strings"
            raise InvalidRequest(msg, "options.stop")
        check_stop(stop, self.limits, "options.stop")
        num_predict = options.get("num_predict")
        if num_predict is not None and (
            isinstance(num_predict, bool) or not isinstance(num_predict, int)
        ):
            msg = "invalid 'options.num_predict': an integer"
            raise InvalidRequest(msg, "options.num_predict")
        tools = body.tools if isinstance(body, ol.ChatRequest) else None
        return GenerationRequest(
            messages=messages,
            model=model,
            # Ollama: -1 generates without end, -2 fills the context.
            max_tokens=num_predict if num_predict and num_predict > 0 else None,
            stop=stop,
            tools=[tool.model_dump(exclude_none=True) for tool in tools or ()],
            response_format=_response_format(body.format),
            options=echo,
            context=scripted.context,
            strict=scripted.strict,
        )

    # --- Embeddings -------------------------------------------------------------

    async def embed(self, body: ol.EmbedRequest, request: Request) -> Response:
        """Embed ``input`` (a text or a list) with ``EchoEmbeddings``' scheme."""
        failed = self.metrics.count_request(PROTOCOL)

        async def work() -> Response:
            if not body.model:
                raise InvalidRequest(MODEL_REQUIRED, "model")
            # An empty text alone is no input, as Ollama reads it.
            texts = body.input if isinstance(body.input, list) else [body.input]
            if isinstance(body.input, str):
                texts = [text for text in texts if text]
            if len(texts) > self.limits.max_batch:
                msg = f"'input' holds at most {self.limits.max_batch} texts here"
                raise InvalidRequest(msg, "input")
            await decide_fault(request, None)
            timings = Timings.begin(self.clock)
            dimensions = body.dimensions or DEFAULT_DIMENSIONS
            embeddings = [embed_text(text, dimensions) for text in texts]
            durations = timings.durations()
            return json_response(
                {
                    "model": body.model,
                    "embeddings": embeddings,
                    "total_duration": durations["total_duration"],
                    "load_duration": durations["load_duration"],
                    "prompt_eval_count": sum(count_tokens(text) for text in texts),
                }
            )

        return await self.replies.answer(work, failed)

    async def embeddings(
        self, body: ol.EmbeddingsRequest, request: Request
    ) -> Response:
        """Embed ``prompt`` (the legacy route): ``{"embedding": [...]}``."""
        failed = self.metrics.count_request(PROTOCOL)

        async def work() -> Response:
            if not body.model:
                raise InvalidRequest(MODEL_REQUIRED, "model")
            await decide_fault(request, None)
            embedding = embed_text(body.prompt) if body.prompt else []
            return json_response({"embedding": embedding})

        return await self.replies.answer(work, failed)

    # --- Models -----------------------------------------------------------------

    async def tags(self) -> Response:
        """List the served model, as ``name:tag`` (any name is answered by it)."""
        name = _tagged(self.backend.model.model_name)
        entry = {"name": name, "model": name, "modified_at": self.modified_at}
        return json_response({"models": [{**entry, **self._facts(name)}]})

    async def show(self, body: ol.ShowRequest) -> Response:
        """Describe a model: every name is served, by the echo model."""
        model = body.model or body.name
        if not model:
            return error_response(MODEL_REQUIRED)
        return json_response(
            {
                "modelfile": f"# echo-model {__version__}\nFROM {model}\n",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": _DETAILS,
                "model_info": {
                    "general.architecture": "echo",
                    "general.parameter_count": 0,
                    "echo.context_length": self._context_length(),
                    "echo.embedding_length": DEFAULT_DIMENSIONS,
                },
                "capabilities": ["completion", "tools", "vision", "embedding"],
                "modified_at": self.modified_at,
            }
        )

    async def ps(self) -> Response:
        """The served model, as loaded (it always is)."""
        name = _tagged(self.backend.model.model_name)
        expires = rfc3339(datetime.now(UTC) + KEEP_ALIVE)
        entry = {"name": name, "model": name, **self._facts(name)}
        running = {
            **entry,
            "expires_at": expires,
            "size_vram": 0,
            "context_length": self._context_length(),
        }
        return json_response({"models": [running]})

    async def version(self) -> Response:
        """The server's version (echo-model's, not an Ollama release)."""
        return json_response({"version": __version__})

    def _facts(self, name: str) -> dict[str, Any]:
        digest = hashlib.sha256(name.encode()).hexdigest()
        return {"size": 0, "digest": digest, "details": _DETAILS}

    def _context_length(self) -> int:
        # No prompt is longer than the largest body: a token is a character.
        return self.limits.max_body_bytes


_DETAILS = {
    "parent_model": "",
    "format": "echo",
    "family": "echo",
    "families": ["echo"],
    "parameter_size": "0",
    "quantization_level": "none",
}


def _tagged(name: str) -> str:
    """``name:latest`` unless the name has its tag (Ollama's ``model:tag``)."""
    return name if ":" in name else f"{name}:latest"


def _response_format(fmt: Any) -> dict[str, Any] | None:
    """The model's ``response_format`` for Ollama's ``format``."""
    if fmt == "json":
        return {"type": "json_object"}
    if isinstance(fmt, dict):
        return {"type": "json_schema", "json_schema": {"name": "format", "schema": fmt}}
    return None
