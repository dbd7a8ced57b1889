"""Keep-alive soak: pooled client connections reused after idle gaps never fail.

Clients (the openai and anthropic SDKs, plain httpx) keep an idle connection
5 s and reuse it until then. A server that closes idle connections at 5 s
too (uvicorn's default) sometimes closes one just as a client sends on it: a
``ReadError`` or a reset for a request that never arrived. Here mixed clients
idle just under 5 s between requests, over and over, against a real server
with the default ``--timeout-keep-alive``; none may fail. The SDKs' retries
are off, so a failure is seen, not retried away.

Run with ``ECHO_KEEPALIVE_SOAK_TIMEOUT=5`` to give the server uvicorn's 5 s
and watch the test catch the defect (it is a race: most runs see a few).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import anthropic
import httpx
import openai

from tests.support.live_server import LiveServer, run_server

#: How long the soak runs, and how many clients of each kind it keeps busy.
SECONDS = 25.0
CLIENTS_PER_KIND = 16

#: Idle gaps between a client's requests: just under the clients' own
#: keep-alive expiry (httpx's 5 s), where a server closing at 5 s races them.
GAP = (4.96, 4.995)

MESSAGES = [{"role": "user", "content": "keep-alive"}]


async def soak(server: LiveServer, seconds: float, per_kind: int) -> Counter[str]:
    """Run the mixed clients for ``seconds``; count requests and errors by kind."""
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    rng = random.Random(21)  # noqa: S311 - gaps, not secrets

    async def loop(kind: str, call: Callable[[], Awaitable[object]]) -> None:
        await asyncio.sleep(rng.uniform(0, 1))  # spread the clients' phases
        while time.monotonic() < deadline:
            try:
                await call()
                seen["requests"] += 1
            except Exception as error:  # any failure is counted
                seen[f"{kind}: {type(error).__module__}.{type(error).__name__}"] += 1
            await asyncio.sleep(rng.uniform(*GAP))

    tasks = []
    clients: list[
        openai.AsyncOpenAI | anthropic.AsyncAnthropic | httpx.AsyncClient
    ] = []
    for _ in range(per_kind):
        oai = openai.AsyncOpenAI(
            base_url=server.url + "/v1", api_key="unused", max_retries=0
        )
        ant = anthropic.AsyncAnthropic(
            base_url=server.url, api_key="unused", max_retries=0
        )
        plain = httpx.AsyncClient(base_url=server.url, timeout=30)
        clients += [oai, ant, plain]

        async def call_openai(client: openai.AsyncOpenAI = oai) -> object:
            return await client.chat.completions.create(
                model="echo",
                messages=MESSAGES,  # type: ignore[arg-type]
            )

        async def call_anthropic(client: anthropic.AsyncAnthropic = ant) -> object:
            return await client.messages.create(
                model="echo",
                max_tokens=64,
                messages=MESSAGES,  # type: ignore[arg-type]
            )

        async def call_httpx(client: httpx.AsyncClient = plain) -> object:
            reply = await client.post("/echo/invoke", json={"input": "keep-alive"})
            return reply.raise_for_status()

        tasks += [
            loop("openai", call_openai),
            loop("anthropic", call_anthropic),
            loop("httpx", call_httpx),
        ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            if isinstance(client, httpx.AsyncClient):
                await client.aclose()
            else:
                await client.close()
    return seen


def test_pooled_connections_survive_idle_gaps(tmp_path: Path) -> None:
    forced = os.environ.get("ECHO_KEEPALIVE_SOAK_TIMEOUT")
    args = ["--log-level", "warning"]
    if forced:
        args += ["--timeout-keep-alive", forced]
    with run_server(tmp_path, args) as server:
        seen = asyncio.run(soak(server, SECONDS, CLIENTS_PER_KIND))
    errors = {kind: count for kind, count in seen.items() if kind != "requests"}
    print(f"keep-alive soak: {seen['requests']} requests, errors: {errors}")
    # Every client made several requests, most after an idle gap.
    assert seen["requests"] >= 3 * CLIENTS_PER_KIND * 4
    assert errors == {}
