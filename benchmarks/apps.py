"""The servers the benchmark compares this project's server with.

Each is an app factory for ``uvicorn --factory``:

- ``bare_app``: the limit. Plain FastAPI answering ``/echo/invoke`` with the
  same JSON body our server returns for ``{"input": "hello"}``; no LangChain.
- ``guide_app``: the peer. LangServe's ``add_routes`` serving the echo model as
  LangChain's custom-chat-model guide writes it (sync hooks only).
- ``fake_app``: LangServe serving ``langchain_core``'s ``GenericFakeChatModel``,
  scripted to answer ``hello`` on ``/echo`` and a 1000-character reply on
  ``/long``.
- ``floor_app``: LangServe serving no model at all, a function returning a
  ready-made ``AIMessage``: the most any chat model served through LangServe's
  handlers can reach.
"""

from __future__ import annotations

import itertools
from typing import Any

from fastapi import Body, FastAPI
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langserve import add_routes

from benchmarks.guide_model import GuideEchoModel

#: The invoke response body of our server for {"input": "hello"} (ids fixed).
BARE_BODY: dict[str, Any] = {
    "output": {
        "content": "hello",
        "additional_kwargs": {},
        "response_metadata": {
            "model_name": "echo",
            "finish_reason": "stop",
            "stop_sequence": None,
        },
        "type": "ai",
        "name": None,
        "id": "lc_run--019ab3f0-0000-7000-8000-000000000000-0",
        "tool_calls": [],
        "invalid_tool_calls": [],
        "usage_metadata": {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10},
    },
    "metadata": {
        "run_id": "019ab3f0-0000-7000-8000-000000000000",
        "feedback_tokens": [],
    },
}

LONG_REPLY = "x " * 500  # 1000 characters; the fake model streams it in 1000 chunks


def _app_with_health() -> FastAPI:
    """A FastAPI app with the ``/health`` route the benchmark waits for."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def langserve_app(runnable: Any) -> FastAPI:
    """Return an app serving ``runnable`` with LangServe at ``/echo``."""
    app = _app_with_health()
    add_routes(app, runnable, path="/echo")
    return app


def bare_app() -> FastAPI:
    """Return the limit: FastAPI parsing the request and returning the body."""
    app = _app_with_health()

    @app.post("/echo/invoke")
    async def invoke(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return BARE_BODY

    return app


def guide_app() -> FastAPI:
    """Return the peer: LangServe serving the guide's echo model."""
    return langserve_app(GuideEchoModel(parrot_buffer_length=1000))


def fake_app() -> FastAPI:
    """Return LangServe serving GenericFakeChatModel."""
    hello = GenericFakeChatModel(messages=itertools.cycle([AIMessage("hello")]))
    long = GenericFakeChatModel(messages=itertools.cycle([AIMessage(LONG_REPLY)]))
    app = langserve_app(hello)
    add_routes(app, long, path="/long")
    return app


#: The reply our server gives to {"input": "hello"}, made once.
_CANNED = AIMessage(
    content=BARE_BODY["output"]["content"],
    response_metadata=BARE_BODY["output"]["response_metadata"],
    usage_metadata=BARE_BODY["output"]["usage_metadata"],
)


async def _canned_reply(text: str) -> AIMessage:
    return _CANNED


def floor_app() -> FastAPI:
    """Return LangServe's floor: a function returning a ready-made AIMessage."""
    return langserve_app(RunnableLambda(_canned_reply))
