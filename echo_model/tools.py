"""Deterministic tool calling: whether the echo model calls a bound tool, and how.

The rules, in order, for the last input message:

1. No tools bound, or ``tool_choice="none"``: no tool call (plain echo).
2. The last message is a ``ToolMessage``: no tool call; the reply echoes the
   tool's result, so an agent loop ends.
3. The text writes calls such as ``get_weather("Paris")``, ``add(1, b=2)`` or
   ``add({"a": 1, "b": 2})`` to bound tools: those calls, in order. Positional
   arguments fill the parameters in schema order, ``key=value`` names them, a
   single JSON object gives them all; values are JSON or Python literals
   with a JSON form (a tuple is an array), anything else is a string.
   Arguments are checked against the tool's schema; a call that does not fit
   becomes an *invalid* tool call saying why, its ``args`` the arguments as
   written with their parentheses (``({"a": 1})``): never a JSON object, so
   a stream aggregates to the same invalid call. (The first 64 calls per tool
   count, each with at most 4096 characters of arguments, so that any text
   parses in linear time.)
4. A call is forced (``tool_choice`` is ``"any"``, ``"required"``, ``True`` or a
   tool's name): that tool (for ``"any"``: the first tool the text mentions,
   else the first bound tool), with arguments derived from its schema.
   Forcing a tool that is not bound raises ``ValueError``, as LangChain's
   partner models do (``resolve_tool_choice`` lists the accepted forms).
5. ``tool_choice="auto"`` (the default): each tool the text *mentions*, with
   derived arguments. A tool is mentioned by its name or by a word of its name
   other than generic ones (``get``, ``tool``, ...): ``weather`` mentions
   ``get_weather``.
6. Otherwise no tool call.

Derived arguments fill each required parameter from the text: a string gets
the whole text, an integer or number the next number in the text (else 0), a
boolean ``False``, an enum its first value, an array one derived item when it
must not be empty, an object its own required properties, a choice of types
the first that does not recurse (else ``null`` if allowed). A schema met again
within itself (a recursive ``$ref``) gives ``null`` where allowed, else an
empty array or object, so derivation always ends. Tool call ids are
``call_`` and 24 hex digits hashed from the conversation length, the call's
position, name and arguments: the same input gives the same ids, and
different turns or calls give different ones.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import BaseMessage, ToolMessage

from echo_model.schemas import derive_args, validate

GENERIC_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "get",
        "set",
        "fetch",
        "find",
        "search",
        "lookup",
        "look",
        "up",
        "run",
        "call",
        "do",
        "make",
        "create",
        "tool",
        "tools",
        "function",
        "func",
    ]
)

FORCED = ("any", "required")
MODES = ("auto", "none")
#: What ``tool_choice`` asks for: call as the text says, never, some tool, one tool.
Mode = Literal["auto", "none", "any", "tool"]
#: Bounds that keep parsing linear in the text, whatever it holds: a call's
#: arguments longer than this are not recognised, nor calls past the first few.
MAX_CALL_CHARS = 4096
MAX_CALLS_PER_TOOL = 64


@dataclass(frozen=True)
class BoundTool:
    """A tool the model may call: its name and its parameters' JSON schema."""

    name: str
    parameters: dict[str, Any] = field(hash=False, compare=False)

    @classmethod
    def from_openai(cls, tool: dict[str, Any]) -> BoundTool:
        """Build from the OpenAI tool format ``convert_to_openai_tool`` returns."""
        function = tool.get("function", tool)
        parameters = function.get("parameters") or {"type": "object"}
        return cls(name=function["name"], parameters=parameters)

    def words(self) -> set[str]:
        """The words that mention this tool in a message."""
        parts = re.findall(r"[A-Za-z][a-z]*|\d+", self.name)
        return {self.name.lower()} | {p.lower() for p in parts} - GENERIC_WORDS


@dataclass(frozen=True)
class PlannedCall:
    """One tool call the model will make, valid (``error is None``) or not.

    ``raw_args`` is the JSON of ``args`` for a valid call, and the arguments as
    written, in their parentheses, for an invalid one.
    """

    name: str
    args: dict[str, Any]
    id: str
    raw_args: str
    error: str | None = None


def plan_tool_calls(
    messages: Sequence[BaseMessage],
    tools: Sequence[BoundTool],
    tool_choice: Any,
    text: str,
) -> list[PlannedCall]:
    """Apply the module's rules; an empty list means "reply with text".

    Raises:
        ValueError: ``tool_choice`` forces a tool that is not bound, or has no
            form LangChain, OpenAI or Anthropic use (see ``resolve_tool_choice``).
    """
    mode, forced_name = resolve_tool_choice(tool_choice, [t.name for t in tools])
    if not tools or mode == "none" or not messages:
        return []
    if isinstance(messages[-1], ToolMessage):
        return []
    forced = mode != "auto"
    allowed = [t for t in tools if forced_name in (None, t.name)]
    calls = _explicit_calls(text, allowed)
    if not calls:
        mentioned = [t for t in allowed if _mentions(text, t)]
        chosen = (mentioned[:1] or allowed[:1]) if forced else mentioned
        calls = [(t, derive_args(t.parameters, text), None) for t in chosen]
    return [
        _planned(tool, args, error, index, len(messages))
        for index, (tool, args, error) in enumerate(calls)
    ]


def resolve_tool_choice(
    tool_choice: Any, names: Sequence[str]
) -> tuple[Mode, str | None]:
    """Reduce ``tool_choice`` to a mode and, for ``"tool"``, the forced tool's name.

    Accepts LangChain's forms (``None``/``False``, ``True``, ``"auto"``,
    ``"none"``, ``"any"``, ``"required"``, a tool's name), OpenAI's
    (``{"type": "function", "function": {"name": ...}}``) and Anthropic's
    (``{"type": "tool", "name": ...}``, ``{"type": "auto" | "any" | "none"}``).
    A bound tool's name wins over a mode spelled the same.

    Args:
        tool_choice: The choice as given to ``bind_tools`` or per call.
        names: The names of the bound tools.

    Raises:
        ValueError: The choice forces a tool that is not bound (LangChain's
            partner models refuse that too), or has none of the forms above.
    """
    if tool_choice is None or tool_choice is False:
        return "auto", None
    if tool_choice is True:
        return "any", None
    name: Any = None
    if isinstance(tool_choice, str):
        name = tool_choice
    elif isinstance(tool_choice, dict):
        function = tool_choice.get("function")
        name = (function if isinstance(function, dict) else tool_choice).get("name")
        if name is None and tool_choice.get("type") in (*MODES, *FORCED):
            name = tool_choice["type"]
    if not isinstance(name, str):
        msg = (
            "Unrecognized tool_choice: expected 'auto', 'none', 'any', 'required', "
            f"a bool, a bound tool's name or a dict naming one; got {tool_choice!r}"
        )
        raise ValueError(msg)
    if name in names:
        return "tool", name
    if name in FORCED:
        return "any", None
    if name == "auto":
        return "auto", None
    if name == "none":
        return "none", None
    msg = (
        f"tool_choice forces {name!r}, but no bound tool has that name "
        f"(bound tools: {list(names)})"
    )
    raise ValueError(msg)


def _planned(
    tool: BoundTool, args: Any, error: str | None, index: int, turn: int
) -> PlannedCall:
    raw = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return PlannedCall(
        name=tool.name,
        args=args if isinstance(args, dict) else {},
        id=tool_call_id(turn, index, tool.name, raw),
        raw_args=raw,
        error=error,
    )


def tool_call_id(turn: int, index: int, name: str, raw_args: str) -> str:
    """The id of a call: ``call_`` and 24 hex digits hashed from the call.

    Args:
        turn: The number of messages in the conversation.
        index: The call's position in the reply.
        name: The tool's name.
        raw_args: The call's arguments as JSON text.
    """
    digest = hashlib.sha256(f"{turn}:{index}:{name}:{raw_args}".encode()).hexdigest()
    return f"call_{digest[:24]}"


def _mentions(text: str, tool: BoundTool) -> bool:
    words = {w.lower() for w in re.findall(r"\w+", text)}
    return bool(words & tool.words())


# --- Explicit calls ----------------------------------------------------------


def _explicit_calls(
    text: str, tools: Sequence[BoundTool]
) -> list[tuple[BoundTool, Any, str | None]]:
    found: list[tuple[int, BoundTool, Any, str | None]] = []
    for tool in tools:
        pattern = re.compile(rf"(?<![\w.]){re.escape(tool.name)}\s*\(")
        for match in itertools.islice(pattern.finditer(text), MAX_CALLS_PER_TOOL):
            inner = _balanced(text, match.end())
            if inner is None:
                continue
            args, error = _parse_args(inner, tool)
            # An invalid call keeps its arguments as written, parentheses and
            # all: never JSON, so LangChain (which parses a streamed call's
            # arguments) and API clients cannot mistake it for a valid call.
            raw = args if error is None else f"({inner})"
            found.append((match.start(), tool, raw, error))
    found.sort(key=lambda item: item[0])
    return [(tool, args, error) for _, tool, args, error in found]


def _structure(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    """Yield the brackets and commas of ``text[start:end]`` outside quotes.

    The one scanner both parsers use, so that they agree on what is quoted
    (``'`` or ``"``, with backslash escapes).
    """
    quote, escaped = "", False
    for index in range(start, end):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{)]},":
            yield index, char


def _balanced(text: str, start: int) -> str | None:
    """Return the text up to the parenthesis closing the one before ``start``."""
    depth = 1
    for index, char in _structure(text, start, min(len(text), start + MAX_CALL_CHARS)):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return text[start:index]
    return None


def _split_top_level(inner: str) -> list[str]:
    """Split call arguments at the commas outside brackets and quotes."""
    depth, cuts = 0, [-1]
    for index, char in _structure(inner, 0, len(inner)):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            cuts.append(index)
    cuts.append(len(inner))
    pieces = (inner[a + 1 : b].strip() for a, b in itertools.pairwise(cuts))
    return [piece for piece in pieces if piece]


def _value(text: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        return _as_json(value, text)
    return {"true": True, "false": False, "null": None, "none": None}.get(
        text.lower(), text.strip("\"'")
    )


def _as_json(value: Any, text: str) -> Any:
    """``value`` as a JSON value (tuples become arrays); ``text`` if it is none.

    A set, bytes, a complex or a non-finite number has no JSON form, and tool
    arguments travel as JSON: such an argument is kept as the text written.
    """
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        return text


def _parse_args(inner: str, tool: BoundTool) -> tuple[dict[str, Any], str | None]:
    names = list(tool.parameters.get("properties", {}))
    pieces = _split_top_level(inner)
    args: dict[str, Any] = {}
    single = _value(pieces[0]) if len(pieces) == 1 else None
    if isinstance(single, dict) and (set(single) <= set(names) or not names):
        args, pieces = single, []
    for position, piece in enumerate(pieces):
        key, sep, rest = piece.partition("=")
        if sep and key.strip().isidentifier() and not rest.startswith("="):
            args[key.strip()] = _value(rest.strip())
        elif position < len(names):
            args[names[position]] = _value(piece)
        else:
            return args, f"{tool.name} takes {len(names)} arguments, got more"
    errors = validate(tool.parameters, args, tool.parameters)
    return args, ("; ".join(errors) if errors else None)
