"""The Responses API's reply shapes: the ``response`` object and its stream's events.

A reply's ``output`` is a ``message`` item with its text (when the reply has
text, or has nothing else), then one ``function_call`` item per tool call. A
reply the token cap cut (the model's ``length``) is ``status: "incomplete"``
with ``incomplete_details.reason: "max_output_tokens"`` and the text so far.

A stream is ``event: <type>`` / ``data: {type, sequence_number, ...}``
frames in OpenAI's order: ``response.created``, ``response.in_progress``,
per output item ``response.output_item.added`` (a message's
``response.content_part.added``, ``response.output_text.delta``...,
``response.output_text.done``, ``response.content_part.done``; a function
call's ``response.function_call_arguments.delta`` and ``.done``) and
``response.output_item.done``, then ``response.completed`` (or
``response.incomplete``) carrying the same response a whole reply is. A
failure after the stream started ends it with ``response.failed``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from echo_model.chat_models import EchoFaultError
from echo_model.serving.core.generation import Failure, Finish, Generation, ToolCall
from echo_model.serving.protocols.responses.errors import error_body

#: ``ResponseErrorCode`` values a failure may carry (the SDK's ``Literal``).
ERROR_CODES = frozenset(["server_error", "rate_limit_exceeded", "invalid_prompt"])


def new_id(prefix: str) -> str:
    """Return a fresh id: ``resp_...``, ``msg_...``, ``fc_...``."""
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class ReplyHead:
    """What a response reports of its request: the same in every frame of a stream.

    Attributes:
        id: The ``resp_...`` id.
        created_at: The creation time.
        fields: The request's settings reported back (``model``,
            ``instructions``, ``tools``, ``tool_choice``, ...).
    """

    fields: dict[str, Any]
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    def response(
        self,
        status: str,
        output: list[dict[str, Any]],
        finish: Finish | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Return the ``response`` object with ``status``, ``output`` and usage."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": (
                {"reason": "max_output_tokens"} if status == "incomplete" else None
            ),
            **self.fields,
            "output": output,
        }
        if finish is not None:
            body["model"] = finish.model
            body["usage"] = usage(finish)
        return body


def request_fields(
    *,
    model: str,
    instructions: str | None,
    max_output_tokens: int | None,
    tools: list[dict[str, Any]],
    tool_choice: Any,
    parallel_tool_calls: bool,
    text: dict[str, Any],
    reasoning: dict[str, Any] | None,
    metadata: dict[str, str] | None,
    temperature: float | None,
    top_p: float | None,
    truncation: str | None,
    user: str | None,
) -> dict[str, Any]:
    """The request's settings as a response reports them (OpenAI's defaults filled)."""
    fields = {
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "model": model,
        "parallel_tool_calls": parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": reasoning or {"effort": None, "summary": None},
        "service_tier": "default",
        "store": False,  # nothing is kept: see docs/openai.md
        "temperature": 1.0 if temperature is None else temperature,
        "text": text,
        "tool_choice": tool_choice,
        "tools": tools,
        "top_p": 1.0 if top_p is None else top_p,
        "truncation": truncation or "disabled",
        "metadata": metadata or {},
    }
    if user is not None:  # a string or absent, in OpenAI's schema
        fields["user"] = user
    return fields


def usage(finish: Finish) -> dict[str, Any]:
    """The Responses usage object from the model's counts."""
    return {
        "input_tokens": finish.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": finish.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": finish.input_tokens + finish.output_tokens,
    }


def status_of(finish: Finish) -> str:
    """``incomplete`` when the token cap cut the reply, else ``completed``."""
    return "incomplete" if finish.finish_reason == "length" else "completed"


def text_part(text: str) -> dict[str, Any]:
    """An ``output_text`` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(
    item_id: str, text: str | None, status: str = "completed"
) -> dict[str, Any]:
    """A ``message`` output item; ``text=None``: no content part yet."""
    content = [] if text is None else [text_part(text)]
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def call_item(
    item_id: str, call: ToolCall, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    """A ``function_call`` output item."""
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.id,
        "name": call.name,
        "arguments": arguments,
        "status": status,
    }


def response(head: ReplyHead, generation: Generation) -> dict[str, Any]:
    """Return the whole ``response`` of ``generation``."""
    finish = generation.finish
    status = status_of(finish)
    output = []
    if generation.text or not generation.tool_calls:
        # A tool call closes the message before it (as a stream does).
        done = "completed" if generation.tool_calls else status
        output.append(message_item(new_id("msg"), generation.text, done))
    output.extend(
        call_item(new_id("fc"), call, call.arguments) for call in generation.tool_calls
    )
    return head.response(status, output, finish)


def failure_error(failure: Failure) -> dict[str, Any]:
    """The ``error`` of a failed response (``ResponseError``: a code from its list)."""
    code = failure.code if failure.code in ERROR_CODES else None
    if code is None:
        code = "rate_limit_exceeded" if failure.status == 429 else "server_error"
    return {"code": code, "message": failure.message}


def fault_body(failure: Failure) -> dict[str, Any]:
    """Return the error body of a failure the model raised before any output.

    An injected fault is a ``server_error`` with code ``injected_fault``; a
    fixture's error keeps the type and code it names.
    """
    if failure.type is None and failure.code is None and failure.status >= 500:
        return error_body(
            failure.message,
            status=failure.status,
            type_="server_error",
            code="injected_fault",
        )
    return error_body(
        failure.message, status=failure.status, type_=failure.type, code=failure.code
    )


def event(kind: str, sequence_number: int, payload: dict[str, Any]) -> bytes:
    """One SSE frame: ``event: <kind>`` and ``data: {type, sequence_number, ...}``."""
    data = {"type": kind, "sequence_number": sequence_number, **payload}
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps(data))


class ResponseWriter:
    """Writes one stream's frames in the Responses API's event order.

    The message item opens with the first text (or at the end, empty, when
    the reply has nothing else); a tool call closes it and comes as its own
    item; the finish closes what is open and sends the whole response, the
    same object a whole reply is.

    Args:
        head: The response's id, time and reported settings.
    """

    def __init__(self, head: ReplyHead) -> None:
        self.head = head
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.message_id: str | None = None
        self.text_pieces: list[str] = []
        # Text deltas are the hot path: the frame around the text is made once
        # the message item is known.
        self._before = b""

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        frame = event(kind, self.sequence, payload)
        self.sequence += 1
        return frame

    def start(self) -> Sequence[bytes]:
        """``response.created`` and ``response.in_progress``, with no output yet."""
        snapshot = self.head.response("in_progress", [])
        return [
            self._event("response.created", {"response": snapshot}),
            self._event("response.in_progress", {"response": snapshot}),
        ]

    def _open_message(self) -> list[bytes]:
        self.message_id = item_id = new_id("msg")
        index = len(self.output)
        self._before = (
            b'event: response.output_text.delta\ndata: {"type":'
            b'"response.output_text.delta","item_id":"%s","output_index":%d,'
            b'"content_index":0,"logprobs":[],"sequence_number":'
            % (item_id.encode(), index)
        )
        return [
            self._event(
                "response.output_item.added",
                {
                    "output_index": index,
                    "item": message_item(item_id, None, "in_progress"),
                },
            ),
            self._event(
                "response.content_part.added",
                {
                    "item_id": item_id,
                    "output_index": index,
                    "content_index": 0,
                    "part": text_part(""),
                },
            ),
        ]

    def _close_message(self, status: str) -> list[bytes]:
        item_id, index = self.message_id or "", len(self.output)
        text = "".join(self.text_pieces)
        self.message_id = None
        item = message_item(item_id, text, status)
        self.output.append(item)
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        return [
            self._event(
                "response.output_text.done", {**where, "text": text, "logprobs": []}
            ),
            self._event(
                "response.content_part.done", {**where, "part": text_part(text)}
            ),
            self._event(
                "response.output_item.done", {"output_index": index, "item": item}
            ),
        ]

    def text(self, text: str) -> Sequence[bytes]:
        """One ``response.output_text.delta`` (the message item opened first)."""
        frames = self._open_message() if self.message_id is None else []
        self.text_pieces.append(text)
        frames.append(
            self._before + b'%d,"delta":%s}\n\n' % (self.sequence, orjson.dumps(text))
        )
        self.sequence += 1
        return frames

    def tool_call(self, call: ToolCall) -> Sequence[bytes]:
        """The call's item: added, its arguments as one delta, done."""
        frames = self._close_message("completed") if self.message_id else []
        item_id, index = new_id("fc"), len(self.output)
        item = call_item(item_id, call, call.arguments)
        self.output.append(item)
        frames += [
            self._event(
                "response.output_item.added",
                {
                    "output_index": index,
                    "item": call_item(item_id, call, "", "in_progress"),
                },
            ),
            self._event(
                "response.function_call_arguments.delta",
                {"item_id": item_id, "output_index": index, "delta": call.arguments},
            ),
            self._event(
                "response.function_call_arguments.done",
                {
                    "item_id": item_id,
                    "output_index": index,
                    "name": call.name,
                    "arguments": call.arguments,
                },
            ),
            self._event(
                "response.output_item.done", {"output_index": index, "item": item}
            ),
        ]
        return frames

    def finish(self, finish: Finish) -> Sequence[bytes]:
        """Close the message, then ``response.completed`` or ``response.incomplete``."""
        status = status_of(finish)
        frames: list[bytes] = []
        if self.message_id is None and not self.output:
            frames += self._open_message()  # an empty reply: an empty message
        if self.message_id is not None:
            frames += self._close_message(status)
        body = self.head.response(status, self.output, finish)
        frames.append(self._event(f"response.{status}", {"response": body}))
        return frames

    def fault(self, error: EchoFaultError) -> bytes:
        """``response.failed`` with the output so far and the error."""
        output = list(self.output)
        if self.message_id is not None:
            output.append(
                message_item(self.message_id, "".join(self.text_pieces), "incomplete")
            )
        body = self.head.response(
            "failed", output, error=failure_error(Failure.of(error))
        )
        return self._event("response.failed", {"response": body})
