"""Behaviour of EchoChatModel, called directly: sync and async, every path."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ValidationError

from echo_model import EchoChatModel
from echo_model.engine import Engine, ManualClock
from tests.support.engine import Finished
from tests.support.event_loop import NoThreadsExecutor


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


ADD_TOOL = convert_to_openai_tool(add)


def guide_model() -> EchoChatModel:
    return EchoChatModel(n=3, model_name="my_custom_model")


def stream_text(model: EchoChatModel, value: Any, **kwargs: Any) -> list[str]:
    return [chunk.content for chunk in model.stream(value, **kwargs)]


async def astream_text(model: EchoChatModel, value: Any, **kwargs: Any) -> list[str]:
    return [chunk.content async for chunk in model.astream(value, **kwargs)]


def aggregate(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


# --- The guide's printed examples ------------------------------------------------


def test_guide_invoke() -> None:
    result = guide_model().invoke("hello")
    assert type(result) is AIMessage
    assert result.content == "hel"
    assert result.usage_metadata == {
        "input_tokens": 5,
        "output_tokens": 3,
        "total_tokens": 8,
    }


def test_guide_batch() -> None:
    results = guide_model().batch(["hello", "goodbye"])
    assert [r.content for r in results] == ["hel", "goo"]


def test_guide_stream_prints_c_a_t(capsys: pytest.CaptureFixture[str]) -> None:
    for chunk in guide_model().stream("cat"):
        print(chunk.content, end="|")
    assert capsys.readouterr().out == "c|a|t||"


async def test_guide_astream_prints_c_a_t(capsys: pytest.CaptureFixture[str]) -> None:
    async for chunk in guide_model().astream("cat"):
        print(chunk.content, end="|")
    assert capsys.readouterr().out == "c|a|t||"


async def test_astream_events_v2_start_one_event_per_chunk_end() -> None:
    events = [e async for e in guide_model().astream_events("cat", version="v2")]
    names = [e["event"] for e in events]
    assert names == ["on_chat_model_start"] + ["on_chat_model_stream"] * 4 + [
        "on_chat_model_end"
    ]
    streamed = [e["data"]["chunk"].content for e in events[1:-1]]
    assert streamed == ["c", "a", "t", ""]
    output = events[-1]["data"]["output"]
    assert output.content == "cat"
    assert output.usage_metadata["output_tokens"] == 3
    assert output.response_metadata["model_name"] == "my_custom_model"


# --- Inputs ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "hello",
        [HumanMessage("hello")],
        [SystemMessage("be brief"), AIMessage("hi"), HumanMessage("hello")],
        [HumanMessage("x"), ToolMessage("hello", tool_call_id="1")],
        [AIMessage("hello")],
        [("system", "be brief"), ("human", "hello")],
        [{"role": "user", "content": "hello"}],
        ChatPromptTemplate.from_messages([("human", "{q}")]).invoke({"q": "hello"}),
        [HumanMessage(content=[{"type": "text", "text": "hello"}])],
    ],
    ids=[
        "str",
        "human",
        "conversation",
        "tool-message",
        "ai-message",
        "tuples",
        "dicts",
        "prompt-value",
        "text-block",
    ],
)
def test_every_input_form_echoes_the_last_message(value: Any) -> None:
    model = EchoChatModel()
    assert model.invoke(value).content == "hello"
    assert "".join(stream_text(model, value)) == "hello"


PNG = b"\x89PNG\r\n\x1a\nnot-really-an-image"
WAV = b"RIFF....WAVEfmt "
PDF = b"%PDF-1.4 minimal"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_text_blocks_in_order_and_media_as_markers() -> None:
    content: list[Any] = [
        {"type": "text", "text": "look "},
        {"type": "image", "base64": b64(PNG), "mime_type": "image/png"},
        {"type": "reasoning", "reasoning": "not echoed"},
        " at ",
        {"type": "text", "text": "this"},
    ]
    expected = f"look [image image/png, {len(PNG)} bytes] at this"
    model = EchoChatModel()
    message = HumanMessage(content=content)
    result = model.invoke([message])
    assert result.content == expected
    assert result.usage_metadata["input_tokens"] == len(expected)
    assert "".join(stream_text(model, [message])) == expected


@pytest.mark.parametrize(
    ("block", "marker"),
    [
        (
            {"type": "image", "base64": b64(PNG), "mime_type": "image/png"},
            f"[image image/png, {len(PNG)} bytes]",
        ),
        (
            {
                "type": "image_url",
                "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"},
            },
            f"[image image/png, {len(PNG)} bytes]",
        ),
        (
            {
                "type": "image_url",
                "image_url": {"url": "https://example.invalid/a.png"},
            },
            "[image https://example.invalid/a.png]",
        ),
        (
            {"type": "image", "url": "https://example.invalid/cat.png"},
            "[image https://example.invalid/cat.png]",
        ),
        (
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/png",
                    "data": b64(PNG),
                },
            },
            f"[image image/png, {len(PNG)} bytes]",
        ),
        (
            {"type": "audio", "base64": b64(WAV), "mime_type": "audio/wav"},
            f"[audio audio/wav, {len(WAV)} bytes]",
        ),
        (
            {"type": "input_audio", "input_audio": {"data": b64(WAV), "format": "wav"}},
            f"[audio audio/wav, {len(WAV)} bytes]",
        ),
        (
            {"type": "file", "base64": b64(PDF), "mime_type": "application/pdf"},
            f"[file application/pdf, {len(PDF)} bytes]",
        ),
        (
            {"type": "file", "url": "https://example.invalid/doc.pdf"},
            "[file https://example.invalid/doc.pdf]",
        ),
        ({"type": "file", "file_id": "file-123"}, "[file id file-123]"),
        (
            {
                "type": "document",
                "source": {
                    "type": "base64",
                    "media_type": "application/pdf",
                    "data": b64(PDF),
                },
            },
            f"[file application/pdf, {len(PDF)} bytes]",
        ),
        # Plain-text documents carry their text as is (UTF-8 bytes counted).
        (
            {"type": "text-plain", "text": "né doc", "mime_type": "text/plain"},
            "[file text/plain, 7 bytes]",
        ),
        (
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "né"},
            },
            "[file text/plain, 3 bytes]",
        ),
    ],
)
async def test_each_media_form_gives_its_marker(block: dict, marker: str) -> None:
    model = EchoChatModel()
    message = HumanMessage(content=[block])
    assert model.invoke([message]).content == marker
    assert (await model.ainvoke([message])).content == marker
    assert "".join(stream_text(model, [message])) == marker


EMPTY_CASES = [
    pytest.param(EchoChatModel(), "", id="empty-message"),
    pytest.param(EchoChatModel(n=0), "hello", id="n-0"),
    pytest.param(EchoChatModel(max_tokens=0), "hello", id="max-tokens-0"),
    pytest.param(EchoChatModel(), [HumanMessage(content=[])], id="empty-blocks"),
    pytest.param(
        EchoChatModel(),
        [HumanMessage(content=[{"type": "reasoning", "reasoning": "x"}])],
        id="no-text-blocks",
    ),
]


@pytest.mark.parametrize(("model", "value"), EMPTY_CASES)
async def test_empty_reply_in_every_path(model: EchoChatModel, value: Any) -> None:
    assert model.invoke(value).content == ""
    assert (await model.ainvoke(value)).content == ""
    assert [m.content for m in model.batch([value, value])] == ["", ""]
    assert [m.content for m in await model.abatch([value])] == [""]
    assert stream_text(model, value) == [""]
    assert await astream_text(model, value) == [""]
    chunks = list(model.stream(value))
    assert chunks[-1].chunk_position == "last"
    assert chunks[-1].usage_metadata["output_tokens"] == 0


# --- Streaming ---------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_stream_one_character_per_chunk_then_final_metadata_chunk(
    use_async: bool,
) -> None:
    model = EchoChatModel(model_name="m")
    if use_async:
        chunks = [c async for c in model.astream("héllo 🦜")]
    else:
        chunks = list(model.stream("héllo 🦜"))
    assert [c.content for c in chunks] == [*"héllo 🦜", ""]
    *characters, last = chunks
    assert all(c.chunk_position is None for c in characters)
    assert all(c.usage_metadata is None for c in characters)
    assert all(c.response_metadata == {} for c in characters)
    assert last.chunk_position == "last"
    assert last.usage_metadata == {
        "input_tokens": 7,
        "output_tokens": 7,
        "total_tokens": 14,
    }
    assert last.response_metadata["model_name"] == "m"
    assert last.response_metadata["finish_reason"] == "stop"
    assert len({c.id for c in chunks}) == 1


def test_streaming_field_routes_invoke_through_stream() -> None:
    tokens: list[str] = []

    from langchain_core.callbacks import BaseCallbackHandler

    class Collect(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            tokens.append(token)

    model = EchoChatModel(streaming=True)
    result = model.invoke("abc", config={"callbacks": [Collect()]})
    assert result.content == "abc"
    # Each token reported exactly once: the model does not re-report chunks.
    assert tokens == ["a", "b", "c", ""]


# --- Stop sequences ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stop", "expected", "matched"),
    [
        ("one. two.", ["."], "one.", "."),
        ("hello world", ["wor"], "hello wor", "wor"),
        ("abcd", ["bcd", "c"], "abc", "c"),  # earliest to complete wins
        ("abcabc", ["c", "zz"], "abc", "c"),
        ("hello", ["x"], "hello", None),
        ("hello", [""], "hello", None),  # an empty sequence never matches
        ("hello", ["hello"], "hello", "hello"),
    ],
)
async def test_stop_sequence_ends_reply_and_is_included(
    text: str, stop: list[str], expected: str, matched: str | None
) -> None:
    model = EchoChatModel()
    result = model.invoke(text, stop=stop)
    assert result.content == expected
    assert result.response_metadata["stop_sequence"] == matched
    assert result.response_metadata["finish_reason"] == "stop"
    assert (await model.ainvoke(text, stop=stop)).content == expected
    assert "".join(stream_text(model, text, stop=stop)) == expected
    assert "".join(await astream_text(model, text, stop=stop)) == expected
    assert [m.content for m in model.batch([text], stop=stop)] == [expected]
    assert [m.content for m in await model.abatch([text], stop=stop)] == [expected]


def test_stop_field_is_the_default_and_call_argument_replaces_it() -> None:
    model = EchoChatModel(stop=["l"])
    assert model.invoke("hello").content == "hel"
    assert model.invoke("hello", stop=["e"]).content == "he"
    assert model.invoke("hello", stop=[]).content == "hello"


def test_stop_sequence_must_fit_within_n() -> None:
    result = EchoChatModel(n=4).invoke("hello", stop=["lo"])
    assert result.content == "hell"
    assert result.response_metadata["finish_reason"] == "length"
    assert result.response_metadata["stop_sequence"] is None


@pytest.mark.parametrize(
    ("model", "stop", "reason"),
    [
        (EchoChatModel(n=3), None, "length"),
        (EchoChatModel(max_tokens=2), None, "length"),
        (EchoChatModel(n=100), None, "stop"),
        (EchoChatModel(n=100), ["l"], "stop"),
        (EchoChatModel(n=5), None, "stop"),
    ],
)
async def test_finish_reason_in_invoke_and_aggregated_stream(
    model: EchoChatModel, stop: list[str] | None, reason: str
) -> None:
    assert model.invoke("hello", stop=stop).response_metadata["finish_reason"] == reason
    full = aggregate(list(model.stream("hello", stop=stop)))
    assert full.response_metadata["finish_reason"] == reason
    full = aggregate([c async for c in model.astream("hello", stop=stop)])
    assert full.response_metadata["finish_reason"] == reason


# --- Limits and per-call overrides -------------------------------------------


def test_max_tokens_caps_like_n_and_the_smaller_wins() -> None:
    assert EchoChatModel(n=10, max_tokens=2).invoke("hello").content == "he"
    assert EchoChatModel(n=2, max_tokens=10).invoke("hello").content == "he"


def test_per_call_overrides() -> None:
    model = EchoChatModel(n=100, model_name="base")
    assert model.invoke("hello", n=2).content == "he"
    assert model.invoke("hello", max_tokens=1).content == "h"
    assert model.bind(n=4).invoke("hello").content == "hell"
    result = model.invoke("hello", model="other")
    assert result.response_metadata["model_name"] == "other"
    full = aggregate(list(model.stream("hello", model="other")))
    assert full.response_metadata["model_name"] == "other"
    assert model._get_ls_params(model="other")["ls_model_name"] == "other"


@pytest.mark.parametrize("bad", [-1, "x", 2.5, True])
def test_invalid_per_call_n_is_a_clear_error(bad: Any) -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        EchoChatModel().invoke("hello", n=bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": -1},
        {"n": "x"},
        {"n": "5"},
        {"n": 2.5},
        {"max_tokens": -3},
        {"token_delay": -0.1},
        {"first_token_delay": "soon"},
    ],
)
def test_invalid_fields_are_validation_errors_naming_the_field(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError) as excinfo:
        EchoChatModel(**kwargs)
    (field,) = kwargs
    assert excinfo.value.errors()[0]["loc"] == (field,)


# --- Metadata, params, usage -------------------------------------------------


def test_defaults_and_identifying_params() -> None:
    model = EchoChatModel()
    assert model.model_name == "echo"
    assert EchoChatModel(model="alias").model_name == "alias"
    assert model._llm_type == "echo-chat-model"
    params = guide_model()._identifying_params
    assert params["model_name"] == "my_custom_model"
    assert params["n"] == 3


def test_langsmith_params() -> None:
    model = EchoChatModel(model="m", temperature=0.5, max_tokens=7, stop=["x"])
    assert model._get_ls_params() == {
        "ls_provider": "echo",
        "ls_model_name": "m",
        "ls_model_type": "chat",
        "ls_temperature": 0.5,
        "ls_max_tokens": 7,
        "ls_stop": ["x"],
    }
    assert model._get_ls_params(stop=["y"])["ls_stop"] == ["y"]


def test_usage_counts_characters_of_every_input_message() -> None:
    messages: list[BaseMessage] = [
        SystemMessage("sys"),
        HumanMessage("hello!"),
        AIMessage("Hi there human!"),
        HumanMessage("Meow!"),
    ]
    result = guide_model().invoke(messages)
    assert result.content == "Meo"
    assert result.usage_metadata == {
        "input_tokens": 3 + 6 + 15 + 5,
        "output_tokens": 3,
        "total_tokens": 32,
    }


def test_usage_appears_in_exactly_one_stream_chunk() -> None:
    chunks = list(EchoChatModel().stream("hello"))
    with_usage = [c for c in chunks if c.usage_metadata]
    assert len(with_usage) == 1
    assert with_usage[0].usage_metadata["output_tokens"] == len(chunks) - 1


# --- Latency and the event loop ----------------------------------------------


async def test_async_delays_never_block_the_event_loop() -> None:
    model = EchoChatModel(first_token_delay=0.05, token_delay=0.01)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    chunks = [c.content async for c in model.astream("abcde")]
    await model.ainvoke("abcde")
    done.set()
    await task
    assert chunks == [*"abcde", ""]
    # 0.18 s of simulated latency in all: a blocking sleep would starve the
    # ticker (a tick or two); a free loop ticks about a hundred times.
    assert ticks >= 10


async def test_async_paths_are_native_with_no_thread_hop() -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(NoThreadsExecutor())
    model = EchoChatModel(n=3)
    assert (await model.ainvoke("hello")).content == "hel"
    assert [c.content async for c in model.astream("cat")] == ["c", "a", "t", ""]
    assert [m.content for m in await model.abatch(["hello", "goodbye"])] == [
        "hel",
        "goo",
    ]


async def test_concurrent_async_streams_take_turns() -> None:
    # With no token delay, each chunk still lets the event loop run: a stream
    # that never yields would starve every other task until it ends.
    model = EchoChatModel()
    order: list[str] = []

    async def consume(name: str) -> None:
        async for _ in model.astream("x" * 50):
            order.append(name)

    await asyncio.gather(consume("a"), consume("b"))
    assert order.count("a") == order.count("b") == 51
    assert order.index("b") < len(order) - 1 - order[::-1].index("a")


def test_streaming_false_disables_streaming() -> None:
    chunks = list(EchoChatModel(streaming=False).stream("abc"))
    assert [c.content for c in chunks] == ["abc"]


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [
        ("one. two.", ["."], "one"),
        ("hello", ["lo", "ll"], "he"),  # earliest-ending match, then cut before it
        ("abcd", ["abcd", "bc"], "a"),
        ("hello", ["x"], "hello"),
    ],
)
async def test_stop_sequence_can_be_excluded(
    text: str, stop: list[str], expected: str
) -> None:
    model = EchoChatModel(include_stop_sequence=False)
    result = model.invoke(text, stop=stop)
    assert result.content == expected
    if expected != text:
        assert result.response_metadata["finish_reason"] == "stop"
        assert result.response_metadata["stop_sequence"] in stop
    assert "".join(stream_text(model, text, stop=stop)) == expected
    assert "".join(await astream_text(model, text, stop=stop)) == expected
    per_call = EchoChatModel().invoke(text, stop=stop, include_stop_sequence=False)
    assert per_call.content == expected


# --- One latency rule for every path -----------------------------------------


def clocked_engine() -> tuple[Engine, ManualClock, Finished]:
    """An engine on a manual clock: the model's waits take no real time."""
    clock = ManualClock()
    engine = Engine(clock=clock, step_window=0.0)
    finished = Finished()
    engine.listeners.append(finished)
    return engine, clock, finished


LATENCY_CASES = [
    pytest.param("abc", {}, 3, id="text"),
    pytest.param("", {}, 0, id="empty"),
    pytest.param("add(1, 2)", {"tools": [ADD_TOOL]}, 1, id="one-tool-call"),
    pytest.param("add(1, 2) add(3, 4)", {"tools": [ADD_TOOL]}, 2, id="two-calls"),
    pytest.param("add(1)", {"tools": [ADD_TOOL]}, 1, id="invalid-call"),
    pytest.param(
        "hi",
        {"response_format": {"type": "json_object"}},
        len('{"text": "hi"}'),
        id="json",
    ),
]


@pytest.mark.parametrize(("text", "kwargs", "chunks"), LATENCY_CASES)
async def test_every_path_waits_first_token_delay_plus_token_delay_per_next_chunk(
    text: str, kwargs: dict[str, Any], chunks: int
) -> None:
    engine, clock, finished = clocked_engine()
    model = EchoChatModel(first_token_delay=0.5, token_delay=0.01, engine=engine)
    expected = 0.5 + 0.01 * max(chunks - 1, 0)
    for path in ("invoke", "ainvoke", "stream", "astream"):
        if path == "invoke":
            model.invoke(text, **kwargs)  # the manual clock's sleep moves it
        elif path == "ainvoke":
            task = asyncio.create_task(model.ainvoke(text, **kwargs))
            await clock.advance(10)
            await task
        elif path == "stream":
            streamed = list(model.stream(text, **kwargs))
            assert len(streamed) == chunks + 1  # and the final metadata chunk
        else:
            astreamed = asyncio.create_task(collect(model.astream(text, **kwargs)))
            await clock.advance(10)
            assert len(await astreamed) == chunks + 1
        request = finished.requests[-1]
        assert request.e2e == pytest.approx(expected), path
        assert request.generation_tokens == chunks, path
        if chunks:
            # The first chunk after first_token_delay, then one per token_delay.
            assert request.ttft == pytest.approx(0.5), path
            gaps = request.inter_token_latencies()
            assert gaps == pytest.approx([0.01] * (chunks - 1)), path


async def collect(chunks: Any) -> list[Any]:
    return [chunk async for chunk in chunks]


async def test_seeded_spreads_repeat_their_timings_and_vary_by_input() -> None:
    engine, clock, finished = clocked_engine()
    model = EchoChatModel(
        first_token_delay=0.3,
        ttft_spread=0.1,
        token_delay=0.02,
        itl_spread=0.005,
        prefill_per_token=0.001,
        latency_seed=5,
        engine=engine,
    )

    async def timings(text: str) -> tuple[float, ...]:
        task = asyncio.create_task(collect(model.astream(text)))
        await clock.advance(60)
        await task
        request = finished.requests[-1]
        return (request.ttft or 0.0, *request.inter_token_latencies())

    first = await timings("hello world")
    assert await timings("hello world") == pytest.approx(first, abs=1e-9)
    assert await timings("hello there") != first
    assert len(set(first[1:])) > 1  # the gaps vary
    assert all(0.005 - 1e-9 <= gap <= 0.035 + 1e-9 for gap in first[1:])  # 3 spreads
    # TTFT: 11 characters of prefill (11 ms) plus a draw in 0.3 +/- 0.3.
    assert 0.011 <= first[0] <= 0.611


async def test_a_stream_that_falls_behind_catches_up() -> None:
    engine, clock, finished = clocked_engine()
    model = EchoChatModel(first_token_delay=0.1, token_delay=0.01, engine=engine)
    received: list[float] = []

    async def slow_reader() -> None:
        async for chunk in model.astream("abcdefghij"):
            received.append(clock.now)
            if chunk.content == "c":
                await stall.wait()  # the reader stops for a while

    stall = asyncio.Event()
    task = asyncio.create_task(slow_reader())
    await clock.advance_to(0.2)  # d..j were due by 0.19: all overdue
    stall.set()
    await clock.advance(1)
    await task
    assert received[:3] == pytest.approx([0.1, 0.11, 0.12])
    assert received[3:] == pytest.approx([0.2] * 8)  # 7 characters, final chunk
    assert finished.requests[-1].e2e == pytest.approx(0.2)


# --- The per-call overrides the docstring lists, and only those -------------


def documented_overrides() -> set[str]:
    doc = EchoChatModel.__doc__ or ""
    section = doc[doc.index("Per-call overrides:") :]
    return set(re.findall(r"``(\w+)=``", section))


def calls_add(reply: AIMessage) -> bool:
    return [c["name"] for c in reply.tool_calls] == ["add"]


#: For each keyword argument a call honours: the call without it, the argument,
#: and what it changes.
HONOURED: dict[str, tuple[dict[str, Any], dict[str, Any], Any]] = {
    "stop": ({}, {"stop": ["l"]}, lambda r: r.content == "hel"),
    "model": (
        {},
        {"model": "other"},
        lambda r: r.response_metadata["model_name"] == "other",
    ),
    "n": ({}, {"n": 2}, lambda r: r.content == "he"),
    "max_tokens": ({}, {"max_tokens": 1}, lambda r: r.content == "h"),
    "include_stop_sequence": (
        {"stop": ["l"]},
        {"include_stop_sequence": False},
        lambda r: r.content == "he",
    ),
    "tools": ({}, {"tools": [ADD_TOOL]}, calls_add),
    "tool_choice": (
        {"tools": [ADD_TOOL]},
        {"tool_choice": "none"},
        lambda r: not calls_add(r),
    ),
    "response_format": (
        {},
        {"response_format": {"type": "json_object"}},
        lambda r: r.content == '{"text": "hello add"}',
    ),
}


def test_docstring_lists_exactly_the_honoured_per_call_overrides() -> None:
    assert documented_overrides() == set(HONOURED)


@pytest.mark.parametrize("name", sorted(HONOURED))
async def test_each_documented_override_is_honoured_on_every_path(name: str) -> None:
    base, override, changed = HONOURED[name]
    kwargs = {**base, **override}
    model = EchoChatModel(n=100)
    text = "hello add"
    assert not changed(model.invoke(text, **base))
    assert changed(model.invoke(text, **kwargs))
    assert changed(await model.ainvoke(text, **kwargs))
    assert changed(aggregate(list(model.stream(text, **kwargs))))
    assert changed(aggregate([c async for c in model.astream(text, **kwargs)]))
    assert changed(model.bind(**kwargs).invoke(text))


@pytest.mark.parametrize(
    "ignored",
    [
        {"temperature": 2.0},
        {"first_token_delay": 30.0},
        {"token_delay": 30.0},
        {"fail_after_chunks": 0},
        {"error_rate": 1.0},
        {"seed": 3},
        {"streaming": False},
    ],
)
def test_other_keyword_arguments_are_ignored(ignored: dict[str, Any]) -> None:
    model = EchoChatModel()
    assert model.invoke("hello", **ignored).content == "hello"
    assert [c.content for c in model.stream("hello", **ignored)] == [*"hello", ""]


def test_a_stop_string_is_one_sequence_as_in_openais_api() -> None:
    model = EchoChatModel()
    assert model.invoke("hello", stop="lo").content == "hello"
    assert model.invoke("hello", stop="lo", include_stop_sequence=False).content == (
        "hel"
    )
    assert "".join(c.content for c in model.stream("hello", stop="lo")) == "hello"
    assert EchoChatModel(stop=["l"]).invoke("hello", stop="lo").content == "hello"


@pytest.mark.parametrize("stop", [[1], ["a", None], 5])
def test_stop_sequences_that_are_not_strings_are_a_clear_error(stop: Any) -> None:
    with pytest.raises(ValueError, match="stop must be a string or a list of"):
        EchoChatModel().invoke("hello", stop=stop)
    with pytest.raises(ValueError, match="stop must be a string or a list of"):
        EchoChatModel().invoke("add(1, 2)", stop=stop, tools=[ADD_TOOL])
