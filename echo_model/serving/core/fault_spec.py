"""Injected faults, protocol-neutral: the ``X-Echo-Fault`` grammar and the plan.

A fault is written the same way wherever it comes from (the ``X-Echo-Fault``
request header, the ``fault`` option in a request's body, the server's
``--fault`` flag)::

    status=429; retry_after=0      an HTTP status before any output
    error; after=3                 the protocol's mid-stream error after 3 chunks
    disconnect; after=3            the connection closes after 3 chunks
    stall; after=3; seconds=30     after 3 chunks, 30 s of silence, then the rest
    context_length                 the protocol's context-length refusal (400)
    none                           no fault (overrides the server's --fault)

Keys any fault takes: ``attempts=N`` (only while the client's retry count,
the ``x-stainless-retry-count`` header the openai and anthropic SDKs send, is
below N: ``attempts=1`` faults the first attempt only), ``rate=R`` (the share
of requests that get it, 0 to 1) and ``seed=S`` (makes the ``rate`` draws a
fixed sequence). Kind-specific keys: ``retry_after`` (seconds, for
``status``), ``status`` (for ``error``: the status its error event names,
default 500), ``after`` (chunks, for ``error``, ``disconnect``, ``stall``),
``seconds`` (for ``stall``), ``max`` (for ``context_length``: a context
window in tokens for this request; without it the refusal is forced).

This module only parses and decides; ``fault_injection`` carries faults out
on the wire, and each protocol supplies its error shapes.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Literal, cast

FaultKind = Literal["status", "error", "disconnect", "stall", "context_length"]

#: The request header that asks for a fault on one call.
HEADER = "x-echo-fault"
#: The header the openai and anthropic SDKs send with each attempt: 0, 1, ...
RETRY_COUNT_HEADER = "x-stainless-retry-count"

KINDS: tuple[FaultKind, ...] = (
    "status",
    "error",
    "disconnect",
    "stall",
    "context_length",
)
#: The keys each kind takes (``status`` is the kind itself for ``status``).
COMMON_KEYS = frozenset(["attempts", "rate", "seed"])
KIND_KEYS: dict[str, frozenset[str]] = {
    "status": frozenset(["status", "retry_after"]),
    "error": frozenset(["after", "status"]),
    "disconnect": frozenset(["after"]),
    "stall": frozenset(["after", "seconds"]),
    "context_length": frozenset(["max"]),
}
MAX_HEADER_LENGTH = 256
MAX_SECONDS = 3600.0  # longest stall or Retry-After a fault may ask for
MAX_AFTER = 1_000_000
DEFAULT_STALL_SECONDS = 300.0
MAX_SEEDS = 256  # seeded draw sequences kept per process


class FaultSpecError(ValueError):
    """A fault specification that does not parse; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault, as a header or the ``--fault`` flag writes it.

    Attributes:
        kind: What happens (see the module docstring).
        status: The HTTP status (``status``), or the status an ``error``
            event names (default 500).
        retry_after: Seconds for the ``Retry-After`` header of a ``status``
            fault, if any.
        after: Chunks sent before an ``error``, ``disconnect`` or ``stall``.
        seconds: How long a ``stall`` lasts.
        max_tokens: The context window of a ``context_length`` fault; ``None``
            refuses whatever the prompt's length.
        attempts: Fault only while the client's retry count is below this.
        rate: The share of requests that get the fault.
        seed: Seed of the ``rate`` draws (a fixed sequence per seed).
    """

    kind: FaultKind
    status: int | None = None
    retry_after: float | None = None
    after: int = 0
    seconds: float = DEFAULT_STALL_SECONDS
    max_tokens: int | None = None
    attempts: int | None = None
    rate: float = 1.0
    seed: int | None = None

    def spec(self) -> str:
        """Return the fault in the header grammar (``parse_fault`` reads it back)."""
        parts: list[str] = []
        if self.kind == "status":
            parts.append(f"status={self.status}")
            if self.retry_after is not None:
                parts.append(f"retry_after={_number(self.retry_after)}")
        else:
            parts.append(self.kind)
        if self.kind == "error" and self.status not in (None, 500):
            parts.append(f"status={self.status}")
        if self.kind in ("error", "disconnect", "stall"):
            parts.append(f"after={self.after}")
        if self.kind == "stall":
            parts.append(f"seconds={_number(self.seconds)}")
        if self.kind == "context_length" and self.max_tokens is not None:
            parts.append(f"max={self.max_tokens}")
        if self.attempts is not None:
            parts.append(f"attempts={self.attempts}")
        if self.rate != 1.0:
            parts.append(f"rate={_number(self.rate)}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return "; ".join(parts)


def parse_fault(text: str) -> Fault | None:
    """Parse a fault specification; ``None`` for ``none`` (no fault).

    Raises:
        FaultSpecError: The text is not a fault specification; the message
            names the part at fault and what is allowed.
    """
    if len(text) > MAX_HEADER_LENGTH:
        msg = f"a fault specification has at most {MAX_HEADER_LENGTH} characters"
        raise FaultSpecError(msg)
    items = [item.strip() for item in text.split(";")]
    if not items[0]:
        msg = (
            "empty fault specification; write a kind first: status=<code>,"
            " error, disconnect, stall, context_length or none"
        )
        raise FaultSpecError(msg)
    if items[-1] == "" and len(items) > 1:
        items.pop()  # a trailing ';' is harmless
    head, *rest = items
    if head.lower() == "none":
        if rest:
            raise FaultSpecError("'none' takes no keys")
        return None
    values: dict[str, str] = {}
    kind: str
    if "=" in head:
        key, value = _key_value(head)
        if key != "status":
            msg = (
                f"a fault starts with its kind (status=<code>, error, disconnect,"
                f" stall, context_length or none), not {key!r}"
            )
            raise FaultSpecError(msg)
        kind, values["status"] = "status", value
    else:
        kind = head.lower()
        if kind not in KINDS:
            msg = (
                f"unknown fault kind {head!r}; known: status=<code>, error,"
                " disconnect, stall, context_length, none"
            )
            raise FaultSpecError(msg)
    for item in rest:
        if not item:
            raise FaultSpecError("empty item between ';'")
        key, value = _key_value(item)
        if key in values:
            raise FaultSpecError(f"{key!r} is given twice")
        if key not in KIND_KEYS[kind] | COMMON_KEYS:
            allowed = (
                KIND_KEYS[kind] - {"status"} if kind == "status" else KIND_KEYS[kind]
            )
            msg = (
                f"{key!r} does not apply to {kind!r}; it takes"
                f" {sorted(allowed | COMMON_KEYS)}"
            )
            raise FaultSpecError(msg)
        values[key] = value
    return _fault(kind, values)


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    key, value = key.strip().lower(), value.strip()
    if not sep or not key or not value:
        msg = f"expected key=value, got {item!r}"
        raise FaultSpecError(msg)
    return key, value


def _fault(kind: str, values: dict[str, str]) -> Fault:
    status = values.get("status")
    fault = Fault(kind=cast("FaultKind", kind))  # checked against KINDS
    if status is not None:
        code = _integer("status", status, 400, 599)
        fault = replace(fault, status=code)
    elif kind == "error":
        fault = replace(fault, status=500)
    if "retry_after" in values:
        retry_after = _real("retry_after", values["retry_after"], 0.0, MAX_SECONDS)
        fault = replace(fault, retry_after=retry_after)
    if "after" in values:
        fault = replace(fault, after=_integer("after", values["after"], 0, MAX_AFTER))
    if "seconds" in values:
        seconds = _real("seconds", values["seconds"], 0.0, MAX_SECONDS)
        fault = replace(fault, seconds=seconds)
    if "max" in values:
        fault = replace(fault, max_tokens=_integer("max", values["max"], 0, 2**31))
    if "attempts" in values:
        attempts = _integer("attempts", values["attempts"], 1, 1000)
        fault = replace(fault, attempts=attempts)
    if "rate" in values:
        fault = replace(fault, rate=_real("rate", values["rate"], 0.0, 1.0))
    if "seed" in values:
        fault = replace(fault, seed=_integer("seed", values["seed"], 0, 2**63 - 1))
    return fault


def _integer(key: str, value: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit():
        msg = f"{key!r} must be a whole number from {low} to {high}, got {value!r}"
        raise FaultSpecError(msg)
    number = int(value)
    if not low <= number <= high:
        msg = f"{key!r} must be from {low} to {high}, got {number}"
        raise FaultSpecError(msg)
    return number


def _real(key: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value) if value.isascii() else float("nan")
    except ValueError:
        number = float("nan")
    if not low <= number <= high:  # also false for nan
        msg = (
            f"{key!r} must be a number from {_number(low)} to {_number(high)},"
            f" got {value!r}"
        )
        raise FaultSpecError(msg)
    return number


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


class FaultDraws:
    """The ``rate`` draws: a fixed sequence per seed, or random without one.

    With a seed, the n-th request that draws for that seed in this process
    gets the n-th number of ``random.Random(seed)``: a client sending its
    requests one after another sees the same faults on every run. (With
    several worker processes each has its own sequence.)
    """

    def __init__(self) -> None:
        self._sequences: OrderedDict[int, random.Random] = OrderedDict()
        self._lock = threading.Lock()

    def draw(self, seed: int | None) -> float:
        """Return the next draw in ``[0, 1)`` for ``seed``."""
        if seed is None:
            return random.random()  # noqa: S311 - fault injection, not security
        with self._lock:
            sequence = self._sequences.get(seed)
            if sequence is None:
                sequence = random.Random(seed)  # noqa: S311
                self._sequences[seed] = sequence
                if len(self._sequences) > MAX_SEEDS:
                    self._sequences.popitem(last=False)
            self._sequences.move_to_end(seed)
            return sequence.random()


class FaultPlanner:
    """Decides the fault of each request: the header's, the body's, else the server's.

    Args:
        server_fault: The ``--fault`` flag's fault, applied to every model
            request that sets neither the header nor the body option
            (``None``: no fault).
    """

    def __init__(self, server_fault: Fault | None = None) -> None:
        self.server_fault = server_fault
        self.draws = FaultDraws()

    def plan(
        self, header: str | None, retry_count: str | None, option: str | None = None
    ) -> Fault | None:
        """Return the fault this request gets, if any.

        Precedence: the header, then the body's ``fault`` option, then the
        server's fault; whichever is given replaces the ones after it
        (``none`` turns them off).

        Args:
            header: The ``X-Echo-Fault`` value, if the request has one.
            retry_count: The ``x-stainless-retry-count`` value, if any
                (taken as 0 when absent or not a number).
            option: The body's ``fault`` option (LangServe's ``configurable``,
                the ``echo`` object on ``/v1``), if given; an empty value, as
                a cleared form field sends, is not given.

        Raises:
            FaultSpecError: The header or the option does not parse.
        """
        if header is not None:
            fault = parse_fault(header)
        elif option:
            fault = parse_fault(option)
        else:
            fault = self.server_fault
        if fault is None:
            return None
        if fault.attempts is not None and _attempt(retry_count) >= fault.attempts:
            return None
        if fault.rate < 1.0 and self.draws.draw(fault.seed) >= fault.rate:
            return None
        return fault


def _attempt(retry_count: str | None) -> int:
    if retry_count is None or not retry_count.strip().isdigit():
        return 0
    return int(retry_count.strip())


__all__ = [
    "HEADER",
    "KINDS",
    "RETRY_COUNT_HEADER",
    "Fault",
    "FaultDraws",
    "FaultKind",
    "FaultPlanner",
    "FaultSpecError",
    "parse_fault",
]
