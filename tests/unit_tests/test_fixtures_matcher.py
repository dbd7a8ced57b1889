"""The matcher as pure functions: each field, first match wins, sequence counts."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from echo_model.fixtures import (
    Fixture,
    FixtureRequest,
    InMemorySequenceCounter,
    load_fixtures,
    match_fixture,
    parse_fixture,
)
from echo_model.fixtures.matcher import (
    has_tool_result,
    last_user_text,
    model_matches,
    system_text,
    turn_index,
)


def fixture(index: int = 0, **match: Any) -> Fixture:
    return parse_fixture(
        {"match": match, "response": {"content": f"reply {index}"}}, "t.json", index
    )


def matches(match: dict[str, Any], **request: Any) -> bool:
    found = match_fixture(
        [fixture(**match)], FixtureRequest(**request), InMemorySequenceCounter()
    )
    return found.fixture is not None


def chat(*messages: BaseMessage, **request: Any) -> dict[str, Any]:
    return {"messages": list(messages), **request}


TOOL_ROUND = [
    HumanMessage("book it"),
    AIMessage("", tool_calls=[{"name": "book", "args": {}, "id": "call_1"}]),
    ToolMessage('{"status": "approved"}', tool_call_id="call_1"),
]


# --- Each field ---------------------------------------------------------------------


def test_user_message_is_a_substring_of_the_last_user_message_with_text() -> None:
    media_only = HumanMessage([{"type": "image", "url": "https://x/cat.png"}])
    assert matches({"userMessage": "lo w"}, **chat(HumanMessage("hello world")))
    assert not matches({"userMessage": "Hello"}, **chat(HumanMessage("hello")))
    earlier = chat(HumanMessage("hello"), AIMessage("hi"), HumanMessage("bye"))
    assert not matches({"userMessage": "hello"}, **earlier)
    with_media = chat(HumanMessage("describe this"), media_only)
    assert matches({"userMessage": "describe"}, **with_media)
    blocks = HumanMessage(
        [{"type": "text", "text": "a"}, "b", {"type": "text", "text": "c"}]
    )
    assert last_user_text([blocks]) == "abc"
    assert not matches({"userMessage": ""}, **chat(media_only))
    assert matches({"userMessage": ""}, **chat(HumanMessage("")))


def test_strings_are_substrings_never_regular_expressions() -> None:
    assert not matches({"userMessage": ".*"}, **chat(HumanMessage("anything")))
    assert matches({"userMessage": ".*"}, **chat(HumanMessage("a .* b")))


def test_system_message_joins_system_messages_and_a_list_needs_all() -> None:
    request = chat(
        SystemMessage("persona: pirate"), SystemMessage("tools: map"), HumanMessage("x")
    )
    assert system_text(request["messages"]) == "persona: pirate\ntools: map"
    assert matches({"systemMessage": "pirate\ntools"}, **request)
    assert matches({"systemMessage": ["map", "pirate"]}, **request)
    assert not matches({"systemMessage": ["map", "ninja"]}, **request)
    assert not matches({"systemMessage": "pirate"}, **chat(HumanMessage("pirate")))


def test_tool_name_needs_a_tool_of_that_name_offered() -> None:
    assert matches({"toolName": "get_weather"}, tool_names=("a", "get_weather"))
    assert not matches({"toolName": "get_weather"}, tool_names=("get_weather_now",))


def test_tool_call_id_and_tool_result_need_the_last_message_to_be_that_result() -> None:
    assert matches({"toolCallId": "call_1"}, **chat(*TOOL_ROUND))
    assert not matches({"toolCallId": "call_2"}, **chat(*TOOL_ROUND))
    stale = chat(*TOOL_ROUND, AIMessage("done"), HumanMessage("again"))
    assert not matches({"toolCallId": "call_1"}, **stale)
    assert matches({"toolResultContains": "approved"}, **chat(*TOOL_ROUND))
    assert not matches({"toolResultContains": "cancel"}, **chat(*TOOL_ROUND))
    assert not matches({"toolResultContains": "approved"}, **stale)


def test_model_is_exact_or_followed_by_a_dash_and_a_version() -> None:
    assert model_matches("gpt-4o", "gpt-4o")
    assert model_matches("gpt-4o", "gpt-4o-2024-08-06")
    assert model_matches("claude-opus-4", "claude-opus-4-20250514")
    assert not model_matches("gpt-4o", "gpt-4o-mini")
    assert not model_matches("gpt-4", "gpt-4o")
    assert not model_matches("gpt-4o", None)
    assert matches({"model": "echo"}, model="echo-1")


def test_response_format_turn_index_and_has_tool_result() -> None:
    assert matches({"responseFormat": "json_object"}, response_format="json_object")
    assert not matches({"responseFormat": "json_object"}, response_format="json_schema")
    assert not matches({"responseFormat": "json_object"})
    assert turn_index(TOOL_ROUND) == 1
    assert matches({"turnIndex": 1}, **chat(*TOOL_ROUND))
    assert not matches({"turnIndex": 0}, **chat(*TOOL_ROUND))
    assert has_tool_result(TOOL_ROUND)
    assert not has_tool_result([*TOOL_ROUND, AIMessage("ok"), HumanMessage("next")])
    assert matches({"hasToolResult": True}, **chat(*TOOL_ROUND))
    assert matches({"hasToolResult": False}, **chat(HumanMessage("x")))
    # OpenAI-style roles given as ChatMessage count too.
    assert turn_index([ChatMessage(role="assistant", content="x")]) == 1


def test_context_and_input_text() -> None:
    assert matches({"context": "a"}, context="a")
    assert not matches({"context": "a"}, context="b")
    assert not matches({"context": "a"})
    assert matches({}, context="anything")
    assert matches({"inputText": "cat"}, input_text="a cat sat")
    assert not matches({"inputText": "cat"}, **chat(HumanMessage("cat")))


def test_fields_are_and_ed() -> None:
    both = {"userMessage": "hi", "toolName": "t"}
    assert matches(both, **chat(HumanMessage("hi")), tool_names=("t",))
    assert not matches(both, **chat(HumanMessage("hi")))
    assert not matches(both, **chat(HumanMessage("yo")), tool_names=("t",))


# --- Order, sequences, diagnostics --------------------------------------------------


def test_sequence_index_answers_the_nth_match_then_falls_through() -> None:
    fixtures = [
        fixture(0, userMessage="joke", sequenceIndex=0),
        fixture(1, userMessage="joke", sequenceIndex=1),
        fixture(2, userMessage="joke"),
    ]
    counter = InMemorySequenceCounter()
    request = FixtureRequest(messages=[HumanMessage("a joke")])
    got = [match_fixture(fixtures, request, counter).fixture for _ in range(4)]
    assert [f.index if f else None for f in got] == [0, 1, 2, 2]


def test_the_miss_reason_names_fixtures_skipped_only_for_sequence_or_turn() -> None:
    fixtures = [
        fixture(0, userMessage="joke", sequenceIndex=0),
        fixture(1, userMessage="joke", turnIndex=3),
        fixture(2, userMessage="other"),
    ]
    counter = InMemorySequenceCounter()
    request = FixtureRequest(messages=[HumanMessage("a joke")])
    assert match_fixture(fixtures, request, counter).fixture == fixtures[0]
    miss = match_fixture(fixtures, request, counter)
    assert miss.fixture is None
    assert miss.skipped == (fixtures[0], fixtures[1])
    assert miss.miss_reason() == (
        "no fixture matched: 2 fixture(s) skipped only because of their "
        "sequenceIndex or turnIndex (t.json#0, t.json#1)"
    )
    plain = match_fixture(
        fixtures, FixtureRequest(messages=[HumanMessage("x")]), counter
    )
    assert plain.miss_reason() == "no fixture matched"


def test_a_turn_index_miss_claims_no_sequence_place() -> None:
    fixtures = [fixture(0, userMessage="x", sequenceIndex=0, turnIndex=1)]
    counter = InMemorySequenceCounter()
    first_turn = FixtureRequest(messages=[HumanMessage("x")])
    assert match_fixture(fixtures, first_turn, counter).fixture is None
    second_turn = FixtureRequest(
        messages=[HumanMessage("x"), AIMessage("y"), HumanMessage("x")]
    )
    assert match_fixture(fixtures, second_turn, counter).fixture == fixtures[0]


WORDS = st.sampled_from(["a", "b", "ab", "c", ""])


@settings(max_examples=200, deadline=None)
@given(
    needles=st.lists(st.one_of(st.none(), WORDS), min_size=1, max_size=8),
    text=st.text(alphabet="abc", max_size=4),
)
def test_property_the_first_matching_fixture_in_order_wins(
    needles: list[str | None], text: str
) -> None:
    fixtures = [
        fixture(i) if needle is None else fixture(i, userMessage=needle)
        for i, needle in enumerate(needles)
    ]
    request = FixtureRequest(messages=[HumanMessage(text)])
    found = match_fixture(fixtures, request, InMemorySequenceCounter()).fixture
    expected = next(
        (i for i, needle in enumerate(needles) if needle is None or needle in text),
        None,
    )
    assert (found.index if found else None) == expected


@settings(max_examples=100, deadline=None)
@given(
    contexts=st.lists(st.sampled_from([None, "x", "y"]), max_size=12),
    steps=st.integers(min_value=1, max_value=4),
)
def test_property_sequence_index_counts_per_fixture_pattern_and_per_context(
    contexts: list[str | None], steps: int
) -> None:
    sequenced = [fixture(i, userMessage="go", sequenceIndex=i) for i in range(steps)]
    other = [
        fixture(steps + i, userMessage="other", sequenceIndex=i) for i in range(steps)
    ]
    fixtures = [*other, *sequenced]
    counter = InMemorySequenceCounter()
    seen: Counter[str | None] = Counter()
    for context in contexts:
        request = FixtureRequest(messages=[HumanMessage("go")], context=context)
        found = match_fixture(fixtures, request, counter).fixture
        n = seen[context]
        assert (found.index if found else None) == (n if n < steps else None)
        seen[context] += 1
    # The other pattern was never matched, so its counts never moved.
    assert (
        match_fixture(
            fixtures, FixtureRequest(messages=[HumanMessage("other")]), counter
        ).fixture
        == other[0]
    )


def test_aimock_sequence_file_answers_in_turn() -> None:
    from tests.unit_tests.test_fixtures_loader import AIMOCK

    fixtures = load_fixtures(AIMOCK / "sequential-responses.json")
    counter = InMemorySequenceCounter()
    request = FixtureRequest(messages=[HumanMessage("tell me a joke")])
    replies = [match_fixture(fixtures, request, counter).fixture for _ in range(4)]
    assert [r.index if r else None for r in replies] == [0, 1, 2, None]


# --- Counters under concurrency -----------------------------------------------------


@pytest.fixture
def preemptive() -> Iterator[None]:
    """Switch threads as often as possible, so unguarded steps would interleave."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("preemptive")
def test_counter_claims_are_exact_across_threads() -> None:
    places = 400
    fixtures = [fixture(i, userMessage="go", sequenceIndex=i) for i in range(places)]
    counter = InMemorySequenceCounter()
    request = FixtureRequest(messages=[HumanMessage("go")])
    got: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(places // 8):
            found = match_fixture(fixtures, request, counter).fixture
            assert found is not None
            with lock:
                got.append(found.index)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == list(range(places))  # each place once, none skipped
    assert counter.count("", fixtures[0].match.pattern_key()) == places


@pytest.mark.usefixtures("preemptive")
def test_counter_claim_is_atomic_under_racing_threads() -> None:
    counter = InMemorySequenceCounter()
    rounds, threads_n = 300, 6
    wins: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(threads_n)

    def worker() -> None:
        start.wait()
        for expected in range(rounds):
            if counter.claim("c", "p", expected):
                with lock:
                    wins[expected] += 1

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every count was claimed by exactly one thread (a thread that fell behind
    # fails its stale claims and catches up), so the count is exact.
    assert all(wins[n] <= 1 for n in range(rounds))
    assert counter.count("c", "p") == sum(wins.values())


async def test_counter_is_exact_across_asyncio_tasks() -> None:
    fixtures = [fixture(i, userMessage="go", sequenceIndex=i) for i in range(50)]
    counter = InMemorySequenceCounter()

    async def one(context: str) -> int | None:
        await asyncio.sleep(0)
        found = match_fixture(
            fixtures,
            FixtureRequest(messages=[HumanMessage("go")], context=context),
            counter,
        ).fixture
        return found.index if found else None

    results = await asyncio.gather(*(one(c) for c in ["a", "b"] * 50))
    assert sorted(
        r for r, c in zip(results, ["a", "b"] * 50, strict=True) if c == "a"
    ) == list(range(50))
    assert sorted(
        r for r, c in zip(results, ["a", "b"] * 50, strict=True) if c == "b"
    ) == list(range(50))


def test_counter_reset_by_context_and_all() -> None:
    counter = InMemorySequenceCounter()
    assert counter.claim("a", "p", 0)
    assert counter.claim("b", "p", 0)
    counter.reset("a")
    assert (counter.count("a", "p"), counter.count("b", "p")) == (0, 1)
    counter.reset()
    assert counter.count("b", "p") == 0
