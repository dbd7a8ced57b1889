"""Checking per-request options: one rule for every protocol.

The options are listed once (``echo_model.options``); their types and
bounds are the model's fields' (``n >= 0``, ``0 <= error_rate <= 1``, ...),
``fault`` is checked by the ``X-Echo-Fault`` grammar, and the server's
``Limits`` cap some of them (``n``, the delays, the stop sequences). LangServe's
configurable fields, the ``echo`` object of the OpenAI and Anthropic bodies,
their OpenAPI descriptions and the docs' table all come from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    create_model,
)

from echo_model.chat_models import EchoChatModel
from echo_model.options import (
    OPTION_NAMES,
    OPTIONS_BY_NAME,
    REQUEST_OPTIONS,
    RequestOption,
)
from echo_model.serving.core.fault_spec import MAX_HEADER_LENGTH, parse_fault
from echo_model.serving.core.limits import Limits


class InvalidRequest(ValueError):
    """A request the server refuses, with the field at fault (protocol-neutral).

    Each protocol answers it in its own error shape (OpenAI: a 400
    ``invalid_request_error`` with ``param``).

    Attributes:
        message: What is wrong, for the client.
        param: The request field at fault (dotted path), if one is.
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _check_fault(value: str) -> str:
    if value:  # empty: not set (what a cleared form field sends)
        parse_fault(value)  # raises FaultSpecError, a ValueError, saying why
    return value


#: The ``fault`` option: a string in the header's grammar, checked as it.
FaultOption = Annotated[
    str, AfterValidator(_check_fault), StringConstraints(max_length=MAX_HEADER_LENGTH)
]

#: Options no model field holds: their types.
SERVER_OPTION_TYPES: dict[str, Any] = {"fault": FaultOption}


def model_default(name: str) -> Any:
    """Return the model field's default for the option ``name``."""
    return EchoChatModel.model_fields[name].default


def option_type(name: str, *, nullable: bool | None = None) -> Any:
    """Return the type, with its constraints, a request may set ``name`` to.

    For a model field, the field's type and constraints; ``None`` stays
    allowed only when the default is ``None`` (or ``nullable`` says so): a set
    default is never replaced by ``None``.
    """
    if name in SERVER_OPTION_TYPES:
        option = SERVER_OPTION_TYPES[name]
        return option | None if nullable is not False else option
    field = EchoChatModel.model_fields[name]
    annotation: Any = field.annotation
    if nullable is None:
        nullable = OPTIONS_BY_NAME[name].nullable if name in OPTIONS_BY_NAME else None
    keep_none = field.default is None if nullable is None else nullable
    if not keep_none and get_origin(annotation) in (Union, UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = Union[tuple(kept)]  # noqa: UP007 - built from a tuple
    return Annotated[(annotation, *field.metadata)] if field.metadata else annotation


def option_schemas() -> dict[str, dict[str, Any]]:
    """Return the JSON schema of each option: the type and bounds checked.

    ``null`` is included where the default is unset: what API documents
    should publish.
    """
    return {
        option.name: TypeAdapter(option_type(option.name)).json_schema()
        for option in REQUEST_OPTIONS
    }


def _limit(option: RequestOption, limits: Limits) -> float | None:
    return getattr(limits, option.limit) if option.limit else None


def stop_problems(stop: Any, limits: Limits) -> list[tuple[int | None, str]]:
    """Return what is wrong with ``stop`` under ``limits``: ``(index, message)``s.

    Matching costs time in the number and length of the sequences: without a
    bound, one request could hold the event loop for every other. The index
    is the sequence at fault, or ``None`` for the list.
    """
    if not isinstance(stop, list):
        return []
    if len(stop) > limits.max_stop_sequences:
        return [
            (
                None,
                f"at most {limits.max_stop_sequences} stop sequences on this server,"
                f" got {len(stop)} (--max-stop-sequences)",
            )
        ]
    return [
        (
            index,
            f"a stop sequence has at most {limits.max_stop_length} characters on"
            f" this server, got {len(sequence)} (--max-stop-length)",
        )
        for index, sequence in enumerate(stop)
        if isinstance(sequence, str) and len(sequence) > limits.max_stop_length
    ]


def check_stop(stop: Sequence[str] | None, limits: Limits, param: str) -> None:
    """Refuse stop sequences over the server's limits, naming the field.

    Args:
        stop: The request's stop sequences (``None``: none).
        limits: The server's limits.
        param: Where the sequences sit in the request (``stop``,
            ``stop_sequences``), for the message.

    Raises:
        InvalidRequest: Too many sequences, or one too long.
    """
    problems = stop_problems(list(stop) if stop is not None else None, limits)
    if problems:
        index, message = problems[0]
        where = param if index is None else f"{param}.{index}"
        msg = f"invalid '{where}': {message}"
        raise InvalidRequest(msg, where)


@dataclass(frozen=True)
class OptionChecks:
    """Checks a request's options against their types and the server's limits.

    Args:
        limits: The server's limits.
    """

    limits: Limits

    def errors(self, options: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Return pydantic-style errors for ``options``, located by option name.

        Names not in the list are left alone: LangServe's clients forward keys
        of their own (``thread_id``, ...) in ``configurable``.
        """
        try:
            _options_model().model_validate(
                {k: v for k, v in options.items() if k in OPTION_NAMES}
            )
        except ValidationError as error:
            return [
                dict(e) for e in error.errors(include_url=False, include_context=False)
            ]
        problems: list[dict[str, Any]] = []
        for option in REQUEST_OPTIONS:
            value, maximum = options.get(option.name), _limit(option, self.limits)
            if (
                maximum is not None
                and isinstance(value, int | float)
                and value > maximum
            ):
                problems.append(
                    {
                        "type": "less_than_equal",
                        "loc": (option.name,),
                        "msg": f"{option.name} is limited to {maximum} on this server",
                        "input": value,
                    }
                )
        for index, message in stop_problems(options.get("stop"), self.limits):
            loc = ("stop",) if index is None else ("stop", index)
            problems.append({"type": "value_error", "loc": loc, "msg": message})
        return problems

    def check(self, options: Any, param: str) -> dict[str, Any]:
        """Return the options object ``options`` checked, or refuse it.

        Args:
            options: The client's options object (``None``: none).
            param: Where it sits in the request (``echo``), for messages.

        Returns:
            The options set, without those given as ``null`` (``stop`` kept).

        Raises:
            InvalidRequest: Not an object, an unknown name, or a bad value.
        """
        if options is None:
            return {}
        if not isinstance(options, dict):
            msg = f"'{param}' must be an object"
            raise InvalidRequest(msg, param)
        if unknown := sorted(set(options) - OPTION_NAMES):
            known = [option.name for option in REQUEST_OPTIONS]
            msg = f"unknown option(s) {unknown} in '{param}'; known: {sorted(known)}"
            raise InvalidRequest(msg, param)
        if errors := self.errors(options):
            first = errors[0]
            name = ".".join(str(part) for part in first["loc"])
            msg = f"invalid '{param}.{name}': {first['msg']}"
            raise InvalidRequest(msg, f"{param}.{name}")
        return {k: v for k, v in options.items() if v is not None or k == "stop"}


_OPTIONS_MODEL: list[type[BaseModel]] = []


def _options_model() -> type[BaseModel]:
    """Return the pydantic model of the options (built once)."""
    if not _OPTIONS_MODEL:
        fields: dict[str, Any] = {
            option.name: (option_type(option.name), None) for option in REQUEST_OPTIONS
        }
        _OPTIONS_MODEL.append(
            create_model(
                "EchoOptions",
                __config__=ConfigDict(extra="ignore"),
                **fields,
            )
        )
    return _OPTIONS_MODEL[0]


def options_description(how: str) -> str:
    """Return the description of an options object for API documents.

    Args:
        how: How a client sends the object (``the SDK's extra_body=...``).
    """
    names = ", ".join(f"`{option.name}`" for option in REQUEST_OPTIONS)
    return (
        f"echo-model's per-request options ({how}): {names}. Each has the"
        " type, bounds and server limits listed in the `echo` option table"
        " (docs/options.md)."
    )


def options_table(limits: Limits | None = None) -> str:
    """Return the Markdown table of every option: name, type, default, limit, meaning.

    What the docs publish (docs/options.md); a test keeps them equal. Run
    ``python -m echo_model.serving.core.options`` to print it.
    """
    limits = limits or Limits()
    rows = [
        "| option | type | default | server limit | what it does |",
        "|---|---|---|---|---|",
    ]
    for option in REQUEST_OPTIONS:
        schema = TypeAdapter(option_type(option.name)).json_schema()
        default = None if option.target == "server" else model_default(option.name)
        rows.append(
            f"| `{option.name}` | {_type_text(schema)} |"
            f" {'none' if default is None else default} |"
            f" {_limit_text(option, limits)} | {option.description} |"
        )
    return "\n".join(rows) + "\n"


def _limit_text(option: RequestOption, limits: Limits) -> str:
    """The server flag capping ``option``, and its default value."""
    if option.limit:
        flag = "--" + option.limit.replace("_", "-")
        return f"`{flag}` ({_limit(option, limits)})"
    if option.name == "stop":  # a list: its count and each one's length
        return (
            f"`--max-stop-sequences` ({limits.max_stop_sequences}),"
            f" `--max-stop-length` ({limits.max_stop_length})"
        )
    return ""


def _type_text(schema: dict[str, Any]) -> str:
    """A short reading of a JSON schema: ``integer >= 0``, ``number 0..1 or null``."""
    if "anyOf" in schema:
        return " or ".join(_type_text(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type_text(schema.get('items', {}))}"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"{kind} {low}..{high}"
    if low is not None:
        return f"{kind} >= {low}"
    if high is not None:
        return f"{kind} <= {high}"
    if "maxLength" in schema:
        return f"{kind} (at most {schema['maxLength']} characters)"
    return str(kind)


if __name__ == "__main__":
    print(options_table(), end="")


__all__ = [
    "FaultOption",
    "InvalidRequest",
    "OptionChecks",
    "check_stop",
    "model_default",
    "option_schemas",
    "option_type",
    "options_description",
    "options_table",
    "stop_problems",
]
