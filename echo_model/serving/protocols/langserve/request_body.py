"""Checking LangServe request bodies before any work, as a FastAPI dependency."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from langchain_core.language_models._utils import _normalize_messages
from langchain_core.language_models.chat_models import _format_for_tracing
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, ValidationError

from echo_model.serving.core.limits import Limits, refuse
from echo_model.serving.protocols.langserve.request_config import check_config_shape


def check_request_body(
    limits: Limits, input_schema: type[BaseModel]
) -> Callable[[Request], Awaitable[None]]:
    """Return a dependency refusing bodies LangServe would choke on.

    LangServe answers some malformed bodies with a bare 500 (a message list
    item without a ``type``, a message whose fields make LangChain's message
    classes raise, ``"config": null``, bytes that are not UTF-8, deep nesting)
    and accepts batches of any size. This parses the body once (LangServe
    reuses the parsed value) and checks its shape and size against ``limits``;
    message inputs are also checked against ``input_schema``, the served
    runnable's, so that their errors are reported as such.
    """

    async def check_body(request: Request) -> None:
        if request.method != "POST":
            return
        try:
            body = await request.json()
        except RecursionError:
            refuse("body", "the JSON is nested too deeply")
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
            refuse("body", f"the body is not valid UTF-8 JSON: {error}")
        if not isinstance(body, dict):
            refuse("body", "the body must be a JSON object")
        # The scope's path, not request.url: that builds a whole URL per request.
        batch = request.scope["path"].rstrip("/").endswith("/batch")
        if "config" in body:
            check_config_shape(body["config"], batch=batch)
        depth, unsendable = _shape(body)
        if depth > limits.max_json_depth:
            refuse("body", f"the JSON is nested deeper than {limits.max_json_depth}")
        if unsendable:
            refuse(*_first_unsendable(body, ("body",)))
        if batch:
            inputs = body.get("inputs")
            if not isinstance(inputs, list) or not inputs:
                refuse("inputs", "'inputs' must be a non-empty list")
            if len(inputs) > limits.max_batch:
                refuse("inputs", f"a batch holds at most {limits.max_batch} inputs")
            configs = body.get("config")
            if isinstance(configs, list) and len(configs) != len(inputs):
                refuse(
                    ("body", "config"),
                    f"{len(configs)} configs for {len(inputs)} inputs: send one"
                    " config for all, or one per input",
                )
            for index, value in enumerate(inputs):
                _check_input(value, ("body", "inputs", index), limits, input_schema)
        elif "input" in body:
            _check_input(body["input"], ("body", "input"), limits, input_schema)

    return check_body


def _check_input(
    value: Any, loc: tuple[Any, ...], limits: Limits, input_schema: type[BaseModel]
) -> None:
    if isinstance(value, str):
        return  # the common case, and always valid for a chat model
    # A chat chain's input (and a prompt value) holds its messages in "messages".
    in_dict = isinstance(value, dict)
    messages = value.get("messages") if in_dict else value
    messages_loc = (*loc, "messages") if in_dict else loc
    if isinstance(messages, list):
        if len(messages) > limits.max_messages:
            refuse(loc, f"an input holds at most {limits.max_messages} messages")
        for index, item in enumerate(messages):
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                refuse(
                    (*messages_loc, index),
                    "each message must be an object with a 'type' (human, ai,"
                    " system, tool) and 'content'",
                )
    try:
        input_schema.model_validate(value)
    except ValidationError as error:
        # LangServe would report these itself on most endpoints, but on /batch
        # they escape as a 500.
        raise RequestValidationError(
            [
                {**e, "loc": (*loc, *e["loc"])}
                for e in error.errors(include_url=False, include_context=False)
            ]
        ) from None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        # LangChain's message classes raise these for some field values.
        refuse(loc, f"invalid message: {type(error).__name__}: {error}")
    if isinstance(messages, list):
        _check_content_blocks(messages, messages_loc)


def _check_content_blocks(messages: list[dict[str, Any]], loc: tuple[Any, ...]) -> None:
    """Refuse a content block LangChain's chat models would fail on (422).

    Every call of a chat model converts its messages' media blocks twice, for
    tracing and to LangChain's standard blocks, and raises on blocks it cannot
    convert (``{"type": "image", "base64": ...}`` without a ``mime_type``): a
    500 on invoke, an error event on a stream. Running the same conversions on
    each block here finds exactly those, and names the block.
    """
    for index, item in enumerate(messages):
        content = item.get("content")
        if not isinstance(content, list):
            continue
        for position, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            message = HumanMessage(content=[block])
            try:
                _format_for_tracing([message])
                _normalize_messages([message])
            except (TypeError, ValueError, KeyError, AttributeError) as error:
                refuse(
                    (*loc, index, "content", position),
                    f"invalid content block: {type(error).__name__}: {error}",
                )


#: The integers every JSON encoder on the way takes: LangServe's streams
#: serialize with orjson, which raises on anything wider, mid-response.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _shape(value: Any) -> tuple[int, bool]:
    """Return how deeply ``value`` nests, and whether it holds an unsendable value."""
    deepest, unsendable, stack = 0, False, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            unsendable = unsendable or any(map(_unsendable, item))
            item = item.values()
        elif not isinstance(item, list):
            unsendable = unsendable or _unsendable(item) is not None
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in item)
    return deepest, unsendable


def _unsendable(value: Any) -> str | None:
    """Say why ``value`` parsed, yet cannot be sent back as JSON, if it cannot.

    A run echoes parts of its request (input, config) in replies and stream
    events; LangServe encodes them with orjson, which raises on these, after
    the response has started.
    """
    if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
        return "an integer beyond the signed 64-bit range (-2**63 to 2**63 - 1)"
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return (
                "a string holding a lone surrogate (a \\ud800-\\udfff escape not"
                " in a pair), which is not Unicode"
            )
    return None


def _first_unsendable(value: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], str]:
    """Return where the first unsendable value in ``value`` is, and why.

    A key is reported by its object's location: the key itself cannot be sent.
    """
    found = _find_unsendable(value, loc)
    return found or (loc, "a value that cannot be sent back as JSON")


def _find_unsendable(
    value: Any, loc: tuple[Any, ...]
) -> tuple[tuple[Any, ...], str] | None:
    if isinstance(value, dict):
        for key in value:
            if (reason := _unsendable(key)) is not None:
                return loc, f"a key is {reason}"
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        reason = _unsendable(value)
        return None if reason is None else (loc, reason)
    for key, child in children:
        if (found := _find_unsendable(child, (*loc, key))) is not None:
            return found
    return None
