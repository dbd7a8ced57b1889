"""The echo rules: what the model replies and why it stopped.

Pure functions with no LangChain run machinery, so the rules are easy to read,
test and reuse. A *token* for this model is one Unicode code point (one Python
``str`` character): the reply streams one token per chunk and usage counts the
same unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from langchain_core.messages import BaseMessage

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class Echo:
    """The reply to one call and the facts reported about it.

    Attributes:
        text: The reply text.
        finish_reason: ``"length"`` when the character limit cut the reply short,
            otherwise ``"stop"`` (a stop sequence ended it, or the whole text
            was echoed), as in OpenAI's API.
        stop_sequence: The stop sequence that ended the reply, if one did.
        input_tokens: Characters of text across all input messages.
    """

    text: str
    finish_reason: FinishReason
    stop_sequence: str | None
    input_tokens: int

    @property
    def output_tokens(self) -> int:
        """Characters in the reply: one per streamed chunk."""
        return len(self.text)


def message_text(message: BaseMessage) -> str:
    """Return the text of a message: its string content or its text blocks in order.

    Image, audio, file and other non-text blocks are skipped.
    """
    return str(message.text)


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, str | None]:
    """Cut ``text`` just after the earliest-ending stop sequence, keeping it.

    "Earliest-ending" is what a token-by-token generator sees first, so streaming
    and invoking agree. Empty stop sequences never match.

    Returns:
        The possibly shortened text and the stop sequence that matched, if any.
    """
    best_end: int | None = None
    best_seq: str | None = None
    for seq in stop:
        if not seq:
            continue
        start = text.find(seq)
        if start < 0:
            continue
        end = start + len(seq)
        if best_end is None or end < best_end:
            best_end, best_seq = end, seq
    if best_end is None:
        return text, None
    return text[:best_end], best_seq


def echo(
    messages: Sequence[BaseMessage], *, limit: int, stop: Sequence[str] = ()
) -> Echo:
    """Compute the reply to ``messages``.

    The reply is the first ``limit`` characters of the last message's text,
    ended after the first stop sequence it contains (the sequence included).

    Args:
        messages: The conversation; only the last message is echoed.
        limit: The maximum number of characters in the reply (``>= 0``).
        stop: Stop sequences; a stop sequence must fit within ``limit`` to match.
    """
    texts = [message_text(m) for m in messages]
    last = texts[-1] if texts else ""
    reply, matched = truncate_at_stop(last[:limit], stop)
    if matched is not None:
        finish_reason: FinishReason = "stop"
    elif len(last) > limit:
        finish_reason = "length"
    else:
        finish_reason = "stop"
    return Echo(
        text=reply,
        finish_reason=finish_reason,
        stop_sequence=matched,
        input_tokens=sum(len(t) for t in texts),
    )
