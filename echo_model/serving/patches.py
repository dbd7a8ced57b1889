"""Process-wide changes to libraries the server runs on, each with its reason.

Applied when an app is created (``apply_patches``), never at import. Each is
written for a version range of its library: outside it, the patch is skipped
with a warning naming it, so an upgrade cannot silently run a patch whose
premise no longer holds.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from types import AsyncGeneratorType
from typing import Any

logger = logging.getLogger("echo_model.server")


@dataclass(frozen=True)
class Patch:
    """One change to a library, valid for versions of it from ``since`` to ``before``.

    Attributes:
        name: What the patch does, for logs.
        package: The distribution patched.
        since: First version the patch was written for (inclusive).
        before: First version it is no longer known to be right for (exclusive).
        apply: The change itself; must be idempotent.
    """

    name: str
    package: str
    since: tuple[int, ...]
    before: tuple[int, ...]
    apply: Callable[[], None]

    def applies(self) -> bool:
        """Whether the installed version of the package is in the patch's range."""
        installed = _version_tuple(version(self.package))
        return self.since <= installed < self.before


def _keep_streams_on_sigterm() -> None:
    # sse-starlette 1.x hooks uvicorn's exit handler to cut every open stream at
    # the first SIGTERM; undo that, so in-flight streams finish within
    # --graceful-timeout while the server refuses new connections.
    from sse_starlette.sse import unpatch_uvicorn_signal_handler

    unpatch_uvicorn_signal_handler()


def _aggregate_events_inline() -> None:
    # LangServe attaches an AsyncEventAggregatorCallback to every run. Its
    # methods only append to a list, yet LangChain runs an async handler that is
    # not `run_inline` in a new task for every event, one per streamed token.
    # Inline, as LangChain runs its own tracer: the same events, in place; a
    # third less server time per streamed chunk and a tenth less per invoke.
    from langserve.callbacks import AsyncEventAggregatorCallback

    AsyncEventAggregatorCallback.run_inline = True


class StreamAbandoned(Exception):
    """Thrown into a stream's generator whose response ended before it did."""


async def _close_body(body: object) -> None:
    """Close an async generator left suspended by a response that ended early.

    LangServe's stream generators catch ``BaseException`` around their
    ``yield`` to send an ``error`` event, so a bare ``aclose()`` (the
    ``GeneratorExit`` asyncio's collector hook throws in later, from a task
    of its own) makes them yield again: "async generator ignored
    GeneratorExit", logged as a task exception never retrieved. An exception
    thrown in first lets them send that event (to no one); the close then
    ends them at once, in the task that ran them.
    """
    if not isinstance(body, AsyncGeneratorType) or body.ag_frame is None:
        return  # not a generator, or already finished
    with contextlib.suppress(StreamAbandoned, StopAsyncIteration):
        await body.athrow(StreamAbandoned())  # never started: raised at once
    await body.aclose()


def _close_abandoned_streams() -> None:
    # sse-starlette leaves the body iterator as it was when the response ends
    # early (a client gone, a connection cut): close it there (_close_body).
    from sse_starlette.sse import EventSourceResponse

    original = EventSourceResponse.__call__
    if getattr(original, "closes_abandoned_body", False):
        return

    async def call(
        self: EventSourceResponse, scope: Any, receive: Any, send: Any
    ) -> None:
        try:
            await original(self, scope, receive, send)
        finally:
            await _close_body(self.body_iterator)

    call.closes_abandoned_body = True  # type: ignore[attr-defined]
    EventSourceResponse.__call__ = call  # type: ignore[method-assign]


PATCHES = (
    Patch(
        name="sse-starlette: in-flight streams survive SIGTERM",
        package="sse-starlette",
        since=(1, 8),
        before=(2,),
        apply=_keep_streams_on_sigterm,
    ),
    Patch(
        name="sse-starlette: an abandoned stream's generator is closed",
        package="sse-starlette",
        since=(1, 8),
        before=(2,),
        apply=_close_abandoned_streams,
    ),
    Patch(
        name="langserve: event aggregator runs inline",
        package="langserve",
        since=(0, 3),
        before=(0, 4),
        apply=_aggregate_events_inline,
    ),
)


def apply_patches() -> list[str]:
    """Apply every patch whose library version fits; return the names applied."""
    applied = []
    for patch in PATCHES:
        if patch.applies():
            patch.apply()
            applied.append(patch.name)
        else:
            logger.warning(
                "not applying %r: written for %s %s to before %s, found %s",
                patch.name,
                patch.package,
                ".".join(map(str, patch.since)),
                ".".join(map(str, patch.before)),
                version(patch.package),
            )
    return applied


def _version_tuple(text: str) -> tuple[int, ...]:
    """``"2.0.0rc1"`` -> ``(2, 0, 0)``: release numbers, pre-release tags dropped."""
    release = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(part) for part in release.group().split(".")) if release else ()
