"""A journal entry's summary for the inspector's list, and the list's filters.

The journal (``echo_model.serving.core.journal``) keeps each model request
whole; the list shows one line of it: when, which protocol and route, the
model asked for, the prompt (the last user message, whatever the protocol's
body looks like), the status, the duration and time to first token, the
fixture that answered (or ``"echo"``) and the fault asked for in
``X-Echo-Fault``. The detail view reads the entry itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: The longest prompt a summary carries (the detail view has the whole body).
MAX_PROMPT_CHARS = 200
#: The header asking for an injected fault (``core.fault_spec``'s grammar).
FAULT_HEADER = "x-echo-fault"
#: Message roles (OpenAI, Anthropic) and types (LangChain) of a person's turn.
USER_ROLES = frozenset(["user", "human"])


def summarize(entry: dict[str, Any]) -> dict[str, Any]:
    """Return the list's line for a journal entry."""
    body = entry.get("body")
    reply = entry.get("reply") or {}
    timings = entry.get("timings") or {}
    headers = entry.get("headers") or {}
    return {
        "id": entry.get("request_id"),
        "arrival": timings.get("arrival"),
        "protocol": entry.get("protocol"),
        "method": entry.get("method"),
        "path": entry.get("path"),
        "model": _model(body),
        "prompt": _cut(prompt_of(body)),
        "status": entry.get("status"),
        "duration": timings.get("end"),
        "ttft": timings.get("first_token"),
        "fixture": entry.get("fixture") or "echo",
        "fault": headers.get(FAULT_HEADER),
        "error": reply.get("error") is not None,
        "context": entry.get("context"),
    }


def matches(entry: dict[str, Any], protocol: str | None, status: str | None) -> bool:
    """Whether an entry passes the list's filters.

    ``protocol`` is a protocol's name; ``status`` a code (``"429"``), a class
    (``"4xx"``), ``"ok"`` (below 400) or ``"error"`` (400 and above).
    """
    if protocol and entry.get("protocol") != protocol:
        return False
    if not status:
        return True
    code = entry.get("status") or 0
    if status == "ok":
        return 0 < code < 400
    if status == "error":
        return code >= 400 or code == 0
    if len(status) == 3 and status.endswith("xx"):
        return str(code)[:1] == status[0]
    return str(code) == status


def newest_first(
    entries: Iterable[dict[str, Any]],
    protocol: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Return the summaries of the newest ``limit`` entries passing the filters."""
    lines: list[dict[str, Any]] = []
    for entry in reversed(list(entries)):
        if matches(entry, protocol, status):
            lines.append(summarize(entry))
            if len(lines) >= limit:
                break
    return lines


def find(entries: Iterable[dict[str, Any]], request_id: str) -> dict[str, Any] | None:
    """Return the entry of ``request_id`` (the newest, should ids repeat)."""
    for entry in reversed(list(entries)):
        if entry.get("request_id") == request_id:
            return entry
    return None


def prompt_of(body: Any) -> str | None:
    """Return the prompt of a request body: its last user message, as text.

    Reads OpenAI's and Anthropic's ``messages``, OpenAI's ``input`` and
    ``prompt``, and LangServe's ``input`` (a string, a list of messages, or a
    ``{"messages": [...]}`` object) and ``inputs`` (a batch: the first, with
    how many more).
    """
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return _last_user_text(body)
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("messages"), list):
        return _last_user_text(body["messages"])
    if "input" in body:
        return prompt_of(body["input"])
    inputs = body.get("inputs")
    if isinstance(inputs, list) and inputs:
        first = prompt_of(inputs[0])
        more = f" (+{len(inputs) - 1} more)" if len(inputs) > 1 else ""
        return None if first is None else first + more
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    return None


def _last_user_text(messages: list[Any]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, str):
            return message
        if isinstance(message, list | tuple) and len(message) == 2:
            role, content = message  # LangChain's ("human", "text") form
            if role in USER_ROLES:
                return _text(content)
            continue
        if not isinstance(message, dict):
            continue
        role = message.get("role") or message.get("type")
        if role in USER_ROLES:
            return _text(message.get("content"))
    return None


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p if isinstance(p, str) else str(p.get("text", ""))
            for p in content
            if isinstance(p, str) or (isinstance(p, dict) and "text" in p)
        ]
        return " ".join(parts) if parts else None
    return None


def _model(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    model = body.get("model")
    if isinstance(model, str):
        return model
    config = body.get("config")
    configurable = config.get("configurable") if isinstance(config, dict) else None
    if isinstance(configurable, dict):
        name = configurable.get("model_name")
        return name if isinstance(name, str) else None
    return None


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_PROMPT_CHARS:
        return text
    return text[: MAX_PROMPT_CHARS - 1] + "…"


__all__ = [
    "MAX_PROMPT_CHARS",
    "find",
    "matches",
    "newest_first",
    "prompt_of",
    "summarize",
]
