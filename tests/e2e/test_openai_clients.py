"""OpenAI's SDK and LangChain's ChatOpenAI against the real server's ``/v1`` routes."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.support.clients import API_KEY, Joke
from tests.support.live_server import LiveServer

USER = [{"role": "user", "content": "hello world"}]
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


@pytest.fixture
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture
def aclient(server: LiveServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=server.url + "/v1", api_key=API_KEY, max_retries=0
    )


@pytest.fixture
def chat(server: LiveServer) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.url + "/v1",
        api_key=API_KEY,
        model="gpt-echo",
        stream_usage=True,
        max_retries=0,
        # Its own async client: ChatOpenAI's shared default would outlive the
        # event loop of the test that opened it.
        http_async_client=httpx.AsyncClient(),
    )


# --- The openai SDK -------------------------------------------------------------


def test_models_list_names_the_served_model(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["echo"]
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"


async def test_async_models_list(aclient: openai.AsyncOpenAI) -> None:
    assert [m.id async for m in aclient.models.list()] == ["echo"]


def test_completion_echoes_with_openai_s_fields(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert reply.id.startswith("chatcmpl-")
    assert reply.object == "chat.completion"
    assert reply.model == "gpt-4o-mini"
    assert reply.system_fingerprint
    (choice,) = reply.choices
    assert choice.message.content == "hello world"
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (11, 11)
    assert reply.usage.total_tokens == 22


async def test_async_completion(aclient: openai.AsyncOpenAI) -> None:
    reply = await aclient.chat.completions.create(model="m", messages=USER)
    assert reply.choices[0].message.content == "hello world"


def test_server_default_n_caps_the_reply(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x" * 60}]
    )
    assert reply.choices[0].message.content == "x" * 50  # --n 50
    assert reply.choices[0].finish_reason == "length"


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cap_the_reply(client: openai.OpenAI, field: str) -> None:
    reply = client.chat.completions.create(model="m", messages=USER, **{field: 4})
    assert reply.choices[0].message.content == "hell"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 4


def test_stop_ends_the_reply_before_the_sequence(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="m", messages=USER, stop=["o w", "zz"])
    assert reply.choices[0].message.content == "hell"
    assert reply.choices[0].finish_reason == "stop"


def test_stream_deltas_make_the_reply(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "hello world"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1


async def test_async_stream_with_usage(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="m",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    *body, last = chunks
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (11, 11)
    assert all(c.usage is None for c in body)
    assert "".join(c.choices[0].delta.content or "" for c in body) == "hello world"


def test_tool_call(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "add(2, 3)"}],
        tools=[ADD],
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "add"
    assert json.loads(call.function.arguments) == {"a": 2, "b": 3}
    assert call.id.startswith("call_")


def test_streamed_tool_call_aggregates_to_the_same_call(client: openai.OpenAI) -> None:
    request = {
        "model": "m",
        "messages": [{"role": "user", "content": "add(2, 3) and add(4, 5)"}],
        "tools": [ADD],
    }
    whole = client.chat.completions.create(**request)
    with client.chat.completions.stream(**request) as stream:
        final = stream.get_final_completion()
    calls = [
        (c.id, c.function.name, c.function.arguments)
        for c in final.choices[0].message.tool_calls or []
    ]
    assert calls == [
        (c.id, c.function.name, c.function.arguments)
        for c in whole.choices[0].message.tool_calls or []
    ]
    assert len(calls) == 2
    assert final.choices[0].finish_reason == "tool_calls"


async def test_forced_tool_choice(aclient: openai.AsyncOpenAI) -> None:
    reply = await aclient.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "numbers 7 and 8"}],
        tools=[ADD],
        tool_choice={"type": "function", "function": {"name": "add"}},
    )
    (call,) = reply.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"a": 7, "b": 8}


def test_json_schema_reply_parses(client: openai.OpenAI) -> None:
    reply = client.chat.completions.parse(
        model="m",
        messages=[{"role": "user", "content": "cats, 7 of 10"}],
        response_format=Joke,
    )
    assert reply.choices[0].message.parsed == Joke(setup="cats, 7 of 10", rating=7)


def test_json_object_reply(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "say hi"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"text": "say hi"}


def test_tool_result_last_ends_the_loop(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="m",
        tools=[ADD],
        messages=[
            {"role": "user", "content": "add(2, 3)"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a":2,"b":3}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "5"},
        ],
    )
    assert reply.choices[0].message.content == "5"
    assert reply.choices[0].finish_reason == "stop"


def test_echo_options_ride_in_extra_body(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="m", messages=USER, extra_body={"echo": {"n": 3}}
    )
    assert reply.choices[0].message.content == "hel"


def test_wrong_key_is_an_authentication_error(server: LiveServer) -> None:
    bad = openai.OpenAI(base_url=server.url + "/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model="m", messages=USER)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


async def test_bad_request_is_a_bad_request_error(
    aclient: openai.AsyncOpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await aclient.chat.completions.create(
            model="m",
            messages=[{"role": "user"}],  # type: ignore[typeddict-item]
        )
    assert caught.value.param == "messages.[0].content"


def test_injected_faults_raise_the_sdk_s_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="m", messages=USER, extra_body={"echo": {"fail_after_chunks": 0}}
        )
    stream = client.chat.completions.create(
        model="m",
        messages=USER,
        stream=True,
        extra_body={"echo": {"fail_after_chunks": 2}},
    )
    with pytest.raises(openai.APIError, match="injected"):
        list(stream)


# --- LangChain's ChatOpenAI -------------------------------------------------------


def test_chat_openai_invoke_and_batch(chat: ChatOpenAI) -> None:
    reply = chat.invoke("hello world")
    assert reply.content == "hello world"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == 11
    assert reply.usage_metadata["output_tokens"] == 11
    assert reply.response_metadata["model_name"] == "gpt-echo"
    assert [m.content for m in chat.batch(["one", "two"])] == ["one", "two"]


async def test_chat_openai_ainvoke(chat: ChatOpenAI) -> None:
    reply = await chat.ainvoke([HumanMessage("hi there")])
    assert reply.content == "hi there"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["total_tokens"] == 16


def test_chat_openai_stream(chat: ChatOpenAI) -> None:
    chunks = list(chat.stream("stream me"))
    assert "".join(str(c.content) for c in chunks) == "stream me"
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.usage_metadata is not None
    assert total.usage_metadata["output_tokens"] == 9


async def test_chat_openai_astream(chat: ChatOpenAI) -> None:
    total: AIMessageChunk | None = None
    async for chunk in chat.astream("abc"):
        total = chunk if total is None else total + chunk
    assert total is not None
    assert total.content == "abc"
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] == 3


def test_chat_openai_stop(chat: ChatOpenAI) -> None:
    assert chat.invoke("one. two.", stop=["."]).content == "one"


@tool
def get_weather(location: str) -> str:
    """Get the weather for a location."""
    return f"It is sunny in {location}."


def test_chat_openai_bind_tools(chat: ChatOpenAI) -> None:
    model = chat.bind_tools([get_weather])
    reply = model.invoke("get_weather('Paris')")
    assert isinstance(reply, AIMessage)
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("get_weather", {"location": "Paris"})
    ]
    streamed: AIMessageChunk | None = None
    for chunk in model.stream("What is the weather in Paris?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed is not None
    assert [c["name"] for c in streamed.tool_calls] == ["get_weather"]
    assert streamed.tool_calls[0]["args"] == {
        "location": "What is the weather in Paris?"
    }


@pytest.mark.parametrize("method", [None, "function_calling", "json_mode"])
def test_chat_openai_structured_output(chat: ChatOpenAI, method: str | None) -> None:
    if method == "json_mode":
        structured = chat.with_structured_output(Joke, method="json_mode")
        text = '{"setup": "cats", "rating": 7}'
    else:
        options = {"method": method} if method else {}
        structured = chat.with_structured_output(Joke, **options)
        text = "cats, 7 of 10"
    result = structured.invoke(text)
    assert isinstance(result, Joke)
    assert result.rating == 7


def test_agent_calls_a_real_tool_and_ends(server: LiveServer) -> None:
    calls: list[str] = []

    @tool
    def lookup_capital(country: str) -> str:
        """Return the capital of a country."""
        calls.append(country)
        return "Paris"

    agent = create_agent(
        ChatOpenAI(base_url=server.url + "/v1", api_key=API_KEY, model="m"),
        tools=[lookup_capital],
    )
    result = agent.invoke({"messages": [HumanMessage("capital of France?")]})
    assert calls == ["capital of France?"]
    assert result["messages"][-1].content == "Paris"
