"""A protocol the core has never seen gets faults, error shapes and request ids
through its WireProtocol object alone: adding a protocol is adding a package."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from fastapi import APIRouter, FastAPI, Request
from langchain_core.messages import HumanMessage
from starlette.responses import Response
from starlette.types import Scope

from echo_model.chat_models import EchoChatModel
from echo_model.serving.core.error_shapes import ErrorShapes
from echo_model.serving.core.fault_middleware import FaultInjection, decide_fault
from echo_model.serving.core.generation import GenerationRequest, ModelBackend
from echo_model.serving.core.limits import Limits
from echo_model.serving.core.metrics import ServingMetrics
from echo_model.serving.core.middleware import RequestIds
from echo_model.serving.core.protocol import ErrorReply, ServingContext, WireProtocol
from echo_model.serving.core.stream import stream_reply


class ShoutFrames:
    """Frames of a toy line protocol: one ``+text`` line per chunk, ``.`` last."""

    def start(self) -> list[bytes]:
        return [b"start\n"]

    def text(self, text: str) -> list[bytes]:
        return [b"+" + text.encode() + b"\n"]

    def tool_call(self, call: Any) -> list[bytes]:
        return []

    def finish(self, finish: Any) -> list[bytes]:
        return [b".\n"]

    def fault(self, error: Exception) -> bytes:
        return b"!model\n"


class ShoutProtocol(WireProtocol):
    """A toy protocol at ``/shout``: errors are ``{"shout": message}``."""

    name = "shout"
    request_id_header = "shout-id"

    def add_routes(self, app: FastAPI, context: ServingContext) -> None:
        backend = ModelBackend(context.model)
        router = APIRouter()

        async def shout(request: Request) -> Response:
            text = (await request.body()).decode()
            await decide_fault(request, None)
            generation = GenerationRequest(messages=[HumanMessage(text)])
            if request.query_params.get("stream"):
                return await stream_reply(
                    backend, generation, ShoutFrames(), lambda: None
                )
            reply = await backend.generate(generation)
            return Response(reply.text.upper())

        router.add_api_route("/shout", shout, methods=["POST"])
        app.include_router(router)

    def claims(self, path: str) -> bool:
        return path.startswith("/shout")

    def runs_model(self, method: str, path: str) -> bool:
        return method == "POST" and self.claims(path)

    def error_body(
        self, status: int, message: str, code: str | None = None
    ) -> dict[str, Any]:
        return {"shout": message.upper(), "status": status}

    def stream_error(self, status: int, message: str) -> bytes:
        return b"!" + message.encode() + b"\n"

    def is_chunk(self, frame: bytes) -> bool:
        return frame.startswith(b"+")

    def is_end(self, frame: bytes) -> bool:
        return frame == b".\n"

    def prompt_tokens(self, path: str, body: bytes) -> int | None:
        return len(body.decode())

    def reshape_detail(self, status: int, detail: Any, scope: Scope) -> ErrorReply:
        return status, self.error_body(status, str(detail))


def shout_app() -> FastAPI:
    app = FastAPI()
    protocols = [ShoutProtocol()]
    metrics = ServingMetrics("echo-shout")
    context = ServingContext(
        model=EchoChatModel(), limits=Limits(), metrics=metrics, guards=()
    )
    for protocol in protocols:
        protocol.add_routes(app, context)
    app.add_middleware(
        FaultInjection, protocols=protocols, metrics=metrics, context_window=10
    )
    app.add_middleware(ErrorShapes, protocols=protocols)
    app.add_middleware(RequestIds, protocols=protocols)
    app.state.metrics = metrics
    return app


async def post(app: FastAPI, path: str, body: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(path, content=body, headers=headers)


async def test_the_toy_protocol_answers_through_the_shared_backend() -> None:
    response = await post(shout_app(), "/shout", "hello")
    assert response.text == "HELLO"
    assert response.headers["shout-id"].startswith("req_")


async def test_a_status_fault_is_answered_in_its_shape() -> None:
    app = shout_app()
    response = await post(app, "/shout", "hi", **{"X-Echo-Fault": "status=503"})
    assert response.status_code == 503
    assert response.json()["shout"].startswith("ECHO-MODEL INJECTED FAULT")
    faults = app.state.metrics.registry.get_sample_value(
        "echo:injected_faults_total", {"kind": "status", "protocol": "shout"}
    )
    assert faults == 1


async def test_a_mid_stream_fault_ends_its_stream_with_its_frame() -> None:
    response = await post(
        shout_app(), "/shout?stream=1", "hello", **{"X-Echo-Fault": "error; after=2"}
    )
    lines = response.text.splitlines()
    assert lines[:3] == ["start", "+h", "+e"]
    assert lines[3].startswith("!echo-model injected fault")
    assert len(lines) == 4


async def test_its_prompt_count_drives_the_context_window() -> None:
    response = await post(shout_app(), "/shout", "x" * 11)
    assert response.status_code == 400
    assert response.json() == {
        "shout": "PROMPT IS TOO LONG: 11 TOKENS > 10 MAXIMUM",
        "status": 400,
    }


async def test_framework_refusals_take_its_shape() -> None:
    transport = httpx.ASGITransport(app=shout_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/shout")
    assert response.status_code == 405
    assert orjson.loads(response.content) == {
        "shout": "METHOD NOT ALLOWED",
        "status": 405,
    }
