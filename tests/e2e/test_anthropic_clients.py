"""Anthropic's SDK and LangChain's ChatAnthropic against the real ``/v1/messages``."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import pytest
from langchain.agents import create_agent
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.tools import tool

from tests.support.clients import API_KEY, Joke
from tests.support.live_server import LiveServer

# ChatAnthropic's async HTTP client is cached per process (by base URL) and
# bound to the event loop that first used it: its async tests share one loop.
SHARED_LOOP = pytest.mark.asyncio(loop_scope="session")

USER: list[Any] = [{"role": "user", "content": "hello world"}]
ADD = {
    "name": "add",
    "description": "Add two integers.",
    "input_schema": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}


@pytest.fixture
def client(server: LiveServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0)


@pytest.fixture
def aclient(server: LiveServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.url, api_key=API_KEY, max_retries=0)


@pytest.fixture
def chat(server: LiveServer) -> ChatAnthropic:
    return ChatAnthropic(
        base_url=server.url, api_key=API_KEY, model="claude-echo", max_retries=0
    )


def _without_id(message: anthropic.types.Message) -> dict[str, Any]:
    dumped = message.model_dump()
    assert dumped.pop("id").startswith("msg_")
    return dumped


# --- The anthropic SDK -------------------------------------------------------------


def test_message_echoes_with_anthropic_s_fields(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(model="claude-echo-1", max_tokens=100, messages=USER)
    assert reply.id.startswith("msg_")
    assert (reply.type, reply.role, reply.model) == (
        "message",
        "assistant",
        "claude-echo-1",
    )
    assert [(b.type, getattr(b, "text", None)) for b in reply.content] == [
        ("text", "hello world")
    ]
    assert (reply.stop_reason, reply.stop_sequence) == ("end_turn", None)
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (11, 11)
    # Anthropic's request-id header, as the SDK reads it.
    assert reply._request_id is not None
    assert reply._request_id.startswith("req_")


async def test_async_message(aclient: anthropic.AsyncAnthropic) -> None:
    reply = await aclient.messages.create(model="m", max_tokens=100, messages=USER)
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "hello world"


def test_bearer_token_and_beta_header_are_accepted(server: LiveServer) -> None:
    bearer = anthropic.Anthropic(base_url=server.url, auth_token=API_KEY, max_retries=0)
    reply = bearer.beta.messages.create(
        model="m",
        max_tokens=100,
        messages=USER,
        betas=["interleaved-thinking-2025-05-14"],
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "hello world"


def test_system_blocks_and_history_are_input(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(
        model="m",
        max_tokens=100,
        system=[{"type": "text", "text": "be brief"}],
        messages=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": [{"type": "text", "text": "three"}]},
        ],
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "three"
    assert reply.usage.input_tokens == len("be brief" + "one" + "two" + "three")


def test_max_tokens_caps_the_reply(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(model="m", max_tokens=4, messages=USER)
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "hell"
    assert reply.stop_reason == "max_tokens"
    assert reply.usage.output_tokens == 4


def test_server_default_n_caps_the_reply(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(
        model="m", max_tokens=1000, messages=[{"role": "user", "content": "x" * 60}]
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "x" * 50  # --n 50
    assert reply.stop_reason == "max_tokens"


def test_stop_sequences_end_the_reply_before_the_sequence(
    client: anthropic.Anthropic,
) -> None:
    reply = client.messages.create(
        model="m", max_tokens=100, messages=USER, stop_sequences=["zz", "o w"]
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "hell"
    assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", "o w")
    assert reply.usage.output_tokens == 4


def test_stream_helpers_accumulate_the_whole_message(
    client: anthropic.Anthropic,
) -> None:
    request: dict[str, Any] = {
        "model": "m",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "stream me, please"}],
    }
    whole = client.messages.create(**request)
    with client.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "stream m"
    assert _without_id(final) == _without_id(whole)
    assert final.stop_reason == "max_tokens"


def test_raw_stream_events_come_in_anthropic_s_order(
    client: anthropic.Anthropic,
) -> None:
    events = list(
        client.messages.create(model="m", max_tokens=100, messages=USER, stream=True)
    )
    types = [event.type for event in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[2:-3] == ["content_block_delta"] * len("hello world")
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    delta = events[-2]
    assert delta.type == "message_delta"
    # ChatAnthropic reads the streamed usage here: input tokens too.
    assert (delta.usage.input_tokens, delta.usage.output_tokens) == (11, 11)


async def test_async_stream_helpers(aclient: anthropic.AsyncAnthropic) -> None:
    request: dict[str, Any] = {
        "model": "m",
        "max_tokens": 100,
        "messages": USER,
        "stop_sequences": [" "],
    }
    whole = await aclient.messages.create(**request)
    async with aclient.messages.stream(**request) as stream:
        final = await stream.get_final_message()
    assert _without_id(final) == _without_id(whole)
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", " ")


def test_tool_use(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(
        model="m",
        max_tokens=100,
        messages=[{"role": "user", "content": "add(2, 3)"}],
        tools=[ADD],
    )
    assert reply.stop_reason == "tool_use"
    (block,) = reply.content
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("add", {"a": 2, "b": 3})
    assert block.id.startswith("toolu_")
    assert reply.usage.output_tokens == len("add") + len('{"a": 2, "b": 3}')


def test_streamed_tool_use_accumulates_to_the_same_blocks(
    client: anthropic.Anthropic,
) -> None:
    request: dict[str, Any] = {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "add(2, 3) and add(40, 50)"}],
        "tools": [ADD],
    }
    whole = client.messages.create(**request)
    with client.messages.stream(**request) as stream:
        final = stream.get_final_message()
    assert _without_id(final) == _without_id(whole)
    assert [b.input for b in final.content if b.type == "tool_use"] == [
        {"a": 2, "b": 3},
        {"a": 40, "b": 50},
    ]


async def test_forced_tool_choice(aclient: anthropic.AsyncAnthropic) -> None:
    reply = await aclient.messages.create(
        model="m",
        max_tokens=100,
        messages=[{"role": "user", "content": "numbers 7 and 8"}],
        tools=[ADD],
        tool_choice={"type": "tool", "name": "add"},
    )
    (block,) = reply.content
    assert block.type == "tool_use"
    assert block.input == {"a": 7, "b": 8}
    reply = await aclient.messages.create(
        model="m",
        max_tokens=100,
        messages=[{"role": "user", "content": "add(1, 2)"}],
        tools=[ADD],
        tool_choice={"type": "none"},
    )
    assert reply.stop_reason == "end_turn"
    assert reply.content[0].type == "text"


def test_disable_parallel_tool_use_keeps_one_call(client: anthropic.Anthropic) -> None:
    request: dict[str, Any] = {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "add(1, 2) then add(3, 4)"}],
        "tools": [ADD],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }
    reply = client.messages.create(**request)
    assert [b.input for b in reply.content if b.type == "tool_use"] == [
        {"a": 1, "b": 2}
    ]
    assert reply.usage.output_tokens == len("add") + len('{"a": 1, "b": 2}')
    with client.messages.stream(**request) as stream:
        assert _without_id(stream.get_final_message()) == _without_id(reply)


def test_tool_result_last_is_echoed(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(
        model="m",
        max_tokens=100,
        tools=[ADD],
        messages=[
            {"role": "user", "content": "add(2, 3)"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "sum it", "signature": "c2ln"},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "add",
                        "input": {"a": 2, "b": 3},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "5"}
                ],
            },
        ],
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "5"
    assert reply.stop_reason == "end_turn"
    # The thinking block is history: accepted, never echoed nor counted.
    assert reply.usage.input_tokens == len("add(2, 3)") + len("5")


def test_media_blocks_are_echoed_as_markers(client: anthropic.Anthropic) -> None:
    data = base64.b64encode(b"\x89PNG!").decode()
    reply = client.messages.create(
        model="m",
        max_tokens=200,
        extra_body={"echo": {"n": 200}},  # above the server's --n 50
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see "},
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
                        "source": {"type": "url", "url": "https://example.com/a.pdf"},
                    },
                ],
            }
        ],
    )
    assert reply.content[0].type == "text"
    assert (
        reply.content[0].text
        == "see [image image/png, 5 bytes][file https://example.com/a.pdf]"
    )


def test_count_tokens_is_the_reply_s_input_usage(client: anthropic.Anthropic) -> None:
    request: dict[str, Any] = {
        "model": "m",
        "system": "sys",
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
        "tools": [ADD],
    }
    counted = client.messages.count_tokens(**request)
    reply = client.messages.create(max_tokens=100, **request)
    assert counted.input_tokens == reply.usage.input_tokens == 14


async def test_async_count_tokens(aclient: anthropic.AsyncAnthropic) -> None:
    counted = await aclient.messages.count_tokens(model="m", messages=USER)
    assert counted.input_tokens == 11


def test_echo_options_ride_in_extra_body(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(
        model="m", max_tokens=100, messages=USER, extra_body={"echo": {"n": 3}}
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "hel"
    with pytest.raises(anthropic.BadRequestError, match=r"echo\.n"):
        client.messages.create(
            model="m", max_tokens=100, messages=USER, extra_body={"echo": {"n": -1}}
        )


def test_wrong_key_is_an_authentication_error(server: LiveServer) -> None:
    bad = anthropic.Anthropic(base_url=server.url, api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad.messages.create(model="m", max_tokens=10, messages=USER)
    assert caught.value.status_code == 401
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert "API key" in body["error"]["message"]


async def test_bad_request_is_a_bad_request_error(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await aclient.messages.create(
            model="m",
            max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "text"}]}],
        )
    assert caught.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "messages.0.content.0.text: Field required",
    }


def test_injected_faults_raise_the_sdk_s_errors(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(
            model="m",
            max_tokens=100,
            messages=USER,
            extra_body={"echo": {"fail_after_chunks": 0}},
        )
    assert caught.value.body["error"]["type"] == "api_error"
    with (
        pytest.raises(anthropic.APIStatusError, match="injected"),
        client.messages.stream(
            model="m",
            max_tokens=100,
            messages=USER,
            extra_body={"echo": {"fail_after_chunks": 2}},
        ) as stream,
    ):
        stream.get_final_message()


# --- LangChain's ChatAnthropic -----------------------------------------------------


def test_chat_anthropic_invoke_and_batch(chat: ChatAnthropic) -> None:
    reply = chat.invoke("hello world")
    assert reply.content == "hello world"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == 11
    assert reply.usage_metadata["output_tokens"] == 11
    assert reply.response_metadata["model_name"] == "claude-echo"
    assert reply.response_metadata["stop_reason"] == "end_turn"
    assert [m.content for m in chat.batch(["one", "two"])] == ["one", "two"]


@SHARED_LOOP
async def test_chat_anthropic_ainvoke(chat: ChatAnthropic) -> None:
    reply = await chat.ainvoke([HumanMessage("hi there")])
    assert reply.content == "hi there"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["total_tokens"] == 16


def test_chat_anthropic_stream(chat: ChatAnthropic) -> None:
    chunks = list(chat.stream("stream me"))
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.text == "stream me"
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] == 9
    assert total.usage_metadata["output_tokens"] == 9


@SHARED_LOOP
async def test_chat_anthropic_astream(chat: ChatAnthropic) -> None:
    total: AIMessageChunk | None = None
    async for chunk in chat.astream("abc"):
        total = chunk if total is None else total + chunk
    assert total is not None
    assert total.text == "abc"
    assert total.usage_metadata is not None
    assert total.usage_metadata["total_tokens"] == 6


def test_chat_anthropic_stop(chat: ChatAnthropic) -> None:
    reply = chat.invoke("one. two.", stop=["."])
    assert reply.content == "one"
    assert reply.response_metadata["stop_reason"] == "stop_sequence"


@tool
def get_weather(location: str) -> str:
    """Get the weather for a location."""
    return f"It is sunny in {location}."


def test_chat_anthropic_bind_tools(chat: ChatAnthropic) -> None:
    model = chat.bind_tools([get_weather])
    reply = model.invoke("get_weather('Paris')")
    assert isinstance(reply, AIMessage)
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("get_weather", {"location": "Paris"})
    ]
    assert str(reply.tool_calls[0]["id"]).startswith("toolu_")
    streamed: AIMessageChunk | None = None
    for chunk in model.stream("What is the weather in Paris?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed is not None
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [
        ("get_weather", {"location": "What is the weather in Paris?"})
    ]


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_chat_anthropic_structured_output(chat: ChatAnthropic, method: str) -> None:
    structured = chat.with_structured_output(Joke, method=method)
    assert structured.invoke("cats, 7 of 10") == Joke(setup="cats, 7 of 10", rating=7)


def test_agent_calls_a_real_tool_and_ends(server: LiveServer) -> None:
    calls: list[str] = []

    @tool
    def lookup_capital(country: str) -> str:
        """Return the capital of a country."""
        calls.append(country)
        return "Paris"

    agent = create_agent(
        ChatAnthropic(base_url=server.url, api_key=API_KEY, model="claude-echo"),
        tools=[lookup_capital],
    )
    result = agent.invoke({"messages": [HumanMessage("capital of France?")]})
    assert calls == ["capital of France?"]
    assert result["messages"][-1].content == "Paris"


def test_chat_anthropic_sends_anthropic_style_histories(chat: ChatAnthropic) -> None:
    # What the standard suite's test_anthropic_inputs sends, without the image
    # it downloads: tool_use blocks in an AIMessage, tool_result blocks in a
    # HumanMessage, a thinking block with its signature.
    history = [
        HumanMessage("what's your favorite color?"),
        AIMessage(
            [
                {"type": "thinking", "thinking": "pick one", "signature": "c2ln"},
                {"type": "text", "text": "Hmm let me think about that"},
                {
                    "type": "tool_use",
                    "input": {"fav_color": "green"},
                    "id": "foo",
                    "name": "color_picker",
                },
            ],
            response_metadata={"model_provider": "anthropic"},
        ),
        HumanMessage(
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "foo",
                    "content": [{"type": "text", "text": "green is a great pick"}],
                    "is_error": False,
                },
                {"type": "text", "text": "what did the tool say"},
            ]
        ),
    ]
    reply = chat.invoke(history)
    assert reply.content == "what did the tool say"
    reply = chat.invoke([*history[:2], HumanMessage([history[2].content[0]])])
    assert reply.content == "green is a great pick"
