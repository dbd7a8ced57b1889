"""The /admin API and the request journal, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from echo_model.serving.app import create_app
from echo_model.serving.core.journal import MAX_BODY_BYTES
from echo_model.serving.core.store import MemoryStore
from echo_model.serving.settings import Settings

KEY = "sk-admin-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
HELLO = {"match": {"userMessage": "hello"}, "response": {"content": "Hi!"}}
GO = {
    "match": {"userMessage": "go", "sequenceIndex": 0},
    "response": {"content": "went"},
}
TOOL = {
    "match": {"userMessage": "weather"},
    "response": {
        "toolCalls": [
            {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "c1"}
        ]
    },
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(api_key=SecretStr(KEY)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", headers=AUTH
    ) as c:
        yield c


def chat(text: str, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


async def test_admin_needs_the_key(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/admin/requests"), ("POST", "/admin/reset")]:
        response = await client.request(
            method, path, headers={"Authorization": "Bearer wrong"}
        )
        assert response.status_code == 401


async def test_posted_fixtures_answer_and_are_listed(client: httpx.AsyncClient) -> None:
    added = await client.post("/admin/fixtures", json={"fixtures": [HELLO, GO]})
    assert added.json() == {"added": ["<admin>#0", "<admin>#1"]}
    more = await client.post("/admin/fixtures", json=[TOOL])
    assert more.json() == {"added": ["<admin>#2"]}
    listed = (await client.get("/admin/fixtures")).json()
    assert listed == {"fixtures": [HELLO, GO, TOOL], "files": []}
    reply = await client.post("/v1/chat/completions", json=chat("hello"))
    assert reply.json()["choices"][0]["message"]["content"] == "Hi!"
    assert (await client.delete("/admin/fixtures")).json() == {"fixtures": []}
    reply = await client.post("/v1/chat/completions", json=chat("hello"))
    assert reply.json()["choices"][0]["message"]["content"] == "hello"


async def test_a_context_s_fixtures_answer_only_it_and_go_alone(
    client: httpx.AsyncClient,
) -> None:
    mine = {
        "match": {"userMessage": "hello", "context": "a"},
        "response": {"content": "A"},
    }
    theirs = {
        **mine,
        "match": {**mine["match"], "context": "b"},
        "response": {"content": "B"},
    }
    await client.post("/admin/fixtures", json=[mine, theirs, GO])

    async def ask(context: str) -> str:
        reply = await client.post(
            "/v1/chat/completions",
            json=chat("hello"),
            headers={"X-Echo-Context": context},
        )
        return str(reply.json()["choices"][0]["message"]["content"])

    assert [await ask("a"), await ask("b"), await ask("c")] == ["A", "B", "hello"]
    removed = await client.delete("/admin/fixtures", params={"context": "a"})
    assert removed.json() == {"fixtures": [theirs, GO], "removed": 1}
    assert [await ask("a"), await ask("b")] == ["hello", "B"]


async def test_a_bad_fixture_is_refused_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    bad = {"match": {"userMesage": "x"}, "response": {"content": "y"}}
    response = await client.post("/admin/fixtures", json={"fixtures": [HELLO, bad]})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "<admin>: fixture 1: match.userMesage: unsupported field"
    }
    assert (await client.get("/admin/fixtures")).json()["fixtures"] == []
    not_json = await client.post("/admin/fixtures", content=b"{")
    assert not_json.status_code == 400


async def test_the_journal_keeps_the_body_as_sent_and_the_reply(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/admin/fixtures", json=[HELLO, TOOL])
    raw = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}],"x":1}'
    await client.post(
        "/v1/chat/completions",
        content=raw,
        headers={"content-type": "application/json", "X-Echo-Context": "ctx-a"},
    )
    await client.post("/v1/chat/completions", json=chat("weather", stream=True))
    anthropic_body = {
        "model": "claude",
        "max_tokens": 9,
        "stream": True,
        "messages": [{"role": "user", "content": "plain"}],
    }
    await client.post("/v1/messages", json=anthropic_body)
    await client.post("/echo/stream", json={"input": "hello"})
    await client.get("/health")  # not a model request: not journaled
    entries = (await client.get("/admin/requests")).json()
    assert [(e["path"], e["protocol"]) for e in entries] == [
        ("/v1/chat/completions", "openai"),
        ("/v1/chat/completions", "openai"),
        ("/v1/messages", "anthropic"),
        ("/echo/stream", "langserve"),
    ]
    first, streamed, anthropic_entry, langserve = entries
    assert first["body"] == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hello"}],
        "x": 1,
    }
    assert first["context"] == "ctx-a"
    assert first["fixture"] == "<admin>#0"
    assert first["reply"] == {"text": "Hi!", "tool_calls": [], "error": None}
    assert first["status"] == 200
    assert first["request_id"].startswith("req_")
    assert "authorization" not in first["headers"]
    assert first["timings"]["first_token"] is None
    assert first["timings"]["end"] >= 0
    assert streamed["fixture"] == "<admin>#1"
    assert streamed["reply"]["tool_calls"] == [
        {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}
    ]
    assert streamed["timings"]["first_token"] is not None
    assert anthropic_entry["body"] == anthropic_body  # Anthropic's shape, kept
    assert anthropic_entry["fixture"] is None
    assert anthropic_entry["reply"]["text"] == "plain"
    assert langserve["reply"]["text"] == "Hi!"
    assert langserve["fixture"] == "<admin>#0"
    assert 0 < langserve["timings"]["first_token"] <= langserve["timings"]["end"]
    filtered = await client.get("/admin/requests", params={"context": "ctx-a"})
    assert [e["request_id"] for e in filtered.json()] == [first["request_id"]]
    by_path = await client.get("/admin/requests", params={"path": "/v1/messages"})
    assert len(by_path.json()) == 1
    await client.delete("/admin/requests")
    assert (await client.get("/admin/requests")).json() == []


async def test_errors_are_journaled(client: httpx.AsyncClient) -> None:
    busy = {
        "match": {"userMessage": "busy"},
        "response": {"error": {"message": "slow down"}, "status": 429},
    }
    await client.post("/admin/fixtures", json=[busy])
    await client.post("/v1/chat/completions", json=chat("busy"))
    await client.post("/echo/invoke", json={"input": "busy"})
    await client.post("/v1/chat/completions", json={"model": "m"})  # refused: 400
    entries = (await client.get("/admin/requests")).json()
    assert [e["status"] for e in entries] == [429, 429, 400]
    assert entries[0]["reply"]["error"] == {"status": 429, "message": "slow down"}
    assert entries[1]["reply"]["error"] == {"status": 429, "message": "slow down"}
    assert entries[2]["reply"]["error"]["error"]["param"] == "messages"


async def test_reset_restarts_the_sequences(client: httpx.AsyncClient) -> None:
    await client.post("/admin/fixtures", json=[GO])

    async def reply() -> str:
        response = await client.post("/v1/chat/completions", json=chat("go"))
        return str(response.json()["choices"][0]["message"]["content"])

    assert [await reply(), await reply()] == ["went", "go"]
    assert (await client.post("/admin/reset")).json() == {"reset": True}
    assert await reply() == "went"
    assert len((await client.get("/admin/requests")).json()) == 1


def test_the_journal_is_bounded() -> None:
    store = MemoryStore(max_entries=3)
    for index in range(5):
        store.append_entry({"index": index})
    assert [e["index"] for e in store.entries()] == [2, 3, 4]


async def test_a_large_body_is_cut(client: httpx.AsyncClient) -> None:
    text = "x" * (MAX_BODY_BYTES + 10)
    await client.post("/v1/chat/completions", json=chat(text))
    (entry,) = (await client.get("/admin/requests")).json()
    assert entry["body_truncated"] is True
    assert len(entry["body"]) == MAX_BODY_BYTES
    assert entry["body"].startswith('{"model"')
