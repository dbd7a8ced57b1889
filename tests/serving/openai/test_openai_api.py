"""The OpenAI adapter in process: edge cases, error shapes, stream = whole reply."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from echo_model.chat_models import EchoChatModel
from echo_model.serving.app import create_app
from echo_model.serving.settings import Settings
from tests.support.sse import parse_sse

URL = "/v1/chat/completions"
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


def body(content: Any = "hello", **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": content}], **fields}


async def post(client: httpx.AsyncClient, payload: Any) -> httpx.Response:
    return await client.post(URL, json=payload)


def error_of(response: httpx.Response) -> dict[str, Any]:
    data = response.json()
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "param", "code"}
    return data["error"]


def chunks_of(response: httpx.Response) -> list[Any]:
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e.data for e in parse_sse(response.text)]
    assert events[-1] == "[DONE]"
    return events[:-1]


# --- Replies ---------------------------------------------------------------------


async def test_content_parts_are_echoed_with_media_markers(
    client: httpx.AsyncClient,
) -> None:
    parts = [
        {"type": "text", "text": "look: "},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {
            "type": "file",
            "file": {"file_data": "data:application/pdf;base64,AAAA", "filename": "a"},
        },
        {"type": "file", "file": {"file_id": "file-1"}},
    ]
    reply = (await post(client, body(parts))).json()
    assert reply["choices"][0]["message"]["content"] == (
        "look: [image https://example.com/cat.png][image image/png, 3 bytes]"
        "[audio audio/wav, 3 bytes][file application/pdf, 3 bytes][file id file-1]"
    )


async def test_every_role_is_accepted_and_the_last_message_echoed(
    client: httpx.AsyncClient,
) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": [{"type": "text", "text": "really"}]},
        {"role": "user", "content": "add(1, 2)", "name": "ann"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "add", "arguments": "not json"},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [{"type": "text", "text": "3"}],
        },
    ]
    reply = (
        await post(client, {"model": "m", "messages": messages, "tools": [ADD]})
    ).json()
    assert reply["choices"][0]["message"]["content"] == "3"
    assert reply["usage"]["prompt_tokens"] == len(
        "be brief" + "really" + "add(1, 2)" + "3"
    )


async def test_n_choices_are_identical(client: httpx.AsyncClient) -> None:
    reply = (await post(client, body("hi", n=3))).json()
    assert [c["index"] for c in reply["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in reply["choices"]} == {"hi"}
    assert reply["usage"]["completion_tokens"] == 6
    chunks = chunks_of(await post(client, body("hi", n=2, stream=True)))
    for index in (0, 1):
        deltas = [
            c["choices"][0]["delta"]
            for c in chunks
            if c["choices"][0]["index"] == index
        ]
        assert "".join(d.get("content", "") for d in deltas) == "hi"


async def test_json_schema_reply_is_valid_against_the_schema(
    client: httpx.AsyncClient,
) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": schema, "strict": True},
    }
    reply = (
        await post(client, body("Ann is 7", response_format=response_format))
    ).json()
    assert json.loads(reply["choices"][0]["message"]["content"]) == {
        "name": "Ann is 7",
        "age": 7,
    }
    text = (await post(client, body("Ann", response_format={"type": "text"}))).json()
    assert text["choices"][0]["message"]["content"] == "Ann"


async def test_invalid_tool_calls_travel_as_the_model_wrote_them(
    client: httpx.AsyncClient,
) -> None:
    reply = (await post(client, body("add(1, 2, 3)", tools=[ADD]))).json()
    (call,) = reply["choices"][0]["message"]["tool_calls"]
    in_process = EchoChatModel().bind_tools([ADD]).invoke("add(1, 2, 3)")
    (written,) = in_process.invalid_tool_calls
    assert call["function"] == {"name": "add", "arguments": written["args"]}
    assert call["id"] == written["id"]
    assert reply["choices"][0]["finish_reason"] == "tool_calls"


async def test_parallel_tool_calls_false_keeps_the_first_call(
    client: httpx.AsyncClient,
) -> None:
    text = "add(1, 2) add(3, 4)"
    both = (await post(client, body(text, tools=[ADD]))).json()
    one = (
        await post(client, body(text, tools=[ADD], parallel_tool_calls=False))
    ).json()
    assert len(both["choices"][0]["message"]["tool_calls"]) == 2
    assert (
        one["choices"][0]["message"]["tool_calls"]
        == (both["choices"][0]["message"]["tool_calls"][:1])
    )
    assert one["usage"]["completion_tokens"] < both["usage"]["completion_tokens"]


async def test_tool_choice_none_and_auto(client: httpx.AsyncClient) -> None:
    none = (
        await post(client, body("add(1, 2)", tools=[ADD], tool_choice="none"))
    ).json()
    assert none["choices"][0]["message"]["content"] == "add(1, 2)"
    auto = (await post(client, body("hello", tools=[ADD], tool_choice="auto"))).json()
    assert auto["choices"][0]["message"]["content"] == "hello"
    required = (
        await post(client, body("hello", tools=[ADD], tool_choice="required"))
    ).json()
    assert (
        required["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "add"
    )


async def test_ignored_fields_are_accepted(client: httpx.AsyncClient) -> None:
    extra = {
        "seed": 1,
        "temperature": 0.2,
        "top_p": 0.5,
        "user": "u",
        "logprobs": False,
        "metadata": {"k": "v"},
        "store": False,
        "parallel_tool_calls": False,
        "some_future_field": {"x": 1},
    }
    response = await post(client, body("hi", **extra))
    assert response.status_code == 200
    assert response.json()["choices"][0]["logprobs"] is None


async def test_models_routes(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/models")).json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["echo"]
    model = (await client.get("/v1/models/gpt-4o")).json()
    assert (model["id"], model["object"]) == ("gpt-4o", "model")


# --- Errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "a"}]}, "model"),
        ({"model": "m", "messages": [{"content": "a"}]}, "messages.[0].role"),
        (
            {"model": "m", "messages": [{"role": "bot", "content": "a"}]},
            "messages.[0].role",
        ),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages.[0].content"),
        (body([{"type": "video"}]), "messages.[0].content.[0].type"),
        (body(tool_choice="sometimes", tools=[ADD]), "tool_choice"),
        (
            body(
                tool_choice={"type": "function", "function": {"name": "sub"}},
                tools=[ADD],
            ),
            "tool_choice",
        ),
        (body(tool_choice="required"), "tool_choice"),
        (body(stop=["a", "b", "c", "d", "e"]), "stop"),
        (body(stop=["a", 1]), "stop.[1]"),
        (body(max_tokens=0), "max_tokens"),
        (body(max_tokens="5"), "max_tokens"),
        (body(n=0), "n"),
        (body(temperature=3), "temperature"),
        (body(stream="yes"), "stream"),
        (body(response_format={"type": "xml"}), "response_format.type"),
        (body(echo={"n": -1}), "echo.n"),
        (body(echo={"token_delay": 99}), "echo.token_delay"),
        (body(echo={"bogus": 1}), "echo"),
        (
            body(tools=[{"type": "function", "function": {"name": "bad name"}}]),
            "tools.[0].function.name",
        ),
    ],
)
async def test_malformed_requests_are_openai_400s(
    client: httpx.AsyncClient, payload: Any, param: str
) -> None:
    response = await post(client, payload)
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b""])
async def test_bodies_that_are_not_a_json_object_are_400s(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await client.post(
        URL, content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


async def test_unknown_v1_routes_are_openai_404s(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/completions", json={})
    assert response.status_code == 404
    assert error_of(response)["message"] == "Invalid URL (POST /v1/completions)"
    wrong_method = await client.get(URL)
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["type"] == "invalid_request_error"


@pytest.fixture(scope="module")
def small_app() -> FastAPI:
    return create_app(
        Settings(max_body_bytes=1000, api_key=SecretStr("sk-1"), max_messages=2)
    )


@pytest.fixture
async def small(small_app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=small_app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test",
        headers={"Authorization": "Bearer sk-1"},
    ) as c:
        yield c


async def test_auth_is_required_and_errors_are_openai_401s(
    small: httpx.AsyncClient,
) -> None:
    assert (await small.post(URL, json=body())).status_code == 200
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": ""}):
        response = await small.post(URL, json=body(), headers=headers)
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_api_key"
    assert (
        await small.get("/v1/models", headers={"Authorization": ""})
    ).status_code == 401


async def test_oversized_bodies_are_openai_413s_and_langserve_keeps_its_shape(
    small: httpx.AsyncClient,
) -> None:
    response = await small.post(URL, json=body("x" * 2000))
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"
    langserve = await small.post("/echo/invoke", json={"input": "x" * 2000})
    assert langserve.status_code == 413
    assert set(langserve.json()) == {"detail"}


async def test_too_many_messages_are_refused(small: httpx.AsyncClient) -> None:
    messages = [{"role": "user", "content": "a"}] * 3
    response = await small.post(URL, json={"model": "m", "messages": messages})
    assert response.status_code == 400
    assert error_of(response)["param"] == "messages"


async def test_langserve_validation_errors_keep_fastapi_s_shape(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/echo/invoke", json={"input": {"bad": 1}})
    assert response.status_code == 422
    assert "detail" in response.json()


async def test_injected_fault_before_the_first_chunk_is_an_openai_500(
    client: httpx.AsyncClient,
) -> None:
    for stream in (False, True):
        response = await post(
            client, body(stream=stream, echo={"fail_after_chunks": 0})
        )
        assert response.status_code == 500
        error = error_of(response)
        assert (error["type"], error["code"]) == ("server_error", "injected_fault")


async def test_injected_fault_mid_stream_is_an_error_event(
    client: httpx.AsyncClient,
) -> None:
    response = await post(
        client, body("hello", stream=True, echo={"fail_after_chunks": 2})
    )
    assert response.status_code == 200
    events = [e.data for e in parse_sse(response.text)]
    assert "[DONE]" not in events
    *chunks, last = events
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "he"
    assert last["error"]["code"] == "injected_fault"


# --- Streamed deltas concatenate to the whole reply ------------------------------

prefixes = st.text(alphabet=st.sampled_from('abc x. {}"é\U0001f600'), max_size=20)
#: An ``add(...)`` call as a user writes it: valid (integers), invalid (a name,
#: a float, a string, too many arguments) or unfinished, once or twice.
arguments = st.lists(
    st.integers(-9, 99).map(str) | st.sampled_from(["x", "1.5", '"a"', "b=2", "a=1"]),
    max_size=3,
).map(", ".join)
one_call = st.builds(
    lambda args, end: f"add({args}{end}", arguments, st.sampled_from([")", ")", ""])
)
calls = st.lists(one_call, min_size=0, max_size=2).map(" and ".join)
texts = st.builds(lambda prefix, call: prefix + call, prefixes, calls)
options = st.fixed_dictionaries(
    # Tools in three requests of four: a call is what the strategy is for.
    {"tools": st.sampled_from([[ADD], [ADD], [ADD], None])},
    optional={
        "max_tokens": st.integers(1, 40),
        "stop": st.lists(st.text("abc.", min_size=1, max_size=2), max_size=4),
        "parallel_tool_calls": st.booleans(),
        "tool_choice": st.sampled_from(["auto", "none", "required"]),
        "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
        "echo": st.fixed_dictionaries({}, optional={"n": st.integers(0, 40)}),
    },
)


def aggregate(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Rebuild a completion's message, finish reason and usage from its chunks."""
    content, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        if chunk["usage"] is not None:
            usage = chunk["usage"]
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for call in delta.get("tool_calls", []):
                entry = calls.setdefault(call["index"], {"arguments": ""})
                entry.update({k: call[k] for k in ("id", "type") if k in call})
                function = call.get("function", {})
                if "name" in function:
                    entry["name"] = function["name"]
                entry["arguments"] += function.get("arguments", "")
            finish = choice["finish_reason"] or finish
    return {"content": content, "calls": calls, "finish": finish, "usage": usage}


def reply_kind(message: dict[str, Any]) -> str:
    """Name what a reply holds: valid tool calls, invalid ones, or text only."""
    calls = message.get("tool_calls") or []
    if not calls:
        return "text"
    valid = [c for c in calls if _is_object(c["function"]["arguments"])]
    return "invalid call" if len(valid) < len(calls) else "valid call"


def _is_object(arguments: str) -> bool:
    try:
        return isinstance(json.loads(arguments), dict)
    except ValueError:
        return False


def request_fields(drawn: dict[str, Any]) -> dict[str, Any]:
    """The drawn fields as a request sends them: no null tools; tools if required."""
    fields = {k: v for k, v in drawn.items() if v is not None}
    if fields.get("tool_choice") == "required":
        fields["tools"] = [ADD]
    return fields


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck)
)


@PROPERTY_SETTINGS
@given(text=texts, fields=options)
@example(text="add(x)", fields={"tools": [ADD]})  # an invalid call
@example(text="add(1, 2)", fields={"tools": [ADD]})
@example(text="add(1.5, 2) and add(3, b=4)", fields={"tools": [ADD]})
@example(text="add(1, 2, 3", fields={"tools": [ADD], "tool_choice": "required"})
@example(text="add(1, 2) and add(x)", fields={"tools": [ADD], "max_tokens": 3})
async def test_streamed_deltas_concatenate_to_the_whole_reply(
    app: FastAPI, text: str, fields: dict[str, Any]
) -> None:
    fields = request_fields(fields)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        whole = (await post(client, body(text, **fields))).json()
        streamed = await post(
            client,
            body(text, stream=True, stream_options={"include_usage": True}, **fields),
        )
    rebuilt = aggregate(chunks_of(streamed))
    choice = whole["choices"][0]
    message = choice["message"]
    assert rebuilt["content"] == (message["content"] or "")
    assert [
        {"id": c["id"], "type": "function", **c["function"]}
        for c in message.get("tool_calls", [])
    ] == [
        {
            "id": c["id"],
            "type": c["type"],
            "name": c["name"],
            "arguments": c["arguments"],
        }
        for _, c in sorted(rebuilt["calls"].items())
    ]
    assert rebuilt["finish"] == choice["finish_reason"]
    assert rebuilt["usage"] == whole["usage"]
    event(reply_kind(message))


def test_the_stream_property_writes_valid_and_invalid_calls(app: FastAPI) -> None:
    # The property above is only as good as its inputs: the same strategies,
    # drawn as often, must write replies with valid and with invalid tool calls.
    from fastapi.testclient import TestClient

    kinds: list[str] = []

    @settings(PROPERTY_SETTINGS, derandomize=True, database=None)
    @given(text=texts, fields=options)
    def draw(text: str, fields: dict[str, Any]) -> None:
        reply = client.post(URL, json=body(text, **request_fields(fields)))
        if reply.status_code == 200:
            kinds.append(reply_kind(reply.json()["choices"][0]["message"]))

    with TestClient(app) as client:
        draw()
    counted = {kind: kinds.count(kind) for kind in ("valid call", "invalid call")}
    assert min(counted.values()) >= 5, counted


# --- Metrics -------------------------------------------------------------------------


async def test_requests_and_failures_are_counted_as_openai_s(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    metrics = app.state.metrics

    def count(name: str) -> float:
        # Labelled with the served model name, whatever name the client sends.
        labels = {"model_name": metrics.model_name, "protocol": "openai"}
        return metrics.registry.get_sample_value(name, labels) or 0.0

    before = count("echo:requests_total"), count("echo:request_errors_total")
    request = {"model": "gpt-metrics", "messages": [{"role": "user", "content": "hi"}]}
    assert (await post(client, request)).status_code == 200
    assert (await post(client, {**request, "stream": True})).status_code == 200
    streamed_fault = {**request, "stream": True, "echo": {"fail_after_chunks": 1}}
    broken = await post(client, streamed_fault)
    assert '"code":"injected_fault"' in broken.text.rsplit("data: ", 1)[-1]
    refused = await post(client, {**request, "echo": {"n": -1}})
    assert refused.status_code == 400
    after = count("echo:requests_total"), count("echo:request_errors_total")
    assert (after[0] - before[0], after[1] - before[1]) == (4, 2)
