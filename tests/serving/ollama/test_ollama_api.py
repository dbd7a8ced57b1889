"""Ollama's API in process: NDJSON framing, errors, faults, stream = whole reply."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from echo_model.embeddings import embed_text
from echo_model.serving.app import create_app
from echo_model.serving.settings import Settings

CHAT = "/api/chat"
GENERATE = "/api/generate"
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


def chat(content: Any = "hello", **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": content}], **fields}


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The NDJSON lines of a stream, checking the framing on the raw bytes."""
    assert response.headers["content-type"] == "application/x-ndjson"
    raw = response.content
    assert raw.endswith(b"\n")
    lines = raw.split(b"\n")[:-1]
    assert all(line and b"\n" not in line for line in lines)
    return [json.loads(line) for line in lines]


def error_of(response: httpx.Response) -> str:
    data = response.json()
    assert set(data) == {"error"}
    assert isinstance(data["error"], str)
    return data["error"]


FINAL_KEYS = {
    "model",
    "created_at",
    "done",
    "done_reason",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
}


# --- Chat ------------------------------------------------------------------------


async def test_chat_streams_ndjson_by_default(client: httpx.AsyncClient) -> None:
    lines = lines_of(await client.post(CHAT, json=chat("héllo")))
    *chunks, final = lines
    assert [c["message"] for c in chunks] == [
        {"role": "assistant", "content": c} for c in "héllo"
    ]
    for line in lines:
        assert line["model"] == "m"
        datetime.fromisoformat(line["created_at"])  # RFC 3339
    assert all(c["done"] is False for c in chunks)
    assert set(final) == FINAL_KEYS | {"message"}
    assert final["message"] == {"role": "assistant", "content": ""}
    assert (final["done"], final["done_reason"]) == (True, "stop")
    assert (final["prompt_eval_count"], final["eval_count"]) == (5, 5)
    # "stream": null is Ollama's default too: a stream.
    lines_of(await client.post(CHAT, json=chat("hi", stream=None)))


async def test_chat_without_stream_is_one_object(client: httpx.AsyncClient) -> None:
    response = await client.post(CHAT, json=chat("hello", stream=False))
    assert response.headers["content-type"] == "application/json"
    reply = response.json()
    assert set(reply) == FINAL_KEYS | {"message"}
    assert reply["message"] == {"role": "assistant", "content": "hello"}
    assert (reply["done"], reply["done_reason"]) == (True, "stop")


async def test_num_predict_caps_the_reply_and_stop_ends_it(
    client: httpx.AsyncClient,
) -> None:
    capped = await client.post(
        CHAT, json=chat("hello", stream=False, options={"num_predict": 3})
    )
    assert capped.json()["message"]["content"] == "hel"
    assert capped.json()["done_reason"] == "length"
    assert (capped.json()["prompt_eval_count"], capped.json()["eval_count"]) == (5, 3)
    stopped = await client.post(
        CHAT, json=chat("hello", stream=False, options={"stop": ["l"], "seed": 1})
    )
    assert stopped.json()["message"]["content"] == "he"
    assert stopped.json()["done_reason"] == "stop"
    unlimited = await client.post(
        CHAT, json=chat("hello", stream=False, options={"num_predict": -1})
    )
    assert unlimited.json()["message"]["content"] == "hello"


async def test_tool_calls_have_object_arguments(client: httpx.AsyncClient) -> None:
    whole = await client.post(CHAT, json=chat("add(1, 2)", stream=False, tools=[ADD]))
    message = whole.json()["message"]
    assert message["content"] == ""
    [call] = message["tool_calls"]
    assert call["function"]["name"] == "add"
    assert call["function"]["arguments"] == {"a": 1, "b": 2}
    assert whole.json()["done_reason"] == "stop"
    *chunks, _ = lines_of(await client.post(CHAT, json=chat("add(1, 2)", tools=[ADD])))
    assert [c["message"]["tool_calls"] for c in chunks] == [[call]]


async def test_a_call_whose_arguments_are_no_object_comes_as_text(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post(CHAT, json=chat('add("x")', stream=False, tools=[ADD]))
    message = reply.json()["message"]
    assert "tool_calls" not in message
    assert message["content"] == 'add("x")'


async def test_tool_results_pair_with_calls_by_name_and_order(
    client: httpx.AsyncClient,
) -> None:
    messages = [
        {"role": "user", "content": "add(1, 2) and add(3, 4)"},
        {
            "role": "assistant",
            "tool_calls": [
                {"function": {"name": "add", "arguments": {"a": 1, "b": 2}}},
                {"function": {"name": "add", "arguments": {"a": 3, "b": 4}}},
            ],
        },
        {"role": "tool", "content": "3", "tool_name": "add"},
        {"role": "tool", "content": "7"},  # as ChatOllama sends it: no name
    ]
    body = {"model": "m", "messages": messages, "tools": [ADD], "stream": False}
    reply = (await client.post(CHAT, json=body)).json()
    # The last message is a tool result: the model echoes it, and the loop ends.
    assert reply["message"] == {"role": "assistant", "content": "7"}


def test_tool_results_are_paired_by_id_then_name_then_order() -> None:
    from echo_model.serving.protocols.ollama import schemas as ol
    from echo_model.serving.protocols.ollama.messages import to_langchain

    def call(name: str, call_id: str | None = None) -> dict[str, Any]:
        return {"id": call_id, "function": {"name": name, "arguments": {}}}

    raw = [
        {"role": "assistant", "tool_calls": [call("a"), call("b"), call("c", "x")]},
        {"role": "tool", "content": "1", "tool_call_id": "x"},
        {"role": "tool", "content": "2", "tool_name": "b"},
        {"role": "tool", "content": "3"},
        {"role": "tool", "content": "4"},
    ]
    converted = to_langchain([ol.Message.model_validate(m) for m in raw])
    assert [m.tool_call_id for m in converted[1:]] == [  # type: ignore[attr-defined]
        "x",
        "call_0_1",
        "call_0_0",
        "call_4",
    ]
    assert [m.name for m in converted[1:]] == ["c", "b", "a", None]


async def test_format_json_schema_reply_validates(client: httpx.AsyncClient) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["city", "n"],
    }
    reply = await client.post(CHAT, json=chat("Paris 3", stream=False, format=schema))
    data = json.loads(reply.json()["message"]["content"])
    assert isinstance(data["city"], str)
    assert isinstance(data["n"], int)
    mode = await client.post(CHAT, json=chat("hi", stream=False, format="json"))
    assert json.loads(mode.json()["message"]["content"]) == {"text": "hi"}


async def test_images_are_echoed_with_media_markers(client: httpx.AsyncClient) -> None:
    messages = [{"role": "user", "content": "look:", "images": ["iVBORw0KGgoAAAA"]}]
    body = {"model": "m", "messages": messages, "stream": False}
    reply = (await client.post(CHAT, json=body)).json()
    assert reply["message"]["content"] == "look:[image image/png, 11 bytes]"


async def test_ignored_fields_are_accepted(client: httpx.AsyncClient) -> None:
    body = chat(
        "hi",
        stream=False,
        keep_alive="5m",
        think=True,
        options={"temperature": 0.2, "seed": 7, "num_ctx": 8},
        logprobs=False,
    )
    reply = await client.post(CHAT, json=body)
    assert reply.json()["message"]["content"] == "hi"


async def test_no_messages_loads_the_model(client: httpx.AsyncClient) -> None:
    for path, body in ((CHAT, {"model": "m"}), (GENERATE, {"model": "m"})):
        reply = (await client.post(path, json=body)).json()
        assert (reply["done"], reply["done_reason"]) == (True, "load")


async def test_durations_follow_the_simulated_latency(
    client: httpx.AsyncClient,
) -> None:
    echo = {"first_token_delay": 0.05, "token_delay": 0.02}
    for stream in (True, False):
        response = await client.post(
            CHAT, json=chat("abcd", stream=stream, options={"echo": echo})
        )
        final = lines_of(response)[-1] if stream else response.json()
        ms = {k: final[k] / 1e6 for k in final if k.endswith("_duration")}
        assert ms["total_duration"] == pytest.approx(
            ms["load_duration"] + ms["prompt_eval_duration"] + ms["eval_duration"],
            abs=1e-6,
        )
        # The engine paces the first token from the request's arrival.
        ttft = ms["load_duration"] + ms["prompt_eval_duration"]
        assert 45 <= ttft <= 150, (stream, ms)
        assert 55 <= ms["eval_duration"] <= 200, (stream, ms)  # 3 gaps of 20 ms
        assert ms["total_duration"] >= 105, (stream, ms)


# --- Generate --------------------------------------------------------------------


async def test_generate_streams_response_lines(client: httpx.AsyncClient) -> None:
    body = {"model": "m", "prompt": "hey", "system": "be brief", "suffix": "!"}
    lines = lines_of(await client.post(GENERATE, json=body))
    *chunks, final = lines
    assert "".join(c["response"] for c in chunks) == "hey"
    assert set(final) == FINAL_KEYS | {"response"}
    assert final["response"] == ""
    assert final["prompt_eval_count"] == len("be brief") + len("hey")
    whole = await client.post(GENERATE, json={**body, "stream": False, "raw": True})
    assert whole.json()["response"] == "hey"


# --- Embeddings ------------------------------------------------------------------


async def test_embed_uses_echo_embeddings(client: httpx.AsyncClient) -> None:
    reply = await client.post(
        "/api/embed", json={"model": "m", "input": ["cats purr", "dogs"]}
    )
    data = reply.json()
    assert set(data) == {
        "model",
        "embeddings",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
    }
    assert data["embeddings"] == [embed_text("cats purr"), embed_text("dogs")]
    assert data["prompt_eval_count"] == len("cats purr") + len("dogs")
    one = await client.post(
        "/api/embed",
        json={"model": "m", "input": "cats", "dimensions": 8, "truncate": True},
    )
    assert one.json()["embeddings"] == [embed_text("cats", 8)]
    legacy = await client.post("/api/embeddings", json={"model": "m", "prompt": "x y"})
    assert legacy.json() == {"embedding": embed_text("x y")}


async def test_embed_refusals(client: httpx.AsyncClient) -> None:
    bad = await client.post(
        "/api/embed", json={"model": "m", "input": "a", "dimensions": 0}
    )
    assert bad.status_code == 400
    assert "dimensions" in error_of(bad)
    assert (await client.post("/api/embed", json={"input": "a"})).status_code == 400


# --- Models ----------------------------------------------------------------------


async def test_model_routes(client: httpx.AsyncClient) -> None:
    tags = (await client.get("/api/tags")).json()
    [model] = tags["models"]
    assert model["name"] == model["model"] == "echo:latest"
    datetime.fromisoformat(model["modified_at"])
    assert {"size", "digest", "details"} <= set(model)
    show = (await client.post("/api/show", json={"model": "anything"})).json()
    assert show["model_info"]["general.architecture"] == "echo"
    assert "tools" in show["capabilities"]
    [running] = (await client.get("/api/ps")).json()["models"]
    assert running["name"] == "echo:latest"
    datetime.fromisoformat(running["expires_at"])
    version = (await client.get("/api/version")).json()
    assert set(version) == {"version"}


# --- Errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, {"messages": [{"role": "user", "content": "hi"}]}),
        (CHAT, {"model": "", "messages": []}),
        (GENERATE, {"prompt": "hi"}),
        ("/api/embed", {"input": "hi"}),
        ("/api/embeddings", {"prompt": "hi"}),
        ("/api/show", {}),
    ],
)
async def test_a_missing_model_is_ollama_s_400(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert error_of(response) == "model is required"


async def test_malformed_requests_are_400s(client: httpx.AsyncClient) -> None:
    cases = [
        (b"{not json", "invalid JSON"),
        (b"[]", "JSON object"),
        (json.dumps(chat(stream="x")).encode(), "'stream'"),
        (
            json.dumps({"model": "m", "messages": [{"role": "bot"}]}).encode(),
            "'messages.0.role'",
        ),
        (json.dumps(chat(options={"num_predict": "x"})).encode(), "num_predict"),
        (json.dumps(chat(options={"stop": 3})).encode(), "options.stop"),
        (json.dumps(chat(options={"echo": {"n": -1}})).encode(), "options.echo.n"),
        (json.dumps(chat(options={"echo": {"nope": 1}})).encode(), "unknown option"),
    ]
    for raw, expected in cases:
        response = await client.post(CHAT, content=raw)
        assert response.status_code == 400, raw
        assert expected in error_of(response), raw


async def test_unknown_routes_and_methods_keep_ollama_s_shape(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/pull")
    assert missing.status_code == 404
    assert "404 page not found" in error_of(missing)
    wrong = await client.get(CHAT)
    assert wrong.status_code == 405
    error_of(wrong)


async def test_the_index_stays_the_server_s(client: httpx.AsyncClient) -> None:
    assert "playground" in (await client.get("/")).json()


@pytest.fixture(scope="module")
def keyed_app() -> FastAPI:
    return create_app(
        Settings(max_body_bytes=1000, api_key=SecretStr("sk-1"), max_messages=2)
    )


@pytest.fixture
async def keyed(keyed_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=keyed_app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test",
        headers={"Authorization": "Bearer sk-1"},
    ) as c:
        yield c


async def test_the_api_key_applies_as_a_bearer_token(
    keyed: httpx.AsyncClient,
) -> None:
    assert (await keyed.post(CHAT, json=chat(stream=False))).status_code == 200
    for path in ("/api/tags", "/api/version"):
        assert (await keyed.get(path)).status_code == 200
        refused = await keyed.get(path, headers={"Authorization": "Bearer wrong"})
        assert refused.status_code == 401
        assert "API key" in error_of(refused)
    # ChatOllama's base_url http://user:key@host sends HTTP Basic.
    basic = await keyed.get("/api/tags", auth=httpx.BasicAuth("u", "sk-1"))
    assert basic.status_code == 200


async def test_limits_answer_in_ollama_s_shape(keyed: httpx.AsyncClient) -> None:
    too_big = await keyed.post(CHAT, json=chat("x" * 2000))
    assert too_big.status_code == 413
    error_of(too_big)
    too_many = await keyed.post(
        CHAT, json={"model": "m", "messages": [{"role": "user", "content": "a"}] * 3}
    )
    assert too_many.status_code == 400
    assert "at most 2 messages" in error_of(too_many)


# --- Faults ----------------------------------------------------------------------


async def test_a_fault_before_the_first_chunk_is_a_500(
    client: httpx.AsyncClient,
) -> None:
    for stream in (False, True):
        body = chat(stream=stream, options={"echo": {"fail_after_chunks": 0}})
        response = await client.post(CHAT, json=body)
        assert response.status_code == 500
        assert "injected" in error_of(response)


@pytest.mark.parametrize(
    ("header", "options"),
    [
        ("error; after=2", {}),
        (None, {"echo": {"fault": "error; after=2"}}),
        (None, {"echo": {"fail_after_chunks": 2}}),
    ],
)
async def test_a_fault_mid_stream_is_an_error_line(
    client: httpx.AsyncClient, header: str | None, options: dict[str, Any]
) -> None:
    headers = {"X-Echo-Fault": header} if header else {}
    response = await client.post(
        CHAT, json=chat("hello", options=options), headers=headers
    )
    assert response.status_code == 200
    *chunks, last = lines_of(response)
    assert "".join(c["message"]["content"] for c in chunks) == "he"
    assert set(last) == {"error"}
    assert "injected" in last["error"]


async def test_status_faults_and_header_errors(client: httpx.AsyncClient) -> None:
    limited = await client.post(
        CHAT, json=chat(), headers={"X-Echo-Fault": "status=429; retry_after=2"}
    )
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    error_of(limited)
    by_option = await client.post(
        GENERATE,
        json={
            "model": "m",
            "prompt": "x",
            "options": {"echo": {"fault": "status=503"}},
        },
    )
    assert by_option.status_code == 503
    error_of(by_option)
    embed = await client.post(
        "/api/embed",
        json={"model": "m", "input": "x"},
        headers={"X-Echo-Fault": "status=500"},
    )
    assert embed.status_code == 500
    bad = await client.post(CHAT, json=chat(), headers={"X-Echo-Fault": "nonsense"})
    assert bad.status_code == 400
    assert "X-Echo-Fault" in error_of(bad)


async def test_whole_reply_faults(client: httpx.AsyncClient) -> None:
    error = await client.post(
        CHAT, json=chat(stream=False), headers={"X-Echo-Fault": "error"}
    )
    assert error.status_code == 500
    error_of(error)


async def test_context_window_refusal_is_ollama_s() -> None:
    app = create_app(Settings(context_window=3))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.post(CHAT, json=chat("hello"))
        assert response.status_code == 400
        assert "4 maximum" not in error_of(response)
        assert "3" in error_of(response)
        ok = await c.post(GENERATE, json={"model": "m", "prompt": "abc"})
        assert ok.status_code == 200


async def test_requests_and_failures_are_counted_as_ollama_s(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    metrics = app.state.metrics

    def count(name: str) -> float:
        labels = {"model_name": metrics.model_name, "protocol": "ollama"}
        return metrics.registry.get_sample_value(name, labels) or 0.0

    before = count("echo:requests_total"), count("echo:request_errors_total")
    assert (await client.post(CHAT, json=chat(stream=False))).status_code == 200
    assert (await client.post(CHAT, json=chat())).status_code == 200
    broken = await client.post(
        CHAT, json=chat(options={"echo": {"fail_after_chunks": 1}})
    )
    assert '"error"' in broken.text.splitlines()[-1]
    assert (await client.post(CHAT, json={"messages": []})).status_code == 400
    after = count("echo:requests_total"), count("echo:request_errors_total")
    assert (after[0] - before[0], after[1] - before[1]) == (4, 2)


# --- Streamed lines accumulate to the whole reply ---------------------------------

texts = st.text(alphabet=st.sampled_from('abc add(1,2)x. {}"é\U0001f600'), max_size=30)
fields = st.fixed_dictionaries(
    {},
    optional={
        "tools": st.just([ADD]),
        "format": st.sampled_from(["json", "", ADD["function"]["parameters"]]),
        "options": st.fixed_dictionaries(
            {},
            optional={
                "num_predict": st.integers(-2, 40),
                "stop": st.lists(st.text("abc.", min_size=1, max_size=2), max_size=4),
                "echo": st.fixed_dictionaries({}, optional={"n": st.integers(0, 40)}),
            },
        ),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=texts, extra=fields, path=st.sampled_from([CHAT, GENERATE]))
async def test_streamed_lines_accumulate_to_the_whole_reply(
    app: FastAPI, text: str, extra: dict[str, Any], path: str
) -> None:
    if path == CHAT:
        body = chat(text, **extra)
    else:
        body = {"model": "m", "prompt": text or "-", **extra}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        whole = (await client.post(path, json={**body, "stream": False})).json()
        streamed = lines_of(await client.post(path, json=body))
    *chunks, final = streamed
    assert all(not c["done"] for c in chunks)
    assert final["done"] is True
    counts = ("done_reason", "prompt_eval_count", "eval_count", "model")
    assert {k: final[k] for k in counts} == {k: whole[k] for k in counts}
    if path == GENERATE:
        assert "".join(c["response"] for c in chunks) == whole["response"]
        return
    content = "".join(c["message"]["content"] for c in chunks)
    calls = [call for c in chunks for call in c["message"].get("tool_calls", [])]
    assert content == whole["message"]["content"]
    assert calls == whole["message"].get("tool_calls", [])


async def test_bodies_are_json_whatever_their_media_type(
    client: httpx.AsyncClient,
) -> None:
    # Ollama's docs use `curl -d '{...}'`, which says form-urlencoded.
    raw = json.dumps(chat("hi", stream=False)).encode()
    for content_type in ("application/x-www-form-urlencoded", None):
        headers = {"content-type": content_type} if content_type else {}
        response = await client.post(CHAT, content=raw, headers=headers)
        assert response.json()["message"]["content"] == "hi", content_type
