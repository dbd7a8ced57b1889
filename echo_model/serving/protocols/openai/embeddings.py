"""OpenAI's ``POST /v1/embeddings`` over ``EchoEmbeddings``' scheme.

The vectors are the model library's (``echo_model.embeddings.embed_text``):
the same text gives the same vector in process and over HTTP. A token is a
code point, as for the chat model, so token ids in ``input`` are code points
and usage counts code points (``echo_model.echo.count_tokens``).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.responses import Response

from echo_model.echo import count_tokens
from echo_model.embeddings import DEFAULT_DIMENSIONS, embed_text
from echo_model.serving.core.fault_middleware import decide_fault
from echo_model.serving.core.http import json_response
from echo_model.serving.core.limits import Limits
from echo_model.serving.core.metrics import ServingMetrics
from echo_model.serving.core.options import InvalidRequest
from echo_model.serving.core.replies import ModelReplies
from echo_model.serving.protocols.openai import schemas as oa

FORMS = (
    "a string, a list of strings, a list of token ids (integers) or a list of"
    " lists of token ids"
)


def input_texts(value: Any, limits: Limits) -> list[str]:
    """Return the texts an embeddings ``input`` holds, or refuse it.

    Args:
        value: The body's ``input``: a text, texts, token ids or lists of them.
        limits: The server's limits on inputs and their length.

    Raises:
        InvalidRequest: Not one of the four forms, an empty input, too many
            inputs, or one too long.
    """
    if isinstance(value, str):
        texts = [value]
    elif not isinstance(value, list):
        msg = f"'input' must be {FORMS}, got {_kind(value)}"
        raise InvalidRequest(msg, "input")
    elif not value:
        msg = "'input' cannot be an empty list"
        raise InvalidRequest(msg, "input")
    elif all(isinstance(item, str) for item in value):
        texts = list(value)
    elif all(_is_token(item) for item in value):
        texts = ["".join(map(chr, value))]
    elif all(isinstance(i, list) and all(map(_is_token, i)) for i in value):
        texts = ["".join(map(chr, ids)) for ids in value]
    else:
        msg = (
            f"'input' must be {FORMS}; this list mixes them or holds"
            f" {_kind(next(i for i in value if not isinstance(i, str)))}"
        )
        raise InvalidRequest(msg, "input")
    if len(texts) > limits.max_embedding_inputs:
        msg = f"'input' holds at most {limits.max_embedding_inputs} inputs here"
        raise InvalidRequest(msg, "input")
    for index, text in enumerate(texts):
        where = "input" if len(texts) == 1 else f"input.[{index}]"
        if not text:
            msg = f"'{where}' cannot be empty"
            raise InvalidRequest(msg, where)
        if count_tokens(text) > limits.max_embedding_tokens:
            msg = (
                f"'{where}' is {count_tokens(text)} tokens; at most"
                f" {limits.max_embedding_tokens} here"
            )
            raise InvalidRequest(msg, where)
    return texts


def _is_token(value: Any) -> bool:
    """A token id: a code point (an integer, not a boolean, 0 to 0x10FFFF)."""
    return type(value) is int and 0 <= value <= 0x10FFFF


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    names = {float: "a number", dict: "an object", list: "a list"}
    return names.get(type(value), type(value).__name__)


def encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    """The vector as sent: floats, or base64 of little-endian float32s."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


class EmbeddingsRoute:
    """``POST /v1/embeddings``: one vector per input, in input order.

    Args:
        limits: The server's limits.
        metrics: Where requests are counted (as ``protocol``).
        protocol: The metrics' ``protocol`` label.
        replies: The protocol's answers to a refusal and a failure.
    """

    def __init__(
        self,
        limits: Limits,
        metrics: ServingMetrics,
        protocol: str,
        replies: ModelReplies,
    ) -> None:
        self.limits = limits
        self.count_request: Callable[[], Callable[[], None]] = lambda: (
            metrics.count_request(protocol)
        )
        self.replies = replies

    async def embed(self, body: oa.EmbeddingsRequest, request: Request) -> Response:
        """Embed each input by the echo scheme, in OpenAI's shape."""

        async def work() -> Response:
            texts = input_texts(body.input, self.limits)
            await decide_fault(request, None)  # checked: the request's fault now
            return self._reply(body, texts)

        return await self.replies.answer(work, self.count_request())

    @staticmethod
    def _reply(body: oa.EmbeddingsRequest, texts: list[str]) -> Response:
        dimensions = body.dimensions or DEFAULT_DIMENSIONS
        tokens = sum(count_tokens(text) for text in texts)
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": encoded(
                    embed_text(text, dimensions), body.encoding_format
                ),
            }
            for index, text in enumerate(texts)
        ]
        return json_response(
            {
                "object": "list",
                "data": data,
                "model": body.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
