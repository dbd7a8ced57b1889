"""The server's request limits, and the one way a request is refused for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from fastapi import HTTPException


@dataclass(frozen=True)
class Limits:
    """Request limits; a request over any of them is refused before any work.

    Attributes:
        max_body_bytes: Largest request body (413 above it).
        max_n: Largest ``n`` a request may configure.
        max_messages: Most messages in one input.
        max_batch: Most inputs in one batch.
        max_delay: Largest ``first_token_delay`` or ``token_delay`` a request
            may configure, in seconds.
        max_stop_sequences: Most stop sequences a request may configure.
        max_stop_length: Longest stop sequence a request may configure, in
            characters.
        max_json_depth: Deepest nesting of arrays and objects in a body.
        max_embedding_inputs: Most inputs in one embeddings request (OpenAI's
            limit).
        max_embedding_tokens: Most tokens (code points) in one embeddings
            input (OpenAI's limit for its embedding models).
    """

    max_body_bytes: int = 1_048_576
    max_n: int = 100_000
    max_messages: int = 1_000
    max_batch: int = 100
    max_delay: float = 10.0
    max_stop_sequences: int = 64
    max_stop_length: int = 1_000
    max_json_depth: int = 32
    max_embedding_inputs: int = 2048
    max_embedding_tokens: int = 8192


def refuse(loc: str | tuple[Any, ...], message: str) -> NoReturn:
    """Refuse the request with a 422 naming where (``loc``) and what is wrong."""
    location = [loc] if isinstance(loc, str) else list(loc)
    raise HTTPException(
        status_code=422,
        detail=[{"type": "invalid_request", "loc": location, "msg": message}],
    )
