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

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

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
from echo_model.serving.core.http import EVENT_STREAM, event_stream


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


async def frames(
    first: StreamEvent,
    events: AsyncIterator[StreamEvent],
    writer: FrameWriter,
    failed: Callable[[], None] = lambda: None,
) -> AsyncIterator[bytes]:
    """Yield the frames of a stream whose first event is ``first``."""
    for frame in writer.start():
        yield frame
    event: StreamEvent | None = first
    try:
        while event is not None:
            if isinstance(event, TextDelta):
                for frame in writer.text(event.text):
                    yield frame
            elif isinstance(event, ToolCall):
                for frame in writer.tool_call(event):
                    yield frame
            else:
                for frame in writer.finish(event):
                    yield frame
                return
            event = await anext(events, None)
    except EchoFaultError as error:
        failed()
        yield writer.fault(error)


__all__ = ["FrameWriter", "frames", "stream_reply"]
