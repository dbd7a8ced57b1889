"""Property tests: every path tells the same story for any input and option."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessageChunk, HumanMessage

from echo_model import EchoChatModel
from echo_model.echo import message_text, truncate_at_stop

texts = st.text(max_size=40)
stops = st.none() | st.lists(st.text(max_size=3), max_size=3)
options = st.fixed_dictionaries(
    {"n": st.integers(0, 50)},
    optional={"max_tokens": st.none() | st.integers(0, 50)},
)
contents = texts | st.lists(
    texts.map(lambda t: {"type": "text", "text": t})
    | st.just({"type": "image", "url": "https://example.invalid/x.png"}),
    max_size=4,
)


def aggregate(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(content=contents, stop=stops, opts=options)
def test_streamed_chunks_concatenate_to_invoke(content, stop, opts) -> None:
    model = EchoChatModel(**opts)
    messages = [HumanMessage(content=content)]
    invoked = model.invoke(messages, stop=stop)

    chunks = list(model.stream(messages, stop=stop))
    achunks = asyncio.run(_collect(model, messages, stop))
    ainvoked = asyncio.run(model.ainvoke(messages, stop=stop))

    assert "".join(c.content for c in chunks) == invoked.content
    assert [c.content for c in achunks] == [c.content for c in chunks]
    assert ainvoked.content == invoked.content
    # One character per chunk, then the final marked chunk.
    assert all(len(c.content) == 1 for c in chunks[:-1])
    assert chunks[-1].content == ""
    assert chunks[-1].chunk_position == "last"
    # The aggregated stream carries the same usage and metadata as invoke.
    full = aggregate(chunks)
    assert full.usage_metadata == invoked.usage_metadata
    assert full.usage_metadata["output_tokens"] == len(chunks) - 1
    assert (
        full.response_metadata["finish_reason"]
        == (invoked.response_metadata["finish_reason"])
    )
    # The reply is a prefix of the text, never longer than the limits.
    limit = min(opts["n"], opts.get("max_tokens") or opts["n"])
    assert len(invoked.content) <= limit
    text = message_text(HumanMessage(content=content))
    assert text.startswith(invoked.content)
    if invoked.response_metadata["stop_sequence"] is not None:
        assert invoked.content.endswith(invoked.response_metadata["stop_sequence"])


async def _collect(model, messages, stop) -> list[AIMessageChunk]:
    return [c async for c in model.astream(messages, stop=stop)]


@given(text=texts, stop=st.lists(st.text(min_size=1, max_size=3), max_size=3))
def test_reply_contains_no_stop_sequence_before_its_end(text, stop) -> None:
    reply = EchoChatModel(n=100).invoke(text, stop=stop).content
    # No stop sequence is completed anywhere before the final character.
    assert not any(seq in reply[:-1] for seq in stop)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def shout(text: str) -> str:
    """Shout the text."""
    return text.upper()


# Calls written in a message: valid calls of ``add`` (with the arguments they
# must give), and calls of any shape to bound and unbound names, most of them
# invalid: wrong types, missing or unknown arguments, too many positional
# ones, JSON objects (alone or followed by more), quoted commas.
valid_add_calls = st.tuples(st.integers(-1000, 1000), st.integers(-1000, 1000)).map(
    lambda ab: (f"add({ab[0]}, b={ab[1]})", {"a": ab[0], "b": ab[1]})
)
values = st.integers(-1000, 1000).map(str) | st.sampled_from(
    [
        "2.5",
        "'x'",
        '"y, z"',
        "'it\\'s'",
        "true",
        "null",
        "[1, 2]",
        '{"a": 1}',
        '{"a": 1, "b": 2}',
        '{"b": "2"}',
        '{"text": "hi"}',
        "{}",
        "bare words",
    ]
)
arguments = values | st.tuples(st.sampled_from(["a", "b", "c", "text"]), values).map(
    "=".join
)
any_calls = st.tuples(
    st.sampled_from(["add", "shout", "mul", "ad"]),
    st.lists(arguments, max_size=4),
).map(lambda call: (f"{call[0]}({', '.join(call[1])})", None))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    # Free text around the calls, without parentheses that could open a call.
    prefix=st.text(st.characters(exclude_characters="()"), max_size=20),
    calls=st.lists(valid_add_calls | any_calls, max_size=3),
    tool_choice=st.sampled_from([None, "auto", "any", "add", "shout", "none"]),
)
def test_streamed_tool_calls_aggregate_to_invoke(prefix, calls, tool_choice) -> None:
    text = " ".join([prefix, *(written for written, _ in calls)])
    model = EchoChatModel().bind_tools([add, shout], tool_choice=tool_choice)
    invoked = model.invoke(text)
    for full in (
        aggregate(list(model.stream(text))),
        aggregate(asyncio.run(_collect(model, text, None))),
    ):
        assert full.tool_calls == invoked.tool_calls
        # LangChain rebuilds a stream's invalid calls from its chunks, with no
        # error; the reasons travel in the response metadata.
        assert full.invalid_tool_calls == [
            {**c, "error": None} for c in invoked.invalid_tool_calls
        ]
        assert full.content == invoked.content
        assert full.usage_metadata == invoked.usage_metadata
        assert full.response_metadata == invoked.response_metadata
    errors = invoked.response_metadata.get("tool_call_errors", {})
    assert errors == {c["id"]: c["error"] for c in invoked.invalid_tool_calls}
    made = [*invoked.tool_calls, *invoked.invalid_tool_calls]
    ids = [c["id"] for c in made]
    assert len(ids) == len(set(ids))  # unique
    again = model.invoke(text)
    assert [c["id"] for c in [*again.tool_calls, *again.invalid_tool_calls]] == ids
    if tool_choice in ("any", "add", "shout"):
        assert made  # a forced call always happens
    if tool_choice == "none":
        assert not made
    expected = [args for _, args in calls]
    if (
        expected
        and None not in expected
        and tool_choice in (None, "auto", "any", "add")
    ):
        assert [c["args"] for c in invoked.tool_calls] == expected


# --- Stop sequences: the rule, against a brute-force reference ---------------


def reference_truncate(
    text: str, stop: list[str], *, include: bool
) -> tuple[str, str | None]:
    """The rule spelled out: the first end position any sequence completes at,
    the earlier-listed sequence on a tie; cut after it, or before it."""
    for end in range(1, len(text) + 1):
        for seq in stop:
            if seq and text[:end].endswith(seq):
                return (text[:end] if include else text[: end - len(seq)]), seq
    return text, None


@settings(max_examples=400)
@given(
    # Long enough to cross the search windows, from a small alphabet so that
    # sequences match early, late, overlapping, or never (those holding "c").
    filler=st.text(alphabet="ab", max_size=600),
    planted=st.text(alphabet="abc", min_size=1, max_size=8),
    where=st.integers(0, 600),
    stop=st.lists(st.text(alphabet="abc", max_size=8), max_size=6),
    include=st.booleans(),
)
def test_truncate_at_stop_matches_the_reference(
    filler: str, planted: str, where: int, stop: list[str], include: bool
) -> None:
    text = filler[:where] + planted + filler[where:]
    stop = [*stop, planted] if where % 2 else stop
    assert truncate_at_stop(text, stop, include=include) == reference_truncate(
        text, stop, include=include
    )


class CountingText(str):
    """A text that counts the characters ``find`` searches: the matching cost."""

    searched = 0

    def find(self, sub: str, start: Any = None, end: Any = None) -> int:
        lo = 0 if start is None else start
        hi = len(self) if end is None else min(end, len(self))
        CountingText.searched += max(hi - lo, 0)
        return super().find(sub, start, end)


@pytest.mark.parametrize("matched_at", [0, 5_000])
def test_stop_matching_costs_what_the_reply_needs_not_sequences_x_text(
    matched_at: int,
) -> None:
    text = "a" * matched_at + "STOP" + "a" * 200_000
    # Many sequences that never match, listed before the one that does.
    stop = [f"absent{i}" for i in range(32)] + ["STOP"]
    CountingText.searched = 0
    reply, matched = truncate_at_stop(CountingText(text), stop)
    assert (reply, matched) == ("a" * matched_at + "STOP", "STOP")
    # Each sequence searches about as far as the match (windows double),
    # never the 200k characters past it.
    assert CountingText.searched <= len(stop) * (4 * matched_at + 1024)
