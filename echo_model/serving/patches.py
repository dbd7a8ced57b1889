"""Process-wide changes to libraries the server runs on, each with its reason.

Applied when an app is created (``apply_patches``), never at import. Each is
written for a version range of its library: outside it, the patch is skipped
with a warning naming it, so an upgrade cannot silently run a patch whose
premise no longer holds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

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


PATCHES = (
    Patch(
        name="sse-starlette: in-flight streams survive SIGTERM",
        package="sse-starlette",
        since=(1, 8),
        before=(2,),
        apply=_keep_streams_on_sigterm,
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
