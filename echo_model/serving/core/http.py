"""HTTP pieces every protocol uses alike: JSON replies, event streams, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response, StreamingResponse

JSON = "application/json"
#: Server-Sent Events (OpenAI, Anthropic, LangServe) and newline-delimited JSON
#: (Ollama): the media types of the streams the server sends.
EVENT_STREAM = "text/event-stream"
NDJSON = "application/x-ndjson"
STREAM_MEDIA_TYPES = frozenset({EVENT_STREAM.encode(), NDJSON.encode()})
#: Headers of an event stream: no caching, and no buffering by a proxy (nginx
#: reads ``X-Accel-Buffering``), so each event reaches the client as it is sent.
EVENT_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def json_response(
    body: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Return ``body`` as a JSON reply, encoded by orjson."""
    return Response(
        orjson.dumps(body), status_code=status_code, media_type=JSON, headers=headers
    )


class FrameBatch(bytes):
    """Frames sent in one piece: their bytes joined, and the frames apart.

    The stream loop (``core.stream.frames``) writes every frame ready at once
    in one send: the body of that ``http.response.body`` message is a
    ``FrameBatch``, whose ``frames`` let the middlewares that act on frames
    (an injected fault after ``k`` chunks, the journal's first token) see
    each one, whatever the protocol's framing (``frames_of``). A middleware
    that replaces a body replaces the batch, so no stale frames survive it.
    """

    frames: Sequence[bytes]

    @classmethod
    def of(cls, frames: Sequence[bytes]) -> FrameBatch:
        """Return ``frames`` joined, keeping them apart in ``frames``."""
        batch = cls(b"".join(frames))
        batch.frames = frames
        return batch


def frames_of(body: bytes) -> Sequence[bytes]:
    """Return the frames of a stream's body: a ``FrameBatch``'s, else one frame."""
    return body.frames if isinstance(body, FrameBatch) else (bytes(body),)


def event_stream(
    frames: AsyncIterator[bytes], media_type: str = EVENT_STREAM
) -> StreamingResponse:
    """Return the streamed reply that sends ``frames`` as they come.

    Each item is one ``http.response.body`` message: a frame, or a
    ``FrameBatch`` of frames ready together (Starlette sends the item as the
    message's body, unchanged).

    Args:
        frames: The frames, each already in the stream's format, or batches
            of them.
        media_type: ``text/event-stream`` (Server-Sent Events, the default) or
            ``application/x-ndjson`` (one JSON object a line, Ollama's).
    """
    return StreamingResponse(
        frames, media_type=media_type, headers=EVENT_STREAM_HEADERS
    )


def validation_route(
    answer: Callable[[RequestValidationError], Response],
    count_failure: Callable[[], None],
) -> type[APIRoute]:
    """Return a route class answering bodies that fail validation with ``answer``.

    FastAPI raises ``RequestValidationError`` inside a route's handler and
    leaves it to an app-wide handler; a protocol answers its own routes'
    instead, in its shape, so no protocol changes another's replies (nor
    FastAPI's 422 on routes of no protocol). Each such request is counted
    as failed (``count_failure``).
    """

    class ValidationAnsweringRoute(APIRoute):
        # Only a body that fails validation is answered differently, and the
        # fast path hands every such body to this route (``core.fast_path``).
        SAME_ON_FAST_PATH = True

        def get_route_handler(
            self,
        ) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def handler(request: Request) -> Response:
                try:
                    return await handle(request)
                except RequestValidationError as error:
                    count_failure()
                    return answer(error)

            return handler

    return ValidationAnsweringRoute
