"""OpenAI's reply shapes: the ``chat.completion`` body and the stream's chunks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from echo_model import __version__
from echo_model.chat_models import EchoFaultError
from echo_model.serving.core.generation import Failure, Finish, Generation, ToolCall
from echo_model.serving.protocols.openai.errors import error_body

SYSTEM_FINGERPRINT = f"fp_echo_{__version__}"


def completion(
    generation: Generation, completion_id: str, created: int, choices: int = 1
) -> dict[str, Any]:
    """Return the ``chat.completion`` body of ``generation``, ``choices`` times."""
    finish = generation.finish
    message: dict[str, Any] = {
        "role": "assistant",
        "content": generation.text if not generation.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if generation.tool_calls:
        message["tool_calls"] = [_tool_call(call) for call in generation.tool_calls]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": finish.model,
        "choices": [
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": finish.finish_reason,
            }
            for index in range(choices)
        ],
        "usage": usage(finish, choices),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def usage(finish: Finish, choices: int = 1) -> dict[str, Any]:
    """OpenAI's usage object from the model's counts (completions count per choice)."""
    completion_tokens = finish.output_tokens * choices
    return {
        "prompt_tokens": finish.input_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": finish.input_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def fault_body(failure: Failure) -> dict[str, Any]:
    """Return the error body of a failure the model raised on purpose.

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


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


class ChunkWriter:
    """Writes a stream's ``data:`` frames in OpenAI's chunk order, then ``[DONE]``.

    The first chunk of each choice carries ``role``; text deltas follow, one
    per model chunk; a tool call comes as a delta with its ``index``, ``id``,
    ``type`` and name, then one with its arguments; the last chunk of each
    choice has an empty delta and the ``finish_reason``. With
    ``include_usage`` every chunk has ``"usage": null`` and one more chunk,
    with no choices, carries the usage. A fault after the stream started
    ends it with ``data: {"error": {...}}`` instead (and no ``[DONE]``).

    Args:
        chunk_id: The ``chatcmpl-...`` id every chunk carries.
        created: The creation time every chunk carries.
        model: The model name every chunk carries.
        choices: How many choices (``n``) each event is written for.
        include_usage: Whether a usage chunk ends the stream.
    """

    def __init__(
        self,
        *,
        chunk_id: str,
        created: int,
        model: str,
        choices: int,
        include_usage: bool,
    ) -> None:
        self.choices = choices
        self.include_usage = include_usage
        self.head = orjson.dumps(
            {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "service_tier": "default",
            }
        )[:-1]
        self.tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        # Text deltas are the hot path: the frame around the text is made once.
        self.before = [
            b"data: " + self.head + b',"choices":[{"index":%d,"delta":{"content":' % i
            for i in range(choices)
        ]
        self.after = b'},"logprobs":null,"finish_reason":null}]' + self.tail

    def _frame(
        self, index: int, delta: dict[str, Any], finish: str | None = None
    ) -> bytes:
        choice = {
            "index": index,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish,
        }
        return (
            b"data: " + self.head + b',"choices":' + orjson.dumps([choice]) + self.tail
        )

    def start(self) -> Sequence[bytes]:
        """Each choice's first chunk: the role."""
        delta = {"role": "assistant", "content": "", "refusal": None}
        return [self._frame(index, delta) for index in range(self.choices)]

    def text(self, text: str) -> Sequence[bytes]:
        """One content delta per choice."""
        encoded = orjson.dumps(text)
        if self.choices == 1:
            return (self.before[0] + encoded + self.after,)
        return [before + encoded + self.after for before in self.before]

    def tool_call(self, call: ToolCall) -> Sequence[bytes]:
        """Per choice, the call's head (id, name), then its arguments."""
        head = {
            "index": call.index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        arguments = {"index": call.index, "function": {"arguments": call.arguments}}
        frames = []
        for index in range(self.choices):
            frames.append(self._frame(index, {"tool_calls": [head]}))
            frames.append(self._frame(index, {"tool_calls": [arguments]}))
        return frames

    def finish(self, finish: Finish) -> Sequence[bytes]:
        """Each choice's finish reason, the usage if asked, then ``[DONE]``."""
        frames = [
            self._frame(index, {}, finish.finish_reason)
            for index in range(self.choices)
        ]
        if self.include_usage:
            frames.append(
                b"data: "
                + self.head
                + b',"choices":[],"usage":'
                + orjson.dumps(usage(finish, self.choices))
                + b"}\n\n"
            )
        frames.append(b"data: [DONE]\n\n")
        return frames

    def fault(self, error: EchoFaultError) -> bytes:
        """The error that ends a stream the model failed mid-way."""
        body = fault_body(Failure.of(error))
        return b"data: " + orjson.dumps(body) + b"\n\n"
