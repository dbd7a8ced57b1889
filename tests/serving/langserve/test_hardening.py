"""Bad input, limits, authentication and error replies, in process."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError

from echo_model import EchoChatModel
from echo_model.serving.app import create_app
from echo_model.serving.settings import Settings
from tests.support.sse import parse_sse

KEY = "echo-test-key-7d1e"  # a test value, checked for leaks


def client_for(settings: Settings) -> httpx.AsyncClient:
    # raise_app_exceptions=False: see the 500 the client gets, as over the network.
    transport = httpx.ASGITransport(
        app=create_app(settings), raise_app_exceptions=False
    )
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def limited() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        max_body_bytes=4096,
        n=50,  # LangServe fills in the defaults of a config that sets any value
        max_n=50,
        max_messages=3,
        max_batch=2,
        max_delay=1.0,
        max_stop_sequences=2,
        max_stop_length=5,
    )
    async with client_for(settings) as client:
        yield client


@pytest.fixture
async def locked() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(Settings(api_key=SecretStr(KEY))) as client:
        yield client


def assert_422(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 422, response.text
    text = response.text
    assert all(word in text for word in words), text


# --- Bad input ---------------------------------------------------------------

MESSAGE_ERROR = "each message must be an object with a 'type'"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"input": [{"role": "user", "content": "hi"}]}, [MESSAGE_ERROR]),
        ({"input": [1, 2]}, [MESSAGE_ERROR]),
        ({"input": ["hi"]}, [MESSAGE_ERROR]),
        ({"input": {"messages": [{"content": "no type"}]}}, [MESSAGE_ERROR]),
        ({"input": None}, ["input"]),
        ({"input": 5}, ["input"]),
        ({}, ["input", "missing"]),
        ([1, 2], ["must be a JSON object"]),
        ({"input": "hi", "config": "x"}, ["config"]),
        ({"input": "hi", "config": {"confgurable": {"n": 1}}}, ["unknown config"]),
        ({"input": "hi", "config": {"configurable": {"n": "three"}}}, ["n"]),
    ],
)
@pytest.mark.parametrize("path", ["/echo/invoke", "/echo/stream"])
async def test_malformed_bodies_are_422_saying_what_is_wrong(
    client: httpx.AsyncClient, path: str, body: Any, words: list[str]
) -> None:
    assert_422(await client.post(path, json=body), *words)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"input": "hel', ["not valid UTF-8 JSON"]),
        (b'{"input": "\xff\xfe"}', ["not valid UTF-8 JSON", "utf-8"]),
        (b"[" * 100_000, ["nested too deeply"]),
        (b"", ["not valid UTF-8 JSON"]),
    ],
)
async def test_unparseable_bodies_are_422(
    client: httpx.AsyncClient, raw: bytes, words: list[str]
) -> None:
    response = await client.post(
        "/echo/invoke", content=raw, headers={"content-type": "application/json"}
    )
    assert_422(response, *words)


async def test_deeply_nested_content_is_422(client: httpx.AsyncClient) -> None:
    nested: Any = "x"
    for _ in range(100):
        nested = {"a": nested}
    message = {"type": "human", "content": [{"type": "text", "text": "x", "n": nested}]}
    assert_422(
        await client.post("/echo/invoke", json={"input": [message]}), "nested deeper"
    )


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        (
            "/echo/stream_log",
            {"input": "hi", "config": {"configurable": {"seed": 2**64}}},
            ["body", "config", "configurable", "seed"],
        ),
        (
            "/echo/invoke",
            {"input": "hi", "config": {"configurable": {"seed": -(2**63) - 1}}},
            ["body", "config", "configurable", "seed"],
        ),
        (
            "/echo/stream",
            {"input": [{"type": "human", "content": "x", "id": 10**30}]},
            ["body", "input", 0, "id"],
        ),
        (
            "/echo/batch",
            {"inputs": ["a", "b"], "config": [{}, {"metadata": {"k": [1, 2**70]}}]},
            ["body", "config", 1, "metadata", "k", 1],
        ),
        (
            "/echo/stream_events",
            {"input": "hi", "kwargs": {"x": 2**100}},
            ["body", "kwargs", "x"],
        ),
    ],
)
async def test_integers_beyond_64_bits_are_422_naming_where(
    client: httpx.AsyncClient, path: str, body: dict, loc: list
) -> None:
    before = (await client.get("/stats")).json()["started"]
    response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert "64-bit" in error["msg"]
    assert (await client.get("/stats")).json()["started"] == before


@pytest.mark.parametrize(
    ("path", "raw", "loc"),
    [
        ("/echo/invoke", r'{"input": "a\ud800b"}', ["body", "input"]),
        (
            "/echo/stream",
            r'{"input": [{"type": "human", "content": "\udfff"}]}',
            ["body", "input", 0, "content"],
        ),
        (
            "/echo/batch",
            r'{"inputs": ["a"], "config": {"tags": ["x\udc00"]}}',
            ["body", "config", "tags", 0],
        ),
        # A key cannot be named in the reply: its object is.
        ("/echo/stream_log", r'{"input": "a", "x": {"\ud800": 1}}', ["body", "x"]),
    ],
)
async def test_lone_surrogates_are_422_naming_where(
    client: httpx.AsyncClient, path: str, raw: str, loc: list
) -> None:
    # Valid JSON escapes, but not Unicode: no encoder on the way can send them back.
    before = (await client.get("/stats")).json()["started"]
    response = await client.post(
        path, content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert "surrogate" in error["msg"]
    assert (await client.get("/stats")).json()["started"] == before


async def test_64_bit_integers_are_accepted(client: httpx.AsyncClient) -> None:
    for seed in (2**63 - 1, -(2**63)):
        body = {"input": "hi", "config": {"configurable": {"seed": seed}}}
        response = await client.post("/echo/stream_log", json=body)
        assert response.status_code == 200
        assert parse_sse(response.text)[-1].event == "end"


async def test_unknown_configurable_keys_pass_for_langgraph(
    client: httpx.AsyncClient,
) -> None:
    # RemoteRunnable forwards LangGraph's own configurable keys (thread_id, ...).
    body = {"input": "hi", "config": {"configurable": {"thread_id": "t", "n": 1}}}
    response = await client.post("/echo/invoke", json=body)
    assert response.status_code == 200
    assert response.json()["output"]["content"] == "h"


IMAGE = {"type": "image", "base64": "aGVsbG8=", "mime_type": "image/png"}
# Blocks LangChain's chat models reject on every call (it converts image blocks
# to OpenAI's format for tracing): no mime_type for base64 data, no source.
BAD_BLOCKS = [
    {"type": "image", "base64": "aGVsbG8="},
    {"type": "image", "source_type": "base64", "data": "aGVsbG8="},
    {"type": "image", "text": "no url or data"},
]


def with_blocks(*blocks: object) -> list[dict[str, Any]]:
    content = [{"type": "text", "text": "look"}, *blocks]
    return [{"type": "system", "content": "s"}, {"type": "human", "content": content}]


@pytest.mark.parametrize("block", BAD_BLOCKS)
@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/echo/invoke", {"input": with_blocks(IMAGE, "B")}, ["body", "input"]),
        ("/echo/stream", {"input": with_blocks(IMAGE, "B")}, ["body", "input"]),
        ("/echo/stream_log", {"input": with_blocks(IMAGE, "B")}, ["body", "input"]),
        (
            "/echo/stream_events",
            {"input": with_blocks(IMAGE, "B")},
            ["body", "input"],
        ),
        (
            "/echo/batch",
            {"inputs": ["ok", with_blocks(IMAGE, "B")]},
            ["body", "inputs", 1],
        ),
        (
            "/chat/invoke",
            {"input": {"messages": with_blocks(IMAGE, "B")}},
            ["body", "input", "messages"],
        ),
        (
            "/chat/stream",
            {"input": {"messages": with_blocks(IMAGE, "B")}},
            ["body", "input", "messages"],
        ),
    ],
)
async def test_content_blocks_langchain_rejects_are_422_naming_the_block(
    client: httpx.AsyncClient, path: str, body: dict, loc: list, block: dict
) -> None:
    body = json.loads(json.dumps(body).replace('"B"', json.dumps(block)))
    before = (await client.get("/stats")).json()["started"]
    response = await client.post(path, json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == [*loc, 1, "content", 2]  # the third block of message 1
    assert "content block" in error["msg"]
    assert (await client.get("/stats")).json()["started"] == before


async def test_valid_media_blocks_are_echoed(client: httpx.AsyncClient) -> None:
    url = {"type": "image", "url": "https://example.com/a.png"}
    response = await client.post(
        "/echo/invoke", json={"input": with_blocks(IMAGE, url)}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("inputs", [[], "hi", None])
async def test_empty_or_wrong_batch_is_422(
    client: httpx.AsyncClient, inputs: Any
) -> None:
    assert_422(
        await client.post("/echo/batch", json={"inputs": inputs}), "non-empty list"
    )


# --- Limits ------------------------------------------------------------------


async def test_body_over_the_limit_is_413_before_reading(
    limited: httpx.AsyncClient,
) -> None:
    response = await limited.post("/echo/invoke", json={"input": "x" * 5000})
    assert response.status_code == 413
    assert "at most 4096" in response.json()["detail"]


async def test_streamed_body_over_the_limit_is_413(limited: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"input": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = await limited.post(
        "/echo/invoke", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "at most 4096" in response.json()["detail"]


async def test_invalid_content_length_is_400(limited: httpx.AsyncClient) -> None:
    response = await limited.post(
        "/echo/invoke",
        content=b'{"input": "x"}',
        headers={"content-type": "application/json", "content-length": "abc"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/echo/batch", {"inputs": ["a", "b", "c"]}, ["at most 2 inputs"]),
        (
            "/echo/invoke",
            {"input": [{"type": "human", "content": "x"}] * 4},
            ["at most 3 messages"],
        ),
        (
            "/chat/invoke",
            {"input": {"messages": [{"type": "human", "content": "x"}] * 4}},
            ["at most 3 messages"],
        ),
        (
            "/echo/invoke",
            {"input": "x", "config": {"configurable": {"n": 51}}},
            ["n is limited to 50"],
        ),
        (
            "/echo/stream",
            {"input": "x", "config": {"configurable": {"token_delay": 2}}},
            ["token_delay is limited to 1.0"],
        ),
        (
            "/echo/batch",
            {"inputs": ["x"], "config": [{"configurable": {"first_token_delay": 5}}]},
            ["first_token_delay is limited"],
        ),
        (
            "/echo/invoke",
            {"input": "x", "config": {"configurable": {"stop": ["a", "b", "c"]}}},
            ["at most 2 stop sequences", '"loc":["configurable","stop"]'],
        ),
        (
            "/echo/stream",
            {"input": "x", "config": {"configurable": {"stop": ["a", "123456"]}}},
            ["at most 5 characters", '"loc":["configurable","stop",1]'],
        ),
        (
            "/echo/batch",
            {
                "inputs": ["x", "y"],
                "config": [{}, {"configurable": {"stop": ["a", "b", "c"]}}],
            },
            ["at most 2 stop sequences"],
        ),
        (
            "/chat/stream",
            {
                "input": {"messages": [{"type": "human", "content": "x"}]},
                "config": {"configurable": {"stop": ["123456"]}},
            },
            ["at most 5 characters"],
        ),
    ],
)
async def test_requests_over_a_limit_are_refused_before_any_work(
    limited: httpx.AsyncClient, path: str, body: dict, words: list[str]
) -> None:
    before = (await limited.get("/stats")).json()["started"]
    assert_422(await limited.post(path, json=body), *words)
    assert (await limited.get("/stats")).json()["started"] == before


async def test_a_body_full_of_stop_sequences_is_refused_before_any_work(
    client: httpx.AsyncClient,
) -> None:
    # Under the default body limit, this request once stalled the server (1.4 s).
    config = {"n": 100_000, "stop": [f"{i:05d}" for i in range(40_000)]}
    body = {"input": "x" * 100_000, "config": {"configurable": config}}
    before = (await client.get("/stats")).json()["started"]
    response = await client.post("/echo/invoke", json=body)
    assert_422(response, "stop sequences", '"loc":["configurable","stop"]')
    assert (await client.get("/stats")).json()["started"] == before


async def test_requests_within_the_limits_work(limited: httpx.AsyncClient) -> None:
    body = {"inputs": ["ab", "cd"], "config": {"configurable": {"n": 50}}}
    response = await limited.post("/echo/batch", json=body)
    assert [o["content"] for o in response.json()["output"]] == ["ab", "cd"]
    body = {"input": "abcdef", "config": {"configurable": {"stop": ["x", "bcdef"]}}}
    response = await limited.post("/echo/invoke", json=body)
    assert response.json()["output"]["content"] == "abcdef"


# --- Authentication ----------------------------------------------------------

MODEL_ROUTES = [
    ("POST", "/echo/invoke", {"input": "hi"}),
    ("POST", "/echo/stream", {"input": "hi"}),
    ("POST", "/echo/batch", {"inputs": ["hi"]}),
    (
        "POST",
        "/chat/invoke",
        {"input": {"messages": [{"type": "human", "content": "h"}]}},
    ),
    ("GET", "/echo/input_schema", None),
    ("GET", "/echo/config_schema", None),
    ("GET", "/echo/playground/", None),
    ("GET", "/chat/playground/", None),
    ("GET", "/stats", None),
]


@pytest.mark.parametrize(("method", "path", "body"), MODEL_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": KEY[:-1]},
        {"Authorization": f"Basic {base64.b64encode(b'me:nope').decode()}"},
        {"Authorization": KEY},
    ],
    ids=["none", "wrong-bearer", "wrong-x-api-key", "wrong-basic", "no-scheme"],
)
async def test_routes_refuse_a_missing_or_wrong_key(
    locked: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict
) -> None:
    response = await locked.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Basic")
    assert KEY not in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"X-API-Key": KEY},
        {"Authorization": "Basic " + base64.b64encode(f"u:{KEY}".encode()).decode()},
    ],
    ids=["bearer", "x-api-key", "basic"],
)
@pytest.mark.parametrize(("method", "path", "body"), MODEL_ROUTES)
async def test_routes_admit_the_key(
    locked: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict
) -> None:
    response = await locked.request(method, path, json=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/health", "/", "/docs", "/openapi.json"])
async def test_health_index_and_docs_stay_open(
    locked: httpx.AsyncClient, path: str
) -> None:
    assert (await locked.get(path)).status_code == 200


def test_the_key_never_shows_in_settings() -> None:
    settings = Settings(api_key=SecretStr(KEY))
    assert KEY not in repr(settings)
    assert KEY not in str(settings)


def app_failing_with(settings: Settings, error: Exception) -> FastAPI:
    """The server's app, plus a route that fails with ``error``."""
    app = create_app(settings)

    @app.get("/fails")
    async def fails() -> None:
        raise error

    return app


async def test_the_key_never_reaches_logs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # A wrapped model's error could quote what it was given: here, the key.
    leaky = RuntimeError(f"upstream refused the key {KEY}")
    app = app_failing_with(Settings(api_key=SecretStr(KEY)), leaky)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        failed = await client.get("/fails", headers={"X-API-Key": KEY})
        body = {"input": "hi", "config": {"configurable": {"fail_after_chunks": 0}}}
        injected = await client.post(
            "/echo/invoke", json=body, headers={"X-API-Key": KEY}
        )
    assert failed.status_code == injected.status_code == 500
    for response in (failed, injected):
        assert KEY not in response.text
        assert KEY not in str(response.headers)
    assert "upstream refused the key" in caplog.text  # the operator sees the error
    assert KEY not in caplog.text


async def test_unexpected_errors_hide_their_message_and_name_an_error_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="echo_model.server")
    app = app_failing_with(Settings(), KeyError("internal_table_name"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/fails")
    assert response.status_code == 500
    reply = response.json()
    assert reply == {
        "detail": "Internal Server Error",
        "type": "KeyError",
        "error_id": reply["error_id"],
    }
    assert "internal_table_name" not in response.text
    [record] = [r for r in caplog.records if reply["error_id"] in r.getMessage()]
    assert record.name == "echo_model.server"
    assert "internal_table_name" in record.getMessage()
    assert "Traceback" in record.getMessage()


async def test_validation_errors_keep_their_message() -> None:
    with pytest.raises(ValidationError) as invalid:
        EchoChatModel(n=-1)
    app = app_failing_with(Settings(), invalid.value)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/fails")
    assert response.status_code == 500
    assert response.json()["type"] == "ValidationError"
    assert "greater than or equal to 0" in response.json()["detail"]


# --- Errors that help --------------------------------------------------------


async def test_model_error_is_a_json_500_with_type_and_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    body = {"input": "hello", "config": {"configurable": {"fail_after_chunks": 0}}}
    async with client_for(Settings()) as client:
        response = await client.post("/echo/invoke", json=body)
    assert response.status_code == 500
    assert response.json() == {
        "detail": "injected failure after 0 chunks (limit 0)",
        "type": "EchoFaultError",
    }
    assert "Traceback" not in response.text
    assert "Traceback" in caplog.text  # the operator still gets it


async def test_mid_stream_error_is_an_sse_error_event_after_the_chunks() -> None:
    body = {"input": "hello", "config": {"configurable": {"fail_after_chunks": 3}}}
    async with client_for(Settings()) as client:
        response = await client.post("/echo/stream", json=body)
    events = parse_sse(response.text)
    assert [e.event for e in events] == ["metadata", "data", "data", "data", "error"]
    assert [e.data["content"] for e in events if e.event == "data"] == ["h", "e", "l"]
    assert events[-1].data["status_code"] == 500


async def test_stats_count_runs_and_tokens(client: httpx.AsyncClient) -> None:
    before = (await client.get("/stats")).json()
    await client.post("/echo/stream", json={"input": "abc"})
    await client.post("/echo/invoke", json={"input": "abc"})
    after = (await client.get("/stats")).json()
    assert after["started"] - before["started"] == 2
    assert after["finished"] - before["finished"] == 2
    assert after["tokens"] - before["tokens"] == 6  # generated, streamed or not
    assert after["active"] == 0
