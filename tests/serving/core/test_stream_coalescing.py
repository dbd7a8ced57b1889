"""Streams write what is ready at once (issue 26): the same frames, fewer sends.

Each test runs a stream's response as the server does (its ASGI ``send``
recorded) and compares it with the frames of the loop as it was, one frame a
send (``one_frame_a_send``): the bytes must be the same, only the number of
``http.response.body`` messages carrying them changes.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage

from echo_model.chat_models import EchoChatModel, EchoFaultError
from echo_model.engine import MAX_BURST, Engine, ManualClock
from echo_model.serving.app import PROTOCOLS, create_app
from echo_model.serving.core.fault_middleware import InjectedDisconnect
from echo_model.serving.core.fault_spec import parse_fault
from echo_model.serving.core.generation import (
    Finish,
    GenerationRequest,
    ModelBackend,
    StreamEvent,
    TextDelta,
    ToolCall,
)
from echo_model.serving.core.http import FrameBatch, frames_of
from echo_model.serving.core.protocol import WireProtocol
from echo_model.serving.core.stream import (
    MAX_SEND_BYTES,
    FrameWriter,
    frames,
    stream_reply,
)
from echo_model.serving.protocols.anthropic.frames import EventWriter
from echo_model.serving.protocols.ollama import frames as ollama_frames
from echo_model.serving.protocols.ollama.frames import LineWriter, Timings
from echo_model.serving.protocols.openai.frames import ChunkWriter
from echo_model.serving.protocols.responses import frames as responses_frames
from echo_model.serving.protocols.responses.frames import ReplyHead, ResponseWriter
from echo_model.serving.settings import Settings
from tests.support.asgi import post
from tests.support.engine import Finished

Message = dict[str, Any]


def writers(clock: ManualClock) -> dict[str, Callable[[], FrameWriter]]:
    """Each protocol's frame writer, with fixed ids and times."""
    return {
        "openai": lambda: ChunkWriter(
            chunk_id="chatcmpl-1",
            created=1,
            model="echo",
            choices=1,
            include_usage=True,
        ),
        "anthropic": lambda: EventWriter(
            message_id="msg_1", model="echo", input_tokens=3
        ),
        "responses": lambda: ResponseWriter(
            ReplyHead(fields={"model": "echo"}, id="resp_1", created_at=1)
        ),
        "ollama": lambda: LineWriter(
            model="echo", timings=Timings(clock, 0.0, 0.0), chat=True
        ),
    }


WRITERS = ["openai", "anthropic", "responses", "ollama"]


@pytest.fixture(autouse=True)
def _fixed_wall_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ollama's lines carry the wall time, Responses' items fresh ids: fixed,
    # so two runs write the same bytes.
    monkeypatch.setattr(responses_frames, "new_id", lambda prefix: f"{prefix}_1")
    monkeypatch.setattr(
        ollama_frames, "rfc3339", lambda moment=None: "2026-01-01T00:00:00Z"
    )


def model_on(clock: ManualClock, **fields: Any) -> tuple[EchoChatModel, Engine]:
    engine = Engine(clock=clock, step_window=fields.pop("step_window", 0.001))
    return EchoChatModel(engine=engine, **fields), engine


def ask(text: str) -> GenerationRequest:
    return GenerationRequest(messages=[HumanMessage(text)])


async def sends(
    model: EchoChatModel,
    text: str,
    writer: FrameWriter,
    clock: ManualClock | None = None,
    failed: Callable[[], None] = lambda: None,
) -> list[tuple[float, bytes]]:
    """Stream ``text``'s echo through ``stream_reply``; return each body sent.

    Each body comes with the clock's time when it was sent.
    """
    sent: list[tuple[float, bytes]] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            sent.append((clock.now if clock else 0.0, message["body"]))

    response = await stream_reply(ModelBackend(model), ask(text), writer, failed)
    await response({"type": "http", "asgi": {"spec_version": "2.4"}}, _never, send)
    return sent


async def _never() -> Message:
    await asyncio.Event().wait()
    raise AssertionError


async def one_frame_a_send(
    model: EchoChatModel, text: str, writer: FrameWriter
) -> list[bytes]:
    """The frames of the stream loop as it was before issue 26, one per send."""
    result = list(writer.start())
    try:
        async for event in ModelBackend(model).stream(ask(text)):
            if isinstance(event, TextDelta):
                result += writer.text(event.text)
            elif isinstance(event, ToolCall):
                result += writer.tool_call(event)
            else:
                result += writer.finish(event)
    except EchoFaultError as error:
        result.append(writer.fault(error))
    return result


def flat(bodies: list[tuple[float, bytes]]) -> list[bytes]:
    return [frame for _, body in bodies for frame in frames_of(body)]


# --- The same frames, in fewer sends -------------------------------------------


@pytest.mark.parametrize("protocol", WRITERS)
async def test_an_unpaced_stream_sends_the_same_frames_in_a_few_sends(
    protocol: str,
) -> None:
    clock = ManualClock()
    model, _ = model_on(clock)
    make = writers(clock)[protocol]
    text = ("héllo, wörld 🦜 " * 70)[:1000]  # the model's longest reply
    expected = await one_frame_a_send(model, text, make())
    bodies = await sends(model, text, make())
    assert b"".join(body for _, body in bodies) == b"".join(expected)
    assert flat(bodies) == expected  # every frame whole, in its order
    assert all(isinstance(body, FrameBatch) for _, body in bodies)
    # The first send, then one per burst of the engine.
    assert len(expected) > len(text) == 1000
    assert len(bodies) <= 2 + math.ceil(len(text) / MAX_BURST)


async def test_the_first_chunk_goes_out_with_the_opening_frames_at_once() -> None:
    clock = ManualClock()
    model, _ = model_on(clock)
    writer = writers(clock)["anthropic"]
    opening = list(writer().start())
    bodies = await sends(model, "x" * 100, writer())
    first = frames_of(bodies[0][1])
    assert first[: len(opening)] == opening
    assert len(first) == len(opening) + 2  # content_block_start, the first delta
    assert first[-1].startswith(b"event: content_block_delta")


async def test_a_short_unpaced_reply_is_two_sends() -> None:
    clock = ManualClock()
    model, _ = model_on(clock)
    writer = writers(clock)["openai"]
    expected = await one_frame_a_send(model, "hello", writer())
    bodies = await sends(model, "hello", writer())
    assert flat(bodies) == expected
    assert len(bodies) == 2  # the first chunk at once, then the rest together


async def test_a_fault_mid_stream_ends_the_last_send_with_its_frame() -> None:
    clock = ManualClock()
    model, _ = model_on(clock, fail_after_chunks=40, error_rate=1.0)
    make = writers(clock)["openai"]
    failures: list[None] = []
    expected = await one_frame_a_send(model, "x" * 100, make())
    bodies = await sends(model, "x" * 100, make(), failed=lambda: failures.append(None))
    assert flat(bodies) == expected
    assert b'"error"' in expected[-1]
    assert sum(b'"delta":{"content":"x"' in frame for frame in expected) == 40
    assert len(failures) == 1


async def test_a_send_is_capped_in_bytes_whatever_its_frames_weigh() -> None:
    piece = "y" * 10_000

    async def events() -> AsyncIterator[StreamEvent]:
        for _ in range(30):  # none waits: all ready at once
            yield TextDelta(piece)
        yield Finish("echo", "stop", None, 1, 300_000)

    stream = aiter(events())
    first = await anext(stream)
    clock = ManualClock()
    writer = writers(clock)["openai"]()
    bodies = [body async for body in frames(first, stream, writer)]
    assert len(bodies) > 3
    assert all(len(body) < MAX_SEND_BYTES + len(piece) + 500 for body in bodies)
    expected = list(writers(clock)["openai"]().start())
    assert len(flat([(0.0, b) for b in bodies])) == len(expected) + 30 + 3


# --- Pacing: one send per step ----------------------------------------------------


async def test_a_paced_stream_sends_once_per_step_at_its_due_times() -> None:
    clock = ManualClock()
    model, engine = model_on(clock, first_token_delay=0.05, token_delay=0.01)
    make = writers(clock)["openai"]
    task = asyncio.create_task(sends(model, "abcdef", make(), clock))
    await clock.advance(1)
    bodies = await task
    times = [at for at, _ in bodies]
    # One send a token, each at its token's due time; the finish goes with
    # the last token (nothing waits between them).
    assert times == pytest.approx([0.05, 0.06, 0.07, 0.08, 0.09, 0.10])
    assert engine.steps == 6
    chunks = [
        [f for f in frames_of(b) if b'"delta":{"content":"' in f] for _, b in bodies
    ]
    assert [len(c) for c in chunks] == [1] * 6
    unpaced, _ = model_on(ManualClock())
    assert flat(bodies) == await one_frame_a_send(unpaced, "abcdef", make())


async def test_tokens_due_within_one_step_share_its_send() -> None:
    clock = ManualClock()
    # Gaps of 0.4 ms in a 1 ms step window: each step releases three tokens.
    model, engine = model_on(
        clock, first_token_delay=0.05, token_delay=0.0004, step_window=0.001
    )
    make = writers(clock)["anthropic"]
    task = asyncio.create_task(sends(model, "x" * 30, make(), clock))
    await clock.advance(1)
    bodies = await task
    times = [at for at, _ in bodies]
    # The first step's first token goes out at once, its other tokens right
    # after; then one send per step.
    assert times[0] == times[1]
    assert len(set(times)) == len(times) - 1 == engine.steps
    deltas = [
        sum(f.startswith(b"event: content_block_delta") for f in frames_of(b))
        for _, b in bodies
    ]
    assert sum(deltas) == 30
    assert max(deltas) == 3


# --- Fairness ------------------------------------------------------------------------


async def test_long_unpaced_streams_take_turns() -> None:
    clock = ManualClock()
    model, _ = model_on(clock)
    make = writers(clock)["openai"]
    order: list[tuple[str, int]] = []

    async def stream(name: str) -> None:
        async def send(message: Message) -> None:
            if message["type"] == "http.response.body" and message["body"]:
                chunks = sum(
                    b'"delta":{"content":"' in f for f in frames_of(message["body"])
                )
                order.append((name, chunks))

        response = await stream_reply(
            ModelBackend(model), ask("z" * 1000), make(), lambda: None
        )
        await response({"type": "http", "asgi": {"spec_version": "2.4"}}, _never, send)

    await asyncio.gather(stream("a"), stream("b"))
    names = [name for name, _ in order]
    switches = sum(x != y for x, y in itertools.pairwise(names))
    assert switches >= 1000 // MAX_BURST  # they alternate, burst by burst
    assert max(chunks for _, chunks in order) <= MAX_BURST
    assert sum(chunks for name, chunks in order if name == "a") == 1000


# --- A client that leaves -------------------------------------------------------------


async def test_closing_a_stream_with_a_pull_under_way_aborts_the_reply() -> None:
    clock = ManualClock()
    model, engine = model_on(clock)
    finished = Finished()
    engine.listeners.append(finished)
    events = aiter(ModelBackend(model).stream(ask("q" * 500)))
    first = await anext(events)
    stream = frames(first, events, writers(clock)["openai"]())
    await anext(stream)  # the first chunk
    await anext(stream)  # a burst, sent while the next pull waits for the loop
    await stream.aclose()  # the client left
    [request] = finished.requests
    assert request.finished_reason == "abort"
    assert request.generation_tokens <= 1 + 2 * MAX_BURST
    assert engine.running == 0
    gc.collect()


async def test_cancelling_a_stream_waiting_for_its_step_aborts_the_reply() -> None:
    clock = ManualClock()
    model, engine = model_on(clock, first_token_delay=0.05, token_delay=0.01)
    finished = Finished()
    engine.listeners.append(finished)
    task = asyncio.create_task(
        sends(model, "abcdef", writers(clock)["openai"](), clock)
    )
    await clock.advance(0.075)  # three tokens out, the fourth due at 0.08
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [request] = finished.requests
    assert request.finished_reason == "abort"
    assert request.generation_tokens == 3
    assert engine.running == 0


async def test_a_client_that_leaves_over_http_ends_the_reply(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app)
    body = {
        "model": "echo",
        "messages": [{"role": "user", "content": "w" * 5000}],
        "stream": True,
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        async with client.stream("POST", "/v1/chat/completions", json=body) as reply:
            async for _ in reply.aiter_bytes():
                break
        done = await client.post("/v1/chat/completions", json={**body, "stream": False})
    assert done.status_code == 200
    gc.collect()
    await asyncio.sleep(0)
    assert "already running" not in caplog.text


# --- Faults after k chunks, with bodies of many frames ------------------------------

TEXT = "k" * 100
FAULT_STREAMS: dict[str, tuple[str, dict[str, Any], bytes]] = {
    "openai": (
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": TEXT}], "stream": True},
        b"\n\n",
    ),
    "anthropic": (
        "/v1/messages",
        {
            "model": "m",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": TEXT}],
            "stream": True,
        },
        b"\n\n",
    ),
    "responses": (
        "/v1/responses",
        {"model": "m", "input": TEXT, "stream": True},
        b"\n\n",
    ),
    "ollama": (
        "/api/chat",
        {
            "model": "echo",
            "messages": [{"role": "user", "content": TEXT}],
            "stream": True,
        },
        b"\n",
    ),
}


class _App:
    """One app for every example (building one per example is slow)."""

    app: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls.app is None:
            cls.app = create_app(Settings())
        return cls.app


def with_header(app: Any, name: bytes, value: bytes) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        await app(
            {**scope, "headers": [*scope["headers"], (name, value)]}, receive, send
        )

    return wrapped


async def run_stream(
    path: str, body: dict[str, Any], fault: str | None = None
) -> tuple[list[Message], BaseException | None]:
    """POST a stream in process; return the messages sent, and what was raised."""
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    app = _App.get()
    if fault is not None:
        app = with_header(app, b"x-echo-fault", fault.encode())
    try:
        await post(app, path, orjson.dumps(body), send)
    except InjectedDisconnect as error:
        return messages, error
    return messages, None


def split_frames(data: bytes, end: bytes) -> list[bytes]:
    parts = data.split(end)
    return [part + end for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


@pytest.mark.parametrize("protocol", list(FAULT_STREAMS))
async def test_the_streams_the_fault_tests_read_are_coalesced(protocol: str) -> None:
    path, body, end = FAULT_STREAMS[protocol]
    messages, error = await run_stream(path, body)
    assert error is None
    bodies = [m["body"] for m in messages if m["type"] == "http.response.body"]
    assert max(len(frames_of(b)) for b in bodies) > MAX_BURST // 2
    wire = protocol_named(protocol)
    received = split_frames(b"".join(bodies), end)
    assert sum(map(wire.is_chunk, received)) == len(TEXT)


def protocol_named(name: str) -> WireProtocol:
    return next(p() for p in PROTOCOLS if p.name == name)


@settings(max_examples=80, deadline=None)
@given(
    protocol=st.sampled_from(list(FAULT_STREAMS)),
    kind=st.sampled_from(["error", "disconnect"]),
    after=st.integers(0, len(TEXT) + 20),
)
def test_a_fault_after_k_chunks_leaves_exactly_k_chunks(
    protocol: str, kind: str, after: int
) -> None:
    path, body, end = FAULT_STREAMS[protocol]
    wire = protocol_named(protocol)
    spec = f"{kind}; after={after}"
    messages, error = asyncio.run(run_stream(path, body, spec))
    received = split_frames(
        b"".join(m["body"] for m in messages if m["type"] == "http.response.body"),
        end,
    )
    assert sum(map(wire.is_chunk, received)) == min(after, len(TEXT))
    if kind == "disconnect":
        assert isinstance(error, InjectedDisconnect)
        if after < len(TEXT):
            assert not any(map(wire.is_end, received))
    else:
        assert error is None
        message = f"echo-model injected fault ({parse_fault(spec).spec()})"
        assert received[-1] == wire.stream_error(500, message)
