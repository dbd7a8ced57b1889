"""Anthropic's reply shapes: the ``message`` body and the stream's typed events.

- Stop reasons: the model's ``stop`` is ``end_turn`` (``stop_sequence`` when
  a sequence matched), ``length`` is ``max_tokens``, ``tool_calls`` is
  ``tool_use``.
- Tool use ids are the model's call ids with ``toolu_`` for ``call_``
  (``call_ab12...`` is ``toolu_ab12...``): deterministic, like the model's.
- A tool call the model could not parse (an invalid call) has ``input: {}``:
  Anthropic's ``tool_use.input`` is always a JSON object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from echo_model.chat_models import EchoFaultError
from echo_model.serving.core.generation import Failure, Finish, Generation, ToolCall
from echo_model.serving.protocols.anthropic.errors import error_body

#: Characters of tool input JSON per ``input_json_delta``: the input streams
#: in fragments, as Anthropic's does, which clients must join.
JSON_FRAGMENT = 16
STOP_REASONS = {"length": "max_tokens", "tool_calls": "tool_use"}


def message(generation: Generation, message_id: str) -> dict[str, Any]:
    """Return the ``message`` body of ``generation``."""
    finish = generation.finish
    content: list[dict[str, Any]] = []
    if generation.text:
        content.append({"type": "text", "text": generation.text})
    content.extend(_tool_use(call) for call in generation.tool_calls)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": finish.model,
        "content": content,
        "stop_reason": stop_reason(finish),
        "stop_sequence": finish.stop_sequence,
        "usage": usage(finish.input_tokens, finish.output_tokens),
    }


def stop_reason(finish: Finish) -> str:
    """Anthropic's ``stop_reason`` for how the model's reply ended."""
    if finish.finish_reason in STOP_REASONS:
        return STOP_REASONS[finish.finish_reason]
    return "stop_sequence" if finish.stop_sequence is not None else "end_turn"


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    """Anthropic's usage object from the model's counts (nothing is cached)."""
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def tool_use_id(call_id: str) -> str:
    """The ``tool_use`` id of the model's call id: ``call_x`` is ``toolu_x``.

    An id that already is a ``toolu_`` id (a fixture's, written for
    Anthropic) is kept as it is.
    """
    if call_id.startswith("toolu_"):
        return call_id
    return "toolu_" + call_id.removeprefix("call_")


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": tool_use_id(call.id),
        "name": call.name,
        "input": orjson.loads(call.arguments) if call.error is None else {},
    }


def fault_body(failure: Failure) -> dict[str, Any]:
    """Return the error body of a failure the model raised on purpose.

    A fixture's error keeps the type it names; otherwise the status's type.
    """
    body = error_body(failure.message, status=failure.status)
    if failure.type is not None:
        body["error"]["type"] = failure.type
    return body


class EventWriter:
    """Writes a stream's events in Anthropic's order, ``event:`` and ``data:`` each.

    ``message_start`` (the message with no content yet, and its input tokens),
    ``ping``, then per content block (the text, then each tool call) its
    ``content_block_start``, deltas (``text_delta`` per model chunk;
    ``input_json_delta`` fragments of a tool call's input) and
    ``content_block_stop``, then ``message_delta`` (the stop reason, the stop
    sequence and the whole usage) and ``message_stop``. A fault after the
    stream started ends it with ``event: error`` instead.

    Args:
        message_id: The message's id.
        model: The model name reported.
        input_tokens: The prompt's tokens, reported in ``message_start``.
    """

    # Text deltas are the hot path: the frame around the text is made once.
    _BEFORE = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta",'
        b'"index":0,"delta":{"type":"text_delta","text":'
    )
    _AFTER = b"}}\n\n"

    def __init__(self, *, message_id: str, model: str, input_tokens: int) -> None:
        self.message_id = message_id
        self.model = model
        self.input_tokens = input_tokens
        self.blocks = 0  # content blocks started
        self.text_open = False

    def start(self) -> Sequence[bytes]:
        """``message_start`` and a ``ping``."""
        start: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage(self.input_tokens, 0),
        }
        return (
            _event("message_start", {"type": "message_start", "message": start}),
            _event("ping", {"type": "ping"}),
        )

    def text(self, text: str) -> Sequence[bytes]:
        """A ``text_delta``, after the text block's start if it is the first."""
        frame = self._BEFORE + orjson.dumps(text) + self._AFTER
        if self.text_open:
            return (frame,)
        self.text_open, self.blocks = True, self.blocks + 1
        return (_block_start(0, {"type": "text", "text": ""}), frame)

    def tool_call(self, call: ToolCall) -> Sequence[bytes]:
        """The text block's stop if open, then the call's block."""
        frames = []
        if self.text_open:
            self.text_open = False
            frames.append(_block_stop(0))
        frames.extend(_tool_use_frames(self.blocks, call))
        self.blocks += 1
        return frames

    def finish(self, finish: Finish) -> Sequence[bytes]:
        """The text block's stop if open, ``message_delta``, ``message_stop``."""
        frames = [_block_stop(0)] if self.text_open else []
        self.text_open = False
        delta = {
            "type": "message_delta",
            "delta": {
                "stop_reason": stop_reason(finish),
                "stop_sequence": finish.stop_sequence,
            },
            "usage": usage(finish.input_tokens, finish.output_tokens),
        }
        frames.append(_event("message_delta", delta))
        frames.append(_event("message_stop", {"type": "message_stop"}))
        return frames

    def fault(self, error: EchoFaultError) -> bytes:
        """``event: error``, which ends a stream the model failed mid-way."""
        return _event("error", fault_body(Failure.of(error)))


def _tool_use_frames(index: int, call: ToolCall) -> list[bytes]:
    block = {**_tool_use(call), "input": {}}
    arguments = call.arguments if call.error is None else "{}"
    frames = [_block_start(index, block)]
    # Anthropic's streams open a tool's input with an empty fragment.
    for offset in range(-JSON_FRAGMENT, len(arguments), JSON_FRAGMENT):
        fragment = arguments[max(offset, 0) : offset + JSON_FRAGMENT]
        delta = {"type": "input_json_delta", "partial_json": fragment}
        frames.append(
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        )
    frames.append(_block_stop(index))
    return frames


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    return _event(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def _block_stop(index: int) -> bytes:
    return _event("content_block_stop", {"type": "content_block_stop", "index": index})


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
