"""The echo rules: what the model replies and why it stopped.

Pure functions with no LangChain run machinery, so the rules are easy to read,
test and reuse. A *token* for this model is one Unicode code point (one Python
``str`` character): the reply streams one token per chunk and usage counts the
same unit.

What is echoed is a message's *text*: its string content, or its content
blocks in order, where a text block gives its text and a media block (image,
audio, video, file/PDF, in LangChain's, OpenAI's or Anthropic's form) gives a
marker saying what it was: ``[image image/png, 68 bytes]`` for inline (base64)
data, ``[image https://example.com/cat.png]`` for a URL, ``[file id file-1]``
for a provider file id. Other blocks (reasoning, tool calls) give nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import BaseMessage

from echo_model.schemas import derive_args

if TYPE_CHECKING:
    from echo_model.tools import PlannedCall

FinishReason = Literal["stop", "length", "tool_calls"]
#: Characters of text searched for stop sequences at first; the window doubles.
STOP_SEARCH_WINDOW = 256
MEDIA_KINDS = {
    "image": "image",
    "image_url": "image",
    "audio": "audio",
    "input_audio": "audio",
    "video": "video",
    "file": "file",
    "document": "file",
    "text-plain": "file",
}


@dataclass(frozen=True, slots=True)
class Echo:
    """The reply to one call and the facts reported about it.

    Attributes:
        text: The reply text.
        finish_reason: ``"length"`` when the character limit cut the reply short,
            ``"tool_calls"`` when the reply is tool calls, otherwise ``"stop"``
            (a stop sequence ended it, or the whole text was echoed), as in
            OpenAI's API.
        stop_sequence: The stop sequence that ended the reply, if one did.
        input_tokens: Characters of text across all input messages.
        tool_call_tokens: Characters of the tool calls' names and JSON arguments.
    """

    text: str
    finish_reason: FinishReason
    stop_sequence: str | None
    input_tokens: int
    tool_call_tokens: int = 0

    @property
    def output_tokens(self) -> int:
        """Characters in the reply, text and tool calls."""
        return len(self.text) + self.tool_call_tokens


def message_text(message: BaseMessage) -> str:
    """Return what is echoed of a message: its text, media blocks as markers."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict):
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif (marker := media_marker(block)) is not None:
                parts.append(marker)
    return "".join(parts)


def media_marker(block: dict[str, Any]) -> str | None:
    """Describe a media content block: ``[kind mime, N bytes]``, ``[kind URL]``."""
    kind = MEDIA_KINDS.get(str(block.get("type")))
    if kind is None:
        return None
    nested = block.get("image_url") or block.get("input_audio") or block.get("source")
    nested = nested if isinstance(nested, dict) else {"url": nested} if nested else {}
    url = block.get("url") or nested.get("url")
    data = block.get("base64") or block.get("data") or nested.get("data")
    mime = (
        block.get("mime_type")
        or nested.get("media_type")
        or (f"{kind}/{nested['format']}" if "format" in nested else None)
    )
    if isinstance(url, str) and url.startswith("data:"):
        header, _, data = url.partition(",")
        mime = header.removeprefix("data:").split(";")[0] or mime
        url = None
    # A plain-text document carries its text as is, not base64: LangChain's
    # ``text-plain`` block in ``text``, Anthropic's text source in ``data``.
    plain = block.get("text") if block.get("type") == "text-plain" else None
    if plain is None and nested.get("type") == "text":
        plain = nested.get("data")
    if isinstance(plain, str):
        size = len(plain.encode("utf-8"))
        return f"[{kind} {mime or 'text/plain'}, {size} bytes]"
    if isinstance(data, str):
        size = len(data) * 3 // 4 - data[-2:].count("=")
        return f"[{kind} {mime or 'unknown type'}, {size} bytes]"
    if isinstance(url, str):
        return f"[{kind} {url}]"
    if file_id := block.get("file_id") or block.get("id") or nested.get("file_id"):
        return f"[{kind} id {file_id}]"
    return f"[{kind}]"


def truncate_at_stop(
    text: str, stop: Sequence[str], *, include: bool = True
) -> tuple[str, str | None]:
    """Cut ``text`` at the earliest-ending stop sequence: after it, or before it.

    "Earliest-ending" is what a token-by-token generator sees first, so streaming
    and invoking agree; on a tie the sequence listed first wins. Empty stop
    sequences never match.

    The text is searched in windows that double in size, each sequence only up
    to the best end found so far, so the cost is about (sequences x the length
    of the reply), not (sequences x the whole text).

    Args:
        text: The text to cut.
        stop: The stop sequences.
        include: Keep the matched sequence (the model's default: the reply is
            everything up to and including it); ``False``
            drops it, as OpenAI's and Anthropic's APIs do.

    Returns:
        The possibly shortened text and the stop sequence that matched, if any.
    """
    sequences = [seq for seq in dict.fromkeys(stop) if seq]
    best_end = len(text) + 1  # one past any end a match can have
    best_seq: str | None = None
    searched = 0  # every match ending at or before this has been looked for
    window = STOP_SEARCH_WINDOW
    while best_seq is None and searched < len(text):
        upto = min(len(text), searched + window)
        for seq in sequences:
            # An end in (searched, upto], and before the best so far (a tie
            # keeps the sequence listed first).
            limit = min(upto, best_end - 1)
            start = max(0, searched - len(seq) + 1)
            if limit - start < len(seq):
                continue
            found = text.find(seq, start, limit)
            if found >= 0:
                best_end, best_seq = found + len(seq), seq
        searched, window = upto, window * 2
    if best_seq is None:
        return text, None
    return text[: best_end if include else best_end - len(best_seq)], best_seq


def echo(
    messages: Sequence[BaseMessage],
    *,
    limit: int,
    stop: Sequence[str] = (),
    include_stop: bool = True,
) -> Echo:
    """Compute the reply to ``messages``.

    The reply is the first ``limit`` characters of the last message's text,
    ended at the first stop sequence it contains (see ``truncate_at_stop``).

    Args:
        messages: The conversation; only the last message is echoed.
        limit: The maximum number of characters in the reply (``>= 0``).
        stop: Stop sequences; a stop sequence must fit within ``limit`` to match.
        include_stop: Whether the reply keeps the stop sequence that ended it.
    """
    texts = [message_text(m) for m in messages]
    last = texts[-1] if texts else ""
    reply, matched = truncate_at_stop(last[:limit], stop, include=include_stop)
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
        input_tokens=sum(count_tokens(t) for t in texts),
    )


def count_tokens(text: str) -> int:
    """Tokens in ``text``: one per Unicode code point, the unit of all usage."""
    return len(text)


def input_tokens(messages: Sequence[BaseMessage]) -> int:
    """Characters of echoable text across ``messages``: the usage's input tokens."""
    return sum(count_tokens(message_text(m)) for m in messages)


def tool_call_echo(
    messages: Sequence[BaseMessage], calls: Sequence[PlannedCall]
) -> Echo:
    """The reply that is ``calls``: no text; output counts names and arguments."""
    return Echo(
        text="",
        finish_reason="tool_calls",
        stop_sequence=None,
        input_tokens=input_tokens(messages),
        tool_call_tokens=sum(len(c.name) + len(c.raw_args) for c in calls),
    )


def json_echo(
    messages: Sequence[BaseMessage], response_format: dict[str, Any], text: str
) -> Echo:
    """The JSON reply asked for by ``response_format`` (never cut by ``n``/``stop``).

    ``{"type": "json_schema", "json_schema": {"schema": ...}}``: an object derived
    from the schema (see ``echo_model.schemas.derive_args``). ``{"type":
    "json_object"}``: the message's text if it is a JSON object, else an object
    derived from the optional ``"schema"`` key, else ``{"text": <the text>}``.
    """
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        reply = _derived_json(spec.get("schema", spec), text)
    elif _is_json_object(text):
        reply = text
    elif (schema := response_format.get("schema")) is not None:
        reply = _derived_json(schema, text)
    else:
        reply = json.dumps({"text": text}, ensure_ascii=False)
    return Echo(
        text=reply,
        finish_reason="stop",
        stop_sequence=None,
        input_tokens=input_tokens(messages),
    )


def _derived_json(schema: dict[str, Any], text: str) -> str:
    return json.dumps(derive_args(schema, text), ensure_ascii=False)


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
