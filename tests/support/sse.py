"""Reading Server-Sent Events the way a client sees them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """One SSE event: its name and its (JSON-decoded, when possible) data."""

    event: str
    data: Any


def parse_sse(text: str) -> list[Event]:
    """Split an SSE body into events, decoding JSON data."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, lines = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                lines.append(line[len("data:") :].strip())
        raw = "\n".join(lines)
        try:
            data = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            data = raw
        events.append(Event(name, data))
    return events
