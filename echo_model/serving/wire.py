"""Replies every wire adapter sends the same way: JSON bodies and event streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

JSON = "application/json"
#: Headers of an event stream: no caching, and no buffering by a proxy (nginx
#: reads ``X-Accel-Buffering``), so each event reaches the client as it is sent.
EVENT_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def json_response(body: dict[str, Any], status_code: int = 200) -> Response:
    """Return ``body`` as a JSON reply, encoded by orjson."""
    return Response(orjson.dumps(body), status_code=status_code, media_type=JSON)


def event_stream(frames: AsyncIterator[bytes]) -> StreamingResponse:
    """Return the Server-Sent Events reply that sends ``frames`` as they come."""
    return StreamingResponse(
        frames, media_type="text/event-stream", headers=EVENT_STREAM_HEADERS
    )
