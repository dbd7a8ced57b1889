"""EchoChatModel with fixtures: scripted text, tool calls and errors on every path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.load import dumps, loads
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)

from echo_model import EchoChatModel, EchoFaultError
from echo_model.engine import Engine, ManualClock
from echo_model.fixtures import (
    FixtureErrorReply,
    FixtureLoadError,
    FixtureMissError,
    InMemorySequenceCounter,
)
from echo_model.tools import tool_call_id
from tests.unit_tests.test_fixtures_loader import AIMOCK

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
        },
    },
}
FIXTURES: list[dict[str, Any]] = [
    {"match": {"userMessage": "hello"}, "response": {"content": "Hi there!"}},
    {
        "match": {"userMessage": "weather please"},
        "response": {
            "toolCalls": [
                {"name": "get_weather", "arguments": {"location": "SF"}},
                {"name": "get_time", "arguments": '{"tz": "PST"}', "id": "call_fixed"},
            ]
        },
    },
    {
        "match": {"userMessage": "both"},
        "response": {"content": "Let me look.", "toolCalls": [{"name": "look"}]},
    },
    {
        "match": {"userMessage": "limit"},
        "response": {
            "error": {"message": "Slow down", "type": "rate_limit_error", "code": "rl"},
            "status": 429,
            "retryAfter": 3,
        },
    },
]


def model(**kwargs: Any) -> EchoChatModel:
    return EchoChatModel(fixtures=FIXTURES, **kwargs)


def streamed(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


# --- Text ------------------------------------------------------------------------


async def test_text_fixture_on_invoke_stream_and_async() -> None:
    m = model()
    reply = m.invoke("hello you")
    assert reply.content == "Hi there!"
    assert reply.response_metadata["fixture"] == "<fixtures>#0"
    assert reply.response_metadata["finish_reason"] == "stop"
    chunks = list(m.stream("hello you"))
    assert [c.content for c in chunks] == [*"Hi there!", ""]
    assert (await m.ainvoke("hello you")).content == "Hi there!"
    achunks = [c async for c in m.astream("hello you")]
    assert "".join(str(c.content) for c in achunks) == "Hi there!"
    assert len(achunks) == len("Hi there!") + 1


def test_usage_follows_the_echo_rule() -> None:
    messages: list[BaseMessage] = [HumanMessage("say hello"), AIMessage("x")]
    messages.append(HumanMessage("hello"))
    reply = model().invoke(messages)
    assert reply.usage_metadata == {
        "input_tokens": len("say hello") + 1 + len("hello"),
        "output_tokens": len("Hi there!"),
        "total_tokens": 15 + 9,
    }
    final = list(model().stream(messages))[-1]
    assert final.usage_metadata == reply.usage_metadata


def test_chunk_size_groups_characters_and_n_stop_do_not_cut_fixture_text() -> None:
    m = EchoChatModel(
        fixtures=[{"match": {}, "response": {"content": "abcdefg"}, "chunkSize": 3}],
        n=2,
        stop=["c"],
    )
    assert [c.content for c in m.stream("x")] == ["abc", "def", "g", ""]
    assert m.invoke("x").content == "abcdefg"


# --- Tool calls ------------------------------------------------------------------


async def test_tool_call_fixture_on_invoke_stream_and_async() -> None:
    m = model().bind_tools([WEATHER])
    messages = [HumanMessage("weather please")]
    expected = [
        {
            "name": "get_weather",
            "args": {"location": "SF"},
            "id": tool_call_id(1, 0, "get_weather", '{"location":"SF"}'),
            "type": "tool_call",
        },
        {
            "name": "get_time",
            "args": {"tz": "PST"},
            "id": "call_fixed",
            "type": "tool_call",
        },
    ]
    reply = m.invoke(messages)
    assert reply.tool_calls == expected
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["output_tokens"] == len("get_weather") + len(
        '{"location":"SF"}'
    ) + len("get_time") + len('{"tz": "PST"}')
    assert streamed(list(m.stream(messages))).tool_calls == expected
    assert (await m.ainvoke(messages)).tool_calls == expected
    assert streamed([c async for c in m.astream(messages)]).tool_calls == expected


def test_content_and_tool_calls_stream_text_first() -> None:
    chunks = list(model().stream("both"))
    assert "".join(str(c.content) for c in chunks) == "Let me look."
    assert chunks[len("Let me look.")].tool_call_chunks[0]["name"] == "look"
    total = streamed(chunks)
    assert total.content == "Let me look."
    assert [c["name"] for c in total.tool_calls] == ["look"]
    assert total.tool_calls[0]["args"] == {}


def test_aimock_multi_turn_file_answers_the_tool_round_by_its_id() -> None:
    m = EchoChatModel(fixtures=AIMOCK / "example-multi-turn.json")
    first = m.invoke("change background to blue")
    assert first.tool_calls[0]["name"] == "change_background"
    assert first.tool_calls[0]["args"] == {"background": "blue"}
    call = {"name": "change_background", "args": {}, "id": "call_background"}
    tool_round = [
        AIMessage("", tool_calls=[call]),
        ToolMessage("ok", tool_call_id="call_background"),
    ]
    # As in aimock, userMessage still sees the last user message after a tool
    # round, so the first fixture (file order) answers again ...
    again = m.invoke([HumanMessage("change background to blue"), *tool_round])
    assert again.tool_calls[0]["name"] == "change_background"
    # ... and the toolCallId fixture answers a round the first does not match.
    second = m.invoke([HumanMessage("make it blue"), *tool_round])
    assert second.content == "Done! I've changed the background."


def test_aimock_agent_loop_answers_each_round_in_sequence() -> None:
    m = EchoChatModel(fixtures=AIMOCK / "agent-loop.json")
    first = m.invoke("plan a trip")
    second = m.invoke([HumanMessage("plan a trip"), first])
    assert second.tool_calls[0]["args"] == {"origin": "SFO", "dest": "NRT"}
    third = m.invoke(
        [
            HumanMessage("plan a trip"),
            first,
            second,
            ToolMessage("3 flights", tool_call_id=second.tool_calls[0]["id"]),
        ]
    )
    assert str(third.content).startswith("I found 3 flights")
    assert m.invoke("plan a trip").content == "plan a trip"  # the script is over


# --- Errors, strictness ---------------------------------------------------------


async def test_error_fixture_raises_on_every_path() -> None:
    m = model()
    with pytest.raises(FixtureErrorReply) as caught:
        m.invoke("limit")
    error = caught.value
    assert isinstance(error, EchoFaultError)
    assert (error.status, error.error_type, error.code, error.retry_after) == (
        429,
        "rate_limit_error",
        "rl",
        3.0,
    )
    assert str(error) == "Slow down"
    with pytest.raises(FixtureErrorReply):
        list(m.stream("limit"))
    with pytest.raises(FixtureErrorReply):
        await m.ainvoke("limit")
    with pytest.raises(FixtureErrorReply):
        _ = [c async for c in m.astream("limit")]


def test_aimock_error_file_raises_its_status() -> None:
    m = EchoChatModel(fixtures=AIMOCK / "error-injection.json")
    with pytest.raises(FixtureErrorReply) as caught:
        m.invoke("anything containing .* literally")
    assert caught.value.status == 429
    assert m.invoke("plain").content == "plain"  # ".*" is no regex


def test_strict_calls_fail_when_no_fixture_matches() -> None:
    m = EchoChatModel(
        fixtures=[
            {
                "match": {"userMessage": "x", "sequenceIndex": 0},
                "response": {"content": "1"},
            }
        ]
    )
    assert m.invoke("x").content == "1"
    assert m.invoke("x").content == "x"
    with pytest.raises(FixtureMissError) as caught:
        m.invoke("x", fixture_strict=True)
    assert caught.value.skipped == ("<fixtures>#0",)
    assert "skipped only because of their sequenceIndex" in str(caught.value)
    with pytest.raises(FixtureMissError, match=r"^no fixture matched$"):
        EchoChatModel(fixture_strict=True).invoke("y")


# --- Model name, context, counters ------------------------------------------------


def test_model_name_and_per_call_model_are_matched() -> None:
    fixtures = [{"match": {"model": "gpt-4o"}, "response": {"content": "4o"}}]
    assert (
        EchoChatModel(fixtures=fixtures, model="gpt-4o-2024-08-06").invoke("a").content
        == "4o"
    )
    assert (
        EchoChatModel(fixtures=fixtures, model="gpt-4o-mini").invoke("a").content == "a"
    )
    assert EchoChatModel(fixtures=fixtures).invoke("a", model="gpt-4o").content == "4o"


def test_context_selects_fixtures_and_keys_sequence_counts() -> None:
    m = EchoChatModel(
        fixtures=[
            {"match": {"context": "a"}, "response": {"content": "in a"}},
            {
                "match": {"userMessage": "q", "sequenceIndex": 0},
                "response": {"content": "first"},
            },
        ]
    )
    assert m.invoke("q", fixture_context="a").content == "in a"
    assert m.invoke("q", fixture_context="b").content == "first"
    assert m.invoke("q", fixture_context="b").content == "q"
    assert m.invoke("q").content == "first"  # the default context counts apart
    assert (
        EchoChatModel(fixtures=m.fixtures, fixture_context="a").invoke("q").content
        == "in a"
    )
    with pytest.raises(ValueError, match="fixture_context must be a string"):
        m.invoke("q", fixture_context=3)


def test_a_shared_sequence_counter_is_used() -> None:
    counter = InMemorySequenceCounter()
    fixtures = [{"match": {"sequenceIndex": 0}, "response": {"content": "once"}}]
    assert (
        EchoChatModel(fixtures=fixtures, sequence_counter=counter).invoke("a").content
        == "once"
    )
    # A second model sharing the store sees the place taken.
    assert (
        EchoChatModel(fixtures=fixtures, sequence_counter=counter).invoke("a").content
        == "a"
    )
    assert EchoChatModel(fixtures=fixtures).invoke("a").content == "once"


# --- Latency and stream cuts ------------------------------------------------------


def paced(fixture: dict[str, Any]) -> tuple[EchoChatModel, ManualClock]:
    clock = ManualClock()
    return EchoChatModel(fixtures=[fixture], engine=Engine(clock=clock)), clock


def collect(m: EchoChatModel, into: list[str]) -> None:
    """Stream ``x`` into ``into``, chunk by chunk, until it ends or fails."""
    into.extend(str(chunk.content) for chunk in m.stream("x"))


def test_latency_is_milliseconds_before_each_chunk() -> None:
    m, clock = paced({"match": {}, "response": {"content": "abcd"}, "latency": 10})
    m.invoke("x")
    assert clock.now == pytest.approx(0.040)
    m, clock = paced(
        {"match": {}, "response": {"content": "abcd"}, "latency": 10, "chunkSize": 2}
    )
    assert [c.content for c in m.stream("x")] == ["ab", "cd", ""]
    assert clock.now == pytest.approx(0.020)


def test_truncate_after_chunks_cuts_streams_only() -> None:
    m, _ = paced(
        {"match": {}, "response": {"content": "abcdef"}, "truncateAfterChunks": 2}
    )
    got: list[str] = []
    with pytest.raises(EchoFaultError, match="cut the stream after 2 chunks"):
        collect(m, got)
    assert got == ["a", "b"]
    assert m.invoke("x").content == "abcdef"
    longer, _ = paced(
        {"match": {}, "response": {"content": "ab"}, "truncateAfterChunks": 5}
    )
    assert [c.content for c in longer.stream("x")] == ["a", "b", ""]


def test_disconnect_after_ms_cuts_the_stream_at_its_time() -> None:
    fixture = {
        "match": {},
        "response": {"content": "abcdef"},
        "latency": 10,
        "disconnectAfterMs": 35,
    }
    m, clock = paced(fixture)
    got: list[str] = []
    with pytest.raises(EchoFaultError, match="disconnectAfterMs 35"):
        collect(m, got)
    assert got == ["a", "b", "c"]
    assert clock.now == pytest.approx(0.035)
    m, clock = paced({**fixture, "disconnectAfterMs": 500})
    assert len(list(m.stream("x"))) == 7  # the stream ended before the cut


# --- No match: exactly the echo; loading; serialization ---------------------------


async def test_no_match_is_exactly_the_echo() -> None:
    plain, scripted = EchoChatModel(n=5), EchoChatModel(n=5, fixtures=FIXTURES)
    for text in ["something else", "get_weather(Paris)"]:
        kwargs: dict[str, Any] = {"tools": [WEATHER]}
        a, b = plain.invoke(text, **kwargs), scripted.invoke(text, **kwargs)
        assert (a.content, a.tool_calls, a.usage_metadata, a.response_metadata) == (
            b.content,
            b.tool_calls,
            b.usage_metadata,
            b.response_metadata,
        )
        assert [c.content for c in plain.stream(text)] == [
            c.content for c in scripted.stream(text)
        ]


def test_bad_fixtures_are_refused_when_the_model_is_built(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(
        json.dumps({"fixtures": [{"match": {"regex": "x"}, "response": {}}]})
    )
    with pytest.raises(FixtureLoadError, match=r"f\.json: fixture 0: match\.regex: "):
        EchoChatModel(fixtures=path)


def test_a_model_with_a_fixture_path_round_trips_through_dumps(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"fixtures": FIXTURES}))
    m = EchoChatModel(fixtures=str(path), fixture_context="c")
    loaded = loads(
        dumps(m), valid_namespaces=["echo_model"], allowed_objects=[EchoChatModel]
    )
    assert isinstance(loaded, EchoChatModel)
    assert loaded.invoke("hello").content == "Hi there!"
    assert loaded.fixture_context == "c"
    as_data = loads(
        dumps(EchoChatModel(fixtures=FIXTURES)),
        valid_namespaces=["echo_model"],
        allowed_objects=[EchoChatModel],
    )
    assert as_data.invoke("hello").content == "Hi there!"
