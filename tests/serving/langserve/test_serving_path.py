"""What the serving path does per request and per chunk: structure, not timing.

Speed itself is measured in ``benchmarks/``; these pin down the properties the
figures there rest on, so that a change undoing one fails here.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Coroutine, Generator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from echo_model.serving.app import create_app
from echo_model.serving.settings import Settings
from tests.support.asgi import post
from tests.support.event_loop import NoThreadsExecutor
from tests.support.sse import parse_sse

pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")


def _count_tasks(loop: asyncio.AbstractEventLoop) -> list[int]:
    """Count the tasks created on ``loop`` from now on; returns the counter."""
    created = [0]

    def factory(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        **kwargs: Any,
    ) -> asyncio.Task[Any]:
        created[0] += 1
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    return created


async def test_a_stream_creates_no_task_per_chunk(client: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    created = _count_tasks(loop)
    try:
        response = await client.post("/echo/stream", json={"input": "x" * 300})
    finally:
        loop.set_task_factory(None)
    assert response.status_code == 200
    chunks = [e for e in parse_sse(response.text) if e.event == "data"]
    assert len(chunks) == 301
    # A handful for the request; LangServe's event aggregator used to cost one
    # task per streamed token (301 here), until server.py made it run inline.
    assert created[0] < 30


async def test_invoke_and_stream_never_leave_the_event_loop(
    client: httpx.AsyncClient,
) -> None:
    asyncio.get_running_loop().set_default_executor(NoThreadsExecutor())
    invoked = await client.post("/echo/invoke", json={"input": "hello"})
    assert invoked.json()["output"]["content"] == "hello"
    streamed = await client.post("/echo/stream", json={"input": "hello"})
    assert sum(e.event == "data" for e in parse_sse(streamed.text)) == 6


async def test_concurrent_streams_take_turns(app: FastAPI) -> None:
    # Two streams at once, straight through the ASGI app so that every send is
    # seen as it happens: the second must start before the first ends (a
    # stream that never yields to the event loop holds up every other client).
    sent: list[str] = []

    async def stream(name: str) -> None:
        async def send(message: dict[str, Any]) -> None:
            if b"event: data" in message.get("body", b""):
                sent.append(name)

        body = json.dumps({"input": "x" * 200}).encode()
        await post(app, "/echo/stream", body, send)

    await asyncio.gather(stream("a"), stream("b"))
    assert sent.count("a") == sent.count("b") == 201
    assert sent.index("b") < len(sent) - 1 - sent[::-1].index("a")


async def test_start_up_hides_long_lived_objects_from_the_collector() -> None:
    app = create_app(Settings())
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        async with app.router.lifespan_context(app):
            # The app and the libraries: well over 100,000 objects.
            assert gc.get_freeze_count() > 50_000
    finally:
        gc.unfreeze()
