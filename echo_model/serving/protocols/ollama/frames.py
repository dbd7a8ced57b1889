"""Ollama's reply shapes: whole replies, the stream's NDJSON lines, durations.

A stream is one JSON object a line (``application/x-ndjson``): a line per
piece of text (``message.content`` for ``/api/chat``, ``response`` for
``/api/generate``), a line per tool call (``message.tool_calls``, its
``arguments`` an object), then the ``done: true`` line with ``done_reason``,
the token counts and the durations. A fault after the stream started ends it
with an ``{"error": "..."}`` line instead. A whole reply (``stream: false``)
is the final line with the whole text.

Durations are nanoseconds on the engine's clock (the one that paces the
reply), measured per request (``Timings``): ``load_duration`` is the time
from the request's arrival to the model's start (reading and checking the
body: the model is always loaded), ``prompt_eval_duration`` from there to the
first token, ``eval_duration`` from the first token to the last, and
``total_duration`` their sum. A stream measures its first token when it is
written; a whole reply has no such moment, so its first token is put where
the model's latency rule puts it (prefill plus the time to first token),
within the measured total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from echo_model.chat_models import EchoFaultError
from echo_model.engine import REQUEST_ARRIVAL, Clock
from echo_model.serving.core.generation import Failure, Finish, Generation, ToolCall

#: Ollama's ``done_reason`` for the model's finish reasons (a tool call is a stop).
DONE_REASONS = {"stop": "stop", "length": "length", "tool_calls": "stop"}


def rfc3339(moment: datetime | None = None) -> str:
    """Return ``moment`` (default: now) as RFC 3339 in UTC, as Ollama writes times."""
    return (moment or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


@dataclass(slots=True)
class Timings:
    """One request's moments on the engine's clock, for its durations (module doc).

    Attributes:
        clock: The engine's clock.
        arrival: When the request reached the server (its arrival stamp).
        start: When the route handed it to the model.
        first: When its first token was written (streams), once known.
    """

    clock: Clock
    arrival: float
    start: float
    first: float | None = None

    @classmethod
    def begin(cls, clock: Clock) -> Timings:
        """Start timing a request the route is about to run, from its arrival."""
        now = clock.time()
        stamp = REQUEST_ARRIVAL.get()
        return cls(clock, stamp if stamp is not None and stamp <= now else now, now)

    def first_token(self) -> None:
        """Note the first token's moment (later calls change nothing)."""
        if self.first is None:
            self.first = self.clock.time()

    def durations(self, expected_ttft: float = 0.0) -> dict[str, int]:
        """Return Ollama's four durations, ending now; they add up to the total.

        Args:
            expected_ttft: Where the model's rule puts the first token after
                the start, for a reply whose first token was not seen.
        """
        end = self.clock.time()
        first = self.first
        if first is None:
            first = min(end, self.start + expected_ttft)
        arrival, start, first_ns, end_ns = (
            _ns(t) for t in (self.arrival, self.start, first, end)
        )
        return {
            "total_duration": end_ns - arrival,
            "load_duration": start - arrival,
            "prompt_eval_duration": first_ns - start,
            "eval_duration": end_ns - first_ns,
        }


def tool_call_object(call: ToolCall) -> dict[str, Any] | None:
    """Ollama's tool call, its arguments an object; ``None`` if they are not one.

    The model keeps arguments it could not use as written (an invalid call);
    Ollama's API has no place for arguments that are not an object, so such
    a call is sent as the text that wrote it (``tool_call_text``), as Ollama
    leaves a call it cannot parse in the content.
    """
    try:
        arguments = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(arguments, dict):
        return None
    return {
        "id": call.id,
        "function": {"index": call.index, "name": call.name, "arguments": arguments},
    }


def tool_call_text(call: ToolCall) -> str:
    """The text of a call sent as content: its name and arguments as written."""
    return call.name + call.arguments


def final_fields(finish: Finish, durations: dict[str, int]) -> dict[str, Any]:
    """The fields of the ``done: true`` line: reason, counts, durations."""
    return {
        "done": True,
        "done_reason": DONE_REASONS[finish.finish_reason],
        "total_duration": durations["total_duration"],
        "load_duration": durations["load_duration"],
        "prompt_eval_count": finish.input_tokens,
        "prompt_eval_duration": durations["prompt_eval_duration"],
        "eval_count": finish.output_tokens,
        "eval_duration": durations["eval_duration"],
    }


def chat_reply(generation: Generation, durations: dict[str, int]) -> dict[str, Any]:
    """Return the whole ``/api/chat`` reply of ``generation``."""
    calls = [(c, tool_call_object(c)) for c in generation.tool_calls]
    text = generation.text + "".join(tool_call_text(c) for c, o in calls if o is None)
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if objects := [o for _, o in calls if o is not None]:
        message["tool_calls"] = objects
    return {
        "model": generation.finish.model,
        "created_at": rfc3339(),
        "message": message,
        **final_fields(generation.finish, durations),
    }


def generate_reply(generation: Generation, durations: dict[str, int]) -> dict[str, Any]:
    """Return the whole ``/api/generate`` reply of ``generation``."""
    return {
        "model": generation.finish.model,
        "created_at": rfc3339(),
        "response": generation.text,
        **final_fields(generation.finish, durations),
    }


def load_reply(model: str, chat: bool) -> dict[str, Any]:
    """Ollama's reply to a request with nothing to answer: the model "loaded"."""
    body: dict[str, Any] = {"model": model, "created_at": rfc3339()}
    if chat:
        body["message"] = {"role": "assistant", "content": ""}
    else:
        body["response"] = ""
    return {**body, "done": True, "done_reason": "load"}


def fault_body(failure: Failure) -> dict[str, Any]:
    """Return the error body (or stream line) of a failure the model raised."""
    return {"error": failure.message}


class LineWriter:
    """Writes a stream's NDJSON lines: text, tool calls, the ``done`` line.

    Args:
        model: The model name every line carries.
        timings: The request's timings; the first text or call marks its
            first token.
        chat: ``/api/chat`` lines (``message``) rather than ``/api/generate``
            ones (``response``).
        expected_ttft: For ``Timings.durations`` (a stream always sees it).
    """

    def __init__(
        self, *, model: str, timings: Timings, chat: bool, expected_ttft: float = 0.0
    ) -> None:
        self.model = model
        self.timings = timings
        self.chat = chat
        self.expected_ttft = expected_ttft
        # Every content line carries the stream's start time; the last its end.
        self.created_at = rfc3339()
        head = orjson.dumps({"model": model, "created_at": self.created_at})[:-1]
        self.head = head
        # Text lines are the hot path: the line around the text is made once.
        if chat:
            self.before = head + b',"message":{"role":"assistant","content":'
            self.after = b'},"done":false}\n'
        else:
            self.before = head + b',"response":'
            self.after = b',"done":false}\n'

    def start(self) -> Sequence[bytes]:
        """Nothing opens an Ollama stream."""
        return ()

    def text(self, text: str) -> Sequence[bytes]:
        """One line with the piece of text."""
        self.timings.first_token()
        return (self.before + orjson.dumps(text) + self.after,)

    def tool_call(self, call: ToolCall) -> Sequence[bytes]:
        """One line with the call (or its text, if its arguments are no object)."""
        self.timings.first_token()
        rendered = tool_call_object(call)
        if rendered is None or not self.chat:
            return self.text(tool_call_text(call))
        message = {"role": "assistant", "content": "", "tool_calls": [rendered]}
        return (
            self.head + b',"message":' + orjson.dumps(message) + b',"done":false}\n',
        )

    def finish(self, finish: Finish) -> Sequence[bytes]:
        """The ``done: true`` line: reason, counts and durations."""
        body: dict[str, Any] = {"model": self.model, "created_at": rfc3339()}
        if self.chat:
            body["message"] = {"role": "assistant", "content": ""}
        else:
            body["response"] = ""
        body.update(final_fields(finish, self.timings.durations(self.expected_ttft)))
        return (orjson.dumps(body) + b"\n",)

    def fault(self, error: EchoFaultError) -> bytes:
        """The ``{"error": ...}`` line ending a stream the model failed mid-way."""
        return orjson.dumps(fault_body(Failure.of(error))) + b"\n"
