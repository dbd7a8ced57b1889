"""``reply``/``areply``: the whole reply as plain data is the one ``invoke`` wraps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage

from echo_model import EchoChatModel, EchoFaultError
from echo_model.chat_models import EchoReply


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def get_weather(location: str) -> str:
    """Get the weather somewhere."""
    return location


CALLS = st.sampled_from(
    [
        "add(1, 2)",
        "add(a=3, b=4)",
        "get_weather(Paris)",
        "add(1, 2) get_weather(x)",
        "add('x', 2)",  # invalid: a string for an integer
        "add(1) get_weather(Oslo)",  # one invalid, one valid
    ]
)
TEXTS = st.one_of(st.text(max_size=30), CALLS)


def _expected(reply: EchoReply) -> dict[str, Any]:
    valid = [c for c in reply.tool_calls if c.error is None]
    invalid = [c for c in reply.tool_calls if c.error is not None]
    return {
        "text": reply.echo.text,
        "tool_calls": [(c.name, c.args, c.id) for c in valid],
        "invalid": [(c.name, c.raw_args, c.id, c.error) for c in invalid],
        "finish_reason": reply.echo.finish_reason,
        "stop_sequence": reply.echo.stop_sequence,
        "usage": (reply.echo.input_tokens, reply.echo.output_tokens),
        "model_name": reply.model_name,
    }


def _seen(message: AIMessage) -> dict[str, Any]:
    usage = message.usage_metadata or {}
    return {
        "text": message.text,
        "tool_calls": [(c["name"], c["args"], c["id"]) for c in message.tool_calls],
        "invalid": [
            (c["name"], c["args"], c["id"], c["error"])
            for c in message.invalid_tool_calls
        ],
        "finish_reason": message.response_metadata["finish_reason"],
        "stop_sequence": message.response_metadata["stop_sequence"],
        "usage": (usage.get("input_tokens"), usage.get("output_tokens")),
        "model_name": message.response_metadata["model_name"],
    }


@settings(max_examples=80, deadline=None)
@given(
    text=TEXTS,
    n=st.integers(0, 40),
    stop=st.none() | st.lists(st.text(min_size=1, max_size=2), max_size=2),
    tools=st.booleans(),
)
def test_the_plain_reply_is_the_one_invoke_returns(
    text: str, n: int, stop: list[str] | None, tools: bool
) -> None:
    model = EchoChatModel(n=n)
    if tools:
        bound: Any = model.bind_tools([add, get_weather])
        kwargs = bound.kwargs
    else:
        bound, kwargs = model, {}
    messages = [HumanMessage(text)]
    message = bound.invoke(messages, stop=stop)
    assert isinstance(message, AIMessage)
    reply = model.reply(messages, stop, **kwargs)
    assert _expected(reply) == _seen(message)
    assert _expected(asyncio.run(model.areply(messages, stop, **kwargs))) == _seen(
        message
    )


def test_the_plain_reply_names_the_fixture_and_fails_as_invoke_does() -> None:
    fixtures = {
        "fixtures": [{"match": {"userMessage": "hi"}, "response": {"content": "yo"}}]
    }
    model = EchoChatModel(fixtures=fixtures)
    reply = model.reply([HumanMessage("hi there")])
    assert (reply.echo.text, reply.fixture) == ("yo", "<fixtures>#0")
    assert model.invoke("hi there").response_metadata["fixture"] == reply.fixture
    failing = EchoChatModel(fail_after_chunks=0)
    with pytest.raises(EchoFaultError):
        failing.reply([HumanMessage("x")])
    with pytest.raises(EchoFaultError):
        asyncio.run(failing.areply([HumanMessage("x")]))
