"""Anthropic's Messages API in process: shapes, conversions, errors, and streams.

The anthropic SDK talks to the app through ``httpx.ASGITransport``: the real
client, no network. Over real HTTP: tests/e2e/test_anthropic_clients.py.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import SecretStr

from echo_model import EchoChatModel
from echo_model.serving.app import create_app
from echo_model.serving.protocols.anthropic import schemas as an
from echo_model.serving.protocols.anthropic.frames import tool_use_id
from echo_model.serving.protocols.anthropic.messages import to_langchain
from echo_model.serving.settings import Settings
from tests.support.sse import parse_sse

KEY = "sk-ant-in-process"
USER = [{"role": "user", "content": "hello world"}]
ADD = {
    "name": "add",
    "description": "Add two integers.",
    "input_schema": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}
WEATHER = {
    "name": "get_weather",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


def sdk(app: FastAPI, **options: Any) -> anthropic.AsyncAnthropic:
    """The real anthropic SDK, talking to ``app`` in process."""
    # The SDK's HTTP library is httpx2 (httpx's successor), with the same transport.
    transport = httpx2.ASGITransport(app=app)
    return anthropic.AsyncAnthropic(
        base_url="http://test",
        api_key=options.pop("api_key", "unused"),
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=transport, base_url="http://test"),
        **options,
    )


@pytest.fixture
def client(app: FastAPI) -> anthropic.AsyncAnthropic:
    return sdk(app)


@pytest.fixture(scope="module")
def keyed_app() -> FastAPI:
    return create_app(Settings(api_key=SecretStr(KEY), max_body_bytes=4096))


@pytest.fixture
async def keyed(keyed_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=keyed_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def _without_id(message: anthropic.types.Message) -> dict[str, Any]:
    dumped = message.model_dump()
    assert dumped.pop("id").startswith("msg_")
    return dumped


# --- Streams accumulate to the whole message ------------------------------------

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30
)
stop_lists = st.none() | st.lists(st.text(min_size=1, max_size=3), max_size=3)
calls = st.sampled_from(
    ["", "add(1, 2)", " add(3, b=4) and add(5, 6)", " weather?", " add(x)", " add"]
)
choices = st.sampled_from(
    [
        None,
        {"type": "auto"},
        {"type": "auto", "disable_parallel_tool_use": True},
        {"type": "any"},
        {"type": "tool", "name": "add"},
        {"type": "none"},
    ]
)


@given(
    text=texts,
    call=calls,
    max_tokens=st.integers(min_value=1, max_value=40),
    stop=stop_lists,
    with_tools=st.booleans(),
    tool_choice=choices,
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
async def test_streamed_events_accumulate_to_the_whole_message(
    app: FastAPI,
    text: str,
    call: str,
    max_tokens: int,
    stop: list[str] | None,
    with_tools: bool,
    tool_choice: dict[str, Any] | None,
) -> None:
    request: dict[str, Any] = {
        "model": "claude-echo",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text + call}],
    }
    if stop is not None:
        request["stop_sequences"] = stop
    if with_tools:
        request["tools"] = [ADD, WEATHER]
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
    client = sdk(app)
    whole = await client.messages.create(**request)
    async with client.messages.stream(**request) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert _without_id(final) == _without_id(whole)
    assert "".join(pieces) == "".join(
        block.text for block in whole.content if block.type == "text"
    )
    count = await client.messages.count_tokens(
        **{
            k: v
            for k, v in request.items()
            if k not in ("max_tokens", "stop_sequences")
        }
    )
    assert count.input_tokens == whole.usage.input_tokens


# --- Replies ---------------------------------------------------------------------


async def test_reply_is_the_model_s_echo(client: anthropic.AsyncAnthropic) -> None:
    reply = await client.messages.create(model="c", max_tokens=100, messages=USER)
    direct = await EchoChatModel().ainvoke("hello world")
    assert reply.content[0].type == "text"
    assert reply.content[0].text == direct.content
    assert direct.usage_metadata is not None
    assert reply.usage.input_tokens == direct.usage_metadata["input_tokens"]
    assert reply.usage.output_tokens == direct.usage_metadata["output_tokens"]


async def test_stop_reasons(client: anthropic.AsyncAnthropic) -> None:
    async def reason(**request: Any) -> tuple[str | None, str | None]:
        reply = await client.messages.create(model="c", messages=USER, **request)
        return reply.stop_reason, reply.stop_sequence

    assert await reason(max_tokens=100) == ("end_turn", None)
    assert await reason(max_tokens=3) == ("max_tokens", None)
    assert await reason(max_tokens=100, stop_sequences=["wor"]) == (
        "stop_sequence",
        "wor",
    )
    # The echo's own stop option reports the same way.
    assert await reason(max_tokens=100, extra_body={"echo": {"stop": ["l"]}}) == (
        "stop_sequence",
        "l",
    )


async def test_tool_use_ids_are_the_model_s_call_ids(
    client: anthropic.AsyncAnthropic,
) -> None:
    reply = await client.messages.create(
        model="c",
        max_tokens=100,
        messages=[{"role": "user", "content": "add(2, 3)"}],
        tools=[ADD],
    )
    direct = (
        EchoChatModel()
        .bind_tools(
            [
                {
                    "type": "function",
                    "function": {**ADD, "parameters": ADD["input_schema"]},
                }
            ]
        )
        .invoke("add(2, 3)")
    )
    assert isinstance(direct, AIMessage)
    (block,) = reply.content
    assert block.type == "tool_use"
    # The documented mapping: call_<hex> is toolu_<hex>.
    call_id = str(direct.tool_calls[0]["id"])
    assert call_id.startswith("call_")
    assert block.id == "toolu_" + call_id[len("call_") :] == tool_use_id(call_id)
    again = await client.messages.create(
        model="c",
        max_tokens=100,
        messages=[{"role": "user", "content": "add(2, 3)"}],
        tools=[ADD],
    )
    assert again.content[0].type == "tool_use"
    assert again.content[0].id == block.id


async def test_invalid_tool_call_has_empty_input(
    client: anthropic.AsyncAnthropic,
) -> None:
    reply = await client.messages.create(
        model="c",
        max_tokens=100,
        messages=[{"role": "user", "content": 'add("x", "y")'}],
        tools=[ADD],
    )
    (block,) = reply.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("add", {})
    assert reply.stop_reason == "tool_use"


async def test_structured_output_format(client: anthropic.AsyncAnthropic) -> None:
    schema = {
        "type": "object",
        "properties": {"setup": {"type": "string"}, "rating": {"type": "integer"}},
        "required": ["setup", "rating"],
        "additionalProperties": False,
    }
    reply = await client.messages.create(
        model="c",
        max_tokens=100,
        messages=[{"role": "user", "content": "cats, 7 of 10"}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == '{"setup": "cats, 7 of 10", "rating": 7}'


# --- Conversion to LangChain messages ----------------------------------------------


def test_blocks_become_langchain_s_standard_blocks() -> None:
    data = base64.b64encode(b"12345").decode()
    body = an.MessagesRequest.model_validate(
        {
            "model": "c",
            "max_tokens": 1,
            "system": [{"type": "text", "text": "sys"}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": data,
                            },
                        },
                        {
                            "type": "document",
                            "source": {"type": "file", "file_id": "file_1"},
                            "title": "T",
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "s"},
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "f",
                            "input": {"x": 1},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "ok"}],
                            "is_error": True,
                        },
                        {"type": "text", "text": "and then?"},
                    ],
                },
            ],
        }
    )
    system, user, assistant, result, after = to_langchain(body.system, body.messages)
    assert system == SystemMessage(content=[{"type": "text", "text": "sys"}])
    assert user == HumanMessage(
        content=[
            {"type": "text", "text": "look"},
            {"type": "image", "base64": data, "mime_type": "image/png"},
            {"type": "file", "file_id": "file_1", "title": "T"},
        ]
    )
    assert isinstance(assistant, AIMessage)
    assert assistant.content == [
        {"type": "thinking", "thinking": "hm", "signature": "s"}
    ]
    assert [(c["name"], c["args"], c["id"]) for c in assistant.tool_calls] == [
        ("f", {"x": 1}, "t1")
    ]
    assert isinstance(result, ToolMessage)
    assert (result.tool_call_id, result.status) == ("t1", "error")
    assert result.content == [{"type": "text", "text": "ok"}]
    assert after == HumanMessage(content=[{"type": "text", "text": "and then?"}])


async def test_thinking_in_history_is_not_echoed(
    client: anthropic.AsyncAnthropic,
) -> None:
    reply = await client.messages.create(
        model="c",
        max_tokens=100,
        messages=[
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "secret", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xyz"},
                    {"type": "text", "text": "partial"},
                ],
            },
        ],
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "partial"
    assert reply.usage.input_tokens == len("q") + len("partial")


# --- Errors --------------------------------------------------------------------------


async def test_auth_accepts_x_api_key_and_bearer(keyed: httpx.AsyncClient) -> None:
    body = {"model": "c", "max_tokens": 5, "messages": USER}
    versions = {"anthropic-version": "2023-06-01", "anthropic-beta": "a,b"}
    for headers in ({"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}):
        reply = await keyed.post("/v1/messages", json=body, headers=headers | versions)
        assert reply.status_code == 200, reply.text
    reply = await keyed.post("/v1/messages", json=body, headers={"x-api-key": "no"})
    assert reply.status_code == 401
    assert reply.json()["type"] == "error"
    assert reply.json()["error"]["type"] == "authentication_error"


async def test_errors_have_anthropic_s_shape_and_status(
    keyed: httpx.AsyncClient,
) -> None:
    auth = {"x-api-key": KEY}
    invalid = "invalid_request_error"
    ok = {"model": "c", "max_tokens": 5, "messages": USER}
    cases = [
        ("/v1/messages/nope", {}, 404, "not_found_error"),
        ("/v1/messages", {"model": "c", "messages": USER}, 400, invalid),
        ("/v1/messages", {**ok, "max_tokens": 0}, 400, invalid),
        ("/v1/messages", {**ok, "x": "y" * 5000}, 413, "request_too_large"),
        ("/v1/messages/count_tokens", {"model": "c", "messages": []}, 400, invalid),
    ]
    for path, body, status, kind in cases:
        reply = await keyed.post(path, json=body, headers=auth)
        assert reply.status_code == status, (path, body, reply.text)
        error = reply.json()
        assert error["type"] == "error"
        assert error["error"]["type"] == kind
        assert isinstance(error["error"]["message"], str)
    reply = await keyed.get("/v1/messages", headers=auth)
    assert (reply.status_code, reply.json()["error"]["type"]) == (
        404,
        "not_found_error",
    )
    bad_json = await keyed.post(
        "/v1/messages",
        content=b"{",
        headers=auth | {"content-type": "application/json"},
    )
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]["message"]


async def test_openai_routes_keep_openai_s_error_shape(
    keyed: httpx.AsyncClient,
) -> None:
    reply = await keyed.post("/v1/chat/completions", json={"model": "m"})
    assert reply.status_code == 401
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}
    reply = await keyed.post(
        "/v1/chat/completions", json={"model": "m"}, headers={"x-api-key": KEY}
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "messages"
    assert "type" not in reply.json()


TOOL_SUB = {"type": "tool", "name": "sub"}
RESULT = {"type": "tool_result", "tool_use_id": "x"}
TOOL_USE = {"type": "tool_use", "id": "x", "name": "f", "input": {}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages.0.content.0.text: Field required",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages.0.content.0.type: Input tag 'video' found",
        ),
        (
            {"messages": USER, "tool_choice": {"type": "tool", "name": "add"}},
            "'tool_choice' forces a tool call, but no 'tools' were given",
        ),
        (
            {"messages": USER, "tools": [ADD], "tool_choice": TOOL_SUB},
            "names tool 'sub'",
        ),
        (
            {"messages": USER, "tools": [{**ADD, "type": "web_search_20250305"}]},
            "tools.0.type",
        ),
        (
            {"messages": [{"role": "assistant", "content": [RESULT]}]},
            "messages.0.content.0: a tool_result block cannot be in an assistant",
        ),
        (
            {"messages": [{"role": "user", "content": [TOOL_USE]}]},
            "messages.0.content.0: a tool_use block belongs in an assistant message",
        ),
        ({"messages": USER, "stop_sequences": ["x"] * 65}, "stop_sequences"),
        ({"messages": USER, "extra_body": {"echo": {"n": -1}}}, "echo.n"),
        ({"messages": USER, "extra_body": {"echo": {"bogus": 1}}}, "unknown option"),
    ],
)
async def test_bad_input_is_a_400_saying_what(
    client: anthropic.AsyncAnthropic, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model="c", max_tokens=10, **body)
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert message in error["error"]["message"]


async def test_fault_before_output_is_a_500_api_error(
    client: anthropic.AsyncAnthropic,
) -> None:
    for stream in (False, True):
        with pytest.raises(anthropic.InternalServerError) as caught:
            await client.messages.create(
                model="c",
                max_tokens=10,
                messages=USER,
                stream=stream,
                extra_body={"echo": {"fail_after_chunks": 0}},
            )
        assert caught.value.status_code == 500
        body = caught.value.body
        assert isinstance(body, dict)
        assert body["error"]["type"] == "api_error"
        assert "injected" in body["error"]["message"]


async def test_fault_mid_stream_is_an_error_event_then_the_end(
    app: FastAPI,
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        reply = await http.post(
            "/v1/messages",
            json={
                "model": "c",
                "max_tokens": 10,
                "messages": USER,
                "stream": True,
                "echo": {"fail_after_chunks": 3},
            },
        )
    assert reply.status_code == 200
    events = parse_sse(reply.text)
    assert [e.event for e in events] == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 3,
        "error",
    ]
    assert events[-1].data["type"] == "error"
    assert events[-1].data["error"]["type"] == "api_error"
    assert all(e.event == e.data["type"] for e in events)


# --- Metrics -------------------------------------------------------------------------


async def test_requests_and_failures_are_counted_as_anthropic_s(app: FastAPI) -> None:
    metrics = app.state.metrics

    def count(name: str) -> float:
        # Labelled with the served model name, whatever name the client sends.
        labels = {"model_name": metrics.model_name, "protocol": "anthropic"}
        return metrics.registry.get_sample_value(name, labels) or 0.0

    before = count("echo:requests_total"), count("echo:request_errors_total")
    client = sdk(app)
    request: dict[str, Any] = {"model": "claude-metrics", "max_tokens": 9}
    await client.messages.create(messages=USER, **request)
    async with client.messages.stream(messages=USER, **request) as stream:
        await stream.get_final_message()
    fault = {"echo": {"fail_after_chunks": 2}}
    with pytest.raises(anthropic.APIStatusError):
        async with client.messages.stream(
            messages=USER, extra_body=fault, **request
        ) as stream:
            await stream.get_final_message()
    with pytest.raises(anthropic.BadRequestError):
        await client.messages.create(
            messages=USER, extra_body={"echo": {"n": -1}}, **request
        )
    after = count("echo:requests_total"), count("echo:request_errors_total")
    assert (after[0] - before[0], after[1] - before[1]) == (4, 2)
