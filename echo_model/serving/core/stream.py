"""The one stream loop: model events in, a protocol's frames out.

Every streaming protocol runs its reply through ``stream_reply``: the loop
pulls the model's events (``generation.ModelBackend.stream``) and asks the
protocol's ``FrameWriter`` for the frames of each; the protocol only writes
frames. The first event is awaited before the response starts, so a fault the
model injects before its first chunk is an ordinary error reply, as a
vendor's would be; a fault after that ends the stream with the protocol's
error frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from typing import Any, Protocol

from starlette.responses import StreamingResponse

from echo_model.chat_models import EchoFaultError
from echo_model.serving.core.generation import (
    Finish,
    GenerationRequest,
    ModelBackend,
    StreamEvent,
    TextDelta,
    ToolCall,
)
from echo_model.serving.core.http import EVENT_STREAM, FrameBatch, event_stream


class FrameWriter(Protocol):
    """Writes one stream's frames in a protocol's format (one writer per stream)."""

    def start(self) -> Sequence[bytes]:
        """Return the frames that open the stream."""
        ...

    def text(self, text: str) -> Sequence[bytes]:
        """Return the frames of a piece of reply text (the hot path)."""
        ...

    def tool_call(self, call: ToolCall) -> Sequence[bytes]:
        """Return the frames of one tool call."""
        ...

    def finish(self, finish: Finish) -> Sequence[bytes]:
        """Return the frames that end the reply (and the stream)."""
        ...

    def fault(self, error: EchoFaultError) -> bytes:
        """Return the frame that ends a stream the model failed mid-way."""
        ...


async def stream_reply(
    backend: ModelBackend,
    request: GenerationRequest,
    writer: FrameWriter,
    failed: Callable[[], None],
    media_type: str = EVENT_STREAM,
) -> StreamingResponse:
    """Return the streamed reply to ``request``, framed by ``writer``.

    Raises what the model raises before its first event (an injected
    ``EchoFaultError``), for the route to answer as a whole reply.

    Args:
        backend: Runs the model.
        request: The request, checked.
        writer: The protocol's frame writer for this stream.
        failed: Counts the request as failed (a fault after the start).
        media_type: The stream's media type: Server-Sent Events by default,
            ``application/x-ndjson`` for a protocol that streams JSON lines.
    """
    events = aiter(backend.stream(request))
    first = await anext(events)
    return event_stream(frames(first, events, writer, failed), media_type)


#: The most bytes of frames one send carries: past it, the frames ready so
#: far go out and the rest follow in the next send. The engine already
#: bounds how many tokens are ready at once (``engine.MAX_BURST``); this
#: bounds a send whatever the frames weigh (tool calls, large pieces).
MAX_SEND_BYTES = 64 * 1024


async def frames(
    first: StreamEvent,
    events: AsyncIterator[StreamEvent],
    writer: FrameWriter,
    failed: Callable[[], None] = lambda: None,
) -> AsyncIterator[bytes]:
    """Yield the frames of a stream whose first event is ``first``, batched.

    Each item is one send: every frame ready without waiting, joined in a
    ``FrameBatch`` (which keeps the frames apart for the middlewares). After
    each event the loop starts pulling the next one; if the pull completes
    without suspending (the engine hands out a token already due without
    suspending, up to ``engine.MAX_BURST`` in a row), its frames join the
    batch; if it suspends (the next token waits for its step, or the engine
    lets the loop run), the batch goes out first and the pull then resumes
    where it stopped (``_Pull``). So an unpaced stream goes out in a few
    large sends, a paced one in one send per step, and each frame still
    leaves as soon as it is ready. The frames themselves, and their order,
    are the writer's, untouched: only how many share a send changes.

    The opening frames and the first event's go out at once, alone: a client
    timing its first token sees it when it is ready, not once the rest of a
    burst is written (one more send per stream).

    A fault mid-stream (``EchoFaultError``) ends the batch with the writer's
    fault frame. A stream closed while a pull is suspended (the client left)
    closes the pull too, so the model's stream ends as it would if closed
    between events.
    """
    batch: list[bytes] = [*writer.start()]
    size = sum(map(len, batch))
    event: StreamEvent | None = first
    suspended: _Pull | None = None
    eager = True  # the first event's frames go out at once (see above)
    try:
        while event is not None:
            if isinstance(event, TextDelta):
                ready = writer.text(event.text)
            elif isinstance(event, ToolCall):
                ready = writer.tool_call(event)
            else:
                batch += writer.finish(event)
                break
            batch += ready
            size += sum(map(len, ready))
            if eager or size >= MAX_SEND_BYTES:
                yield FrameBatch.of(batch)
                batch, size, eager = [], 0, False
            pull = _Pull(events)
            if pull.done:
                event = pull.event
                continue
            if batch:
                suspended = pull
                yield FrameBatch.of(batch)
                suspended = None
                batch, size = [], 0
            event = await pull
    except EchoFaultError as error:
        failed()
        batch.append(writer.fault(error))
    finally:
        if suspended is not None:
            suspended.close()
    if batch:
        yield FrameBatch.of(batch)


class _Pull:
    """One pull of a stream's next event, run at once as far as it can go.

    ``_Pull(events)`` starts ``events.__anext__()`` by hand (``send(None)``),
    in the caller's task. Either it completes without suspending (``done``;
    the event, or ``None`` at the end, in ``event``), or it suspends on
    something the task must wait for: then ``await pull`` hands that to the
    task and drives the pull to its end, as ``await`` would have. Raises what
    the pull raises (``EchoFaultError``), at once or from ``await``.
    """

    __slots__ = ("_step", "done", "event", "waiting")

    def __init__(self, events: AsyncIterator[StreamEvent]) -> None:
        self.done = True
        self.event: StreamEvent | None = None
        self.waiting: Any = None
        step = events.__anext__().__await__()
        try:
            self.waiting = step.send(None)
        except StopIteration as stop:
            self.event = stop.value
            return
        except StopAsyncIteration:
            return
        self.done = False
        self._step = step

    def __await__(self) -> Generator[Any, Any, StreamEvent | None]:
        if self.done:
            return self.event
        try:
            return (yield from _resume(self._step, self.waiting))
        except StopAsyncIteration:
            return None
        finally:
            self.done = True

    def close(self) -> None:
        """End a suspended pull (its stream is closed), if it has not ended.

        The pull is cancelled where it waits, as a task cancelled there would
        be: the model's reply ends as aborted (``engine.Engine.run``). Not
        with ``GeneratorExit``: on Python 3.11, throwing that into a chain of
        async generators closes each inner ``__anext__`` with ``close()``,
        which leaves its generator marked as running and never finishes it.
        """
        if self.done:
            return
        self.done = True
        with contextlib.suppress(
            asyncio.CancelledError, StopIteration, StopAsyncIteration
        ):
            self._step.throw(asyncio.CancelledError())


def _resume(step: Generator[Any, Any, Any], waiting: Any) -> Generator[Any, Any, Any]:
    """Hand ``waiting`` to the task, then drive ``step`` to its end (its result).

    What the task sends or throws in (a cancellation) goes on to ``step``, as
    it would through ``await``.
    """
    while True:
        try:
            sent = yield waiting
        except BaseException as error:  # a cancellation: passed on to the pull
            try:
                waiting = step.throw(error)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                waiting = step.send(sent)
            except StopIteration as stop:
                return stop.value


__all__ = ["MAX_SEND_BYTES", "FrameWriter", "frames", "stream_reply"]
