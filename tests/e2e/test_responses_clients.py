"""OpenAI's Responses API clients against the real server's ``/v1/responses``.

The ``openai`` SDK (``responses.create``, ``responses.stream``, ``stream=True``,
sync and async), ``ChatOpenAI(use_responses_api=True)``, the OpenAI Agents
SDK's default model (``OpenAIResponsesModel``, tracing disabled) and
pydantic-ai's ``OpenAIResponsesModel``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool as lc_tool
from langchain_openai import ChatOpenAI

from tests.support.clients import API_KEY, Joke
from tests.support.live_server import LiveServer

ADD = {
    "type": "function",
    "name": "add",
    "description": "Add two integers.",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    "strict": True,
}
VOLATILE = ("id", "created_at", "completed_at")


def stable(value: Any) -> Any:
    """A response as a dict, without its ids and times."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


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
        use_responses_api=True,
        max_retries=0,
        http_async_client=httpx.AsyncClient(),
    )


# --- The openai SDK -------------------------------------------------------------


def test_create_with_string_input_and_instructions(client: openai.OpenAI) -> None:
    reply = client.responses.create(
        model="gpt-echo", input="hello world", instructions="be brief"
    )
    assert reply.id.startswith("resp_")
    assert reply.status == "completed"
    assert reply.model == "gpt-echo"
    assert reply.output_text == "hello world"
    assert reply.instructions == "be brief"
    assert reply.usage is not None
    assert reply.usage.input_tokens == len("be brief" + "hello world")
    assert reply.usage.input_tokens_details.cached_tokens == 0
    assert reply.usage.output_tokens_details.reasoning_tokens == 0


def test_create_with_item_input(client: openai.OpenAI) -> None:
    reply = client.responses.create(
        model="gpt-echo",
        input=[
            {"role": "developer", "content": "dev"},
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "parts"}],
            },
        ],
    )
    assert reply.output_text == "parts"


def test_max_output_tokens_makes_an_incomplete_response(client: openai.OpenAI) -> None:
    reply = client.responses.create(
        model="gpt-echo", input="hello world", max_output_tokens=5
    )
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None
    assert reply.incomplete_details.reason == "max_output_tokens"
    assert reply.output_text == "hello"


def test_stream_helper_final_response_equals_the_whole_reply(
    client: openai.OpenAI,
) -> None:
    kwargs: dict[str, Any] = {"model": "gpt-echo", "input": "add(1, 2) hi"}
    whole = client.responses.create(**kwargs)
    with client.responses.stream(**kwargs) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == whole.output_text
    assert stable(final) == stable(whole)


def test_create_stream_true_yields_typed_events(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="m", input="hi", stream=True))
    assert [e.type for e in events][:2] == ["response.created", "response.in_progress"]
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "hi"


async def test_async_create_and_stream(aclient: openai.AsyncOpenAI) -> None:
    whole = await aclient.responses.create(model="m", input="async")
    assert whole.output_text == "async"
    async with aclient.responses.stream(model="m", input="async") as stream:
        final = await stream.get_final_response()
    assert stable(final) == stable(whole)
    events = [e async for e in await aclient.responses.create(
        model="m", input="async", stream=True
    )]  # fmt: skip
    assert events[-1].type == "response.completed"


def test_function_tool_round_trip(client: openai.OpenAI) -> None:
    first = client.responses.create(model="gpt-echo", input="add(2, 3)", tools=[ADD])  # type: ignore[list-item]
    (call,) = first.output
    assert call.type == "function_call"
    assert json.loads(call.arguments) == {"a": 2, "b": 3}
    history: list[Any] = [
        {"role": "user", "content": "add(2, 3)"},
        call.model_dump(exclude_none=True),  # with its id and status, as agents do
        {"type": "function_call_output", "call_id": call.call_id, "output": "5"},
    ]
    second = client.responses.create(model="gpt-echo", input=history, tools=[ADD])  # type: ignore[list-item]
    assert second.output_text == "5"


def test_named_tool_choice_is_flat(client: openai.OpenAI) -> None:
    reply = client.responses.create(
        model="m",
        input="hello",
        tools=[ADD],  # type: ignore[list-item]
        tool_choice={"type": "function", "name": "add"},
    )
    assert [item.type for item in reply.output] == ["function_call"]


def test_text_format_json_schema_parses(client: openai.OpenAI) -> None:
    reply = client.responses.parse(model="m", input="a joke 7", text_format=Joke)
    assert reply.output_parsed == Joke(setup="a joke 7", rating=7)


def test_other_tool_types_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model="m",
            input="hi",
            tools=[{"type": "web_search"}],  # type: ignore[list-item]
        )
    assert caught.value.param == "tools.[0].type"


def test_a_429_raises_rate_limit_error_after_the_sdk_s_retries(
    server: LiveServer,
) -> None:
    attempts: list[httpx.Request] = []
    client = openai.OpenAI(
        base_url=server.url + "/v1",
        api_key=API_KEY,
        max_retries=2,
        default_headers={"X-Echo-Fault": "status=429; retry_after=0"},
        http_client=openai.DefaultHttpxClient(
            event_hooks={"request": [attempts.append]}
        ),
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model="m", input="hi")
    assert caught.value.code == "rate_limit_exceeded"
    assert len(attempts) == 3


def test_a_fault_mid_stream_reaches_the_stream_helper(client: openai.OpenAI) -> None:
    with client.responses.stream(
        model="m", input="hello", extra_body={"echo": {"fail_after_chunks": 2}}
    ) as stream:
        kinds = [event.type for event in stream]
        with pytest.raises(RuntimeError):
            stream.get_final_response()
    assert kinds[-1] == "response.failed"


# --- ChatOpenAI(use_responses_api=True) -------------------------------------------


def test_chat_openai_invoke_and_stream(chat: ChatOpenAI) -> None:
    reply = chat.invoke("hello world")
    assert isinstance(reply, AIMessage)
    assert reply.text == "hello world"
    assert reply.response_metadata["id"].startswith("resp_")
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == len("hello world")
    chunks = list(chat.stream("hello world"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(c.text for c in chunks) == "hello world"
    merged = sum(chunks[1:], chunks[0])
    assert merged.usage_metadata == reply.usage_metadata


async def test_chat_openai_async(chat: ChatOpenAI) -> None:
    assert (await chat.ainvoke("async")).text == "async"
    assert "".join([c.text async for c in chat.astream("async")]) == "async"


def test_chat_openai_bind_tools_round_trip(chat: ChatOpenAI) -> None:
    @lc_tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    bound = chat.bind_tools([add])
    reply = bound.invoke("add(4, 5)")
    (call,) = reply.tool_calls
    assert (call["name"], call["args"]) == ("add", {"a": 4, "b": 5})
    answer = bound.invoke(["add(4, 5)", reply, add.invoke(call)])
    assert answer.text == "9"
    streamed = list(bound.stream("add(4, 5)"))
    merged = sum(streamed[1:], streamed[0])
    assert [c["args"] for c in merged.tool_calls] == [{"a": 4, "b": 5}]


def test_chat_openai_with_structured_output(chat: ChatOpenAI) -> None:
    joke = chat.with_structured_output(Joke).invoke("a joke 3")
    assert joke == Joke(setup="a joke 3", rating=3)
    via_tool = chat.with_structured_output(Joke, method="function_calling").invoke(
        "a joke 4"
    )
    assert via_tool == Joke(setup="a joke 4", rating=4)


# --- The OpenAI Agents SDK --------------------------------------------------------


@pytest.fixture
def agents_client(server: LiveServer) -> openai.AsyncOpenAI:
    from agents import set_default_openai_client, set_tracing_disabled

    set_tracing_disabled(True)
    client = openai.AsyncOpenAI(
        base_url=server.url + "/v1", api_key=API_KEY, max_retries=0
    )
    set_default_openai_client(client, use_for_tracing=False)
    return client


async def test_agents_sdk_default_model_plain_run(
    agents_client: openai.AsyncOpenAI,
) -> None:
    from agents import Agent, Runner

    agent = Agent(name="echo", instructions="Repeat.", model="gpt-echo")
    result = await Runner.run(agent, "hello agents")
    assert result.final_output == "hello agents"


async def test_agents_sdk_function_tool_runs_to_its_final_output(
    agents_client: openai.AsyncOpenAI,
) -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool

    calls: list[tuple[int, int]] = []

    @function_tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        calls.append((a, b))
        return a + b

    model = OpenAIResponsesModel(model="gpt-echo", openai_client=agents_client)
    agent = Agent(name="adder", instructions="Add.", model=model, tools=[add])
    result = await Runner.run(agent, "add(20, 22)")
    assert calls == [(20, 22)]
    assert result.final_output == "42"
    streamed = Runner.run_streamed(agent, "add(1, 1)")
    async for _ in streamed.stream_events():
        pass
    assert streamed.final_output == "2"


# --- pydantic-ai --------------------------------------------------------------------


def test_pydantic_ai_responses_model(server: LiveServer) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=server.url + "/v1", api_key=API_KEY)
    agent = Agent(OpenAIResponsesModel("gpt-echo", provider=provider))
    assert agent.run_sync("hello pydantic").output == "hello pydantic"
    calls: list[int] = []

    @agent.tool_plain
    def double(x: int) -> int:
        """Double a number."""
        calls.append(x)
        return 2 * x

    assert agent.run_sync("double(21)").output == "42"
    assert calls == [21]
