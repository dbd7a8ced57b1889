"""The runtime store with two worker processes: fixtures, counts, journal shared."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tests.support.live_server import run_server

TMP = Path(tempfile.gettempdir())
CONCURRENT = 20
#: Most waves of greetings sent until both workers have answered one.
MAX_WAVES = 30


def chat(text: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


async def ask_all(url: str, text: str, times: int, **headers: str) -> list[str]:
    # One connection per request, all at once.
    async def ask() -> str:
        async with httpx.AsyncClient(timeout=30) as client:
            reply = await client.post(url, json=chat(text), headers=headers)
            reply.raise_for_status()
            return str(reply.json()["choices"][0]["message"]["content"])

    return list(await asyncio.gather(*(ask() for _ in range(times))))


def test_two_workers_share_fixtures_counts_and_journal(tmp_path: Path) -> None:
    before = set(TMP.glob("echo-model-run-*"))
    with run_server(tmp_path, ["--workers", "2"]) as server:
        [directory] = set(TMP.glob("echo-model-run-*")) - before
        url = server.url + "/v1/chat/completions"
        # Fixtures added through one request; then one answer per sequence
        # place 0..CONCURRENT-1, and nothing after them but the echo.
        places = [
            {
                "match": {"userMessage": "count", "sequenceIndex": i},
                "response": {"content": f"place {i}"},
            }
            for i in range(CONCURRENT)
        ]
        # Each answer held ~0.15 s (50 ms a chunk): with many connections open
        # at once, both workers accept some (one alone may take them all when
        # each answer is instant).
        hello = {
            "match": {"userMessage": "hello"},
            "response": {"content": "Hi!"},
            "latency": 50,
        }
        added = httpx.post(server.url + "/admin/fixtures", json=[hello, *places])
        assert added.status_code == 200
        # Waves of greetings until both workers have answered one: which
        # worker accepts a connection is the kernel's choice (a worker may
        # accept a whole wave at once), so the test asks until it sees both.
        waves = 0
        while waves < MAX_WAVES:
            waves += 1
            greetings = asyncio.run(ask_all(url, "hello", CONCURRENT))
            assert greetings == ["Hi!"] * CONCURRENT
            journal = httpx.get(server.url + "/admin/requests").json()
            if len({e["worker"] for e in journal}) == 2:
                break
        counted = asyncio.run(
            ask_all(url, "count", CONCURRENT, **{"X-Echo-Context": "c"})
        )
        assert sorted(counted) == sorted(f"place {i}" for i in range(CONCURRENT))
        assert asyncio.run(ask_all(url, "count", 1, **{"X-Echo-Context": "c"})) == [
            "count"
        ]
        journals = [httpx.get(server.url + "/admin/requests").json() for _ in range(4)]
    for journal in journals:  # whichever worker answers, the whole journal
        assert len(journal) == (waves + 1) * CONCURRENT + 1
        assert [e["fixture"] is None for e in journal].count(True) == 1
    workers = {e["worker"] for e in journals[0]}
    assert len(workers) == 2, workers  # requests landed on both workers
    hello_workers = {e["worker"] for e in journals[0] if e["reply"]["text"] == "Hi!"}
    assert len(hello_workers) == 2  # and each saw the fixture added once
    assert not directory.exists()  # the CLI removed its run directory
