"""The protocol interface: what the server's shared layers ask of a wire protocol.

Each wire protocol (OpenAI's Chat Completions, Anthropic's Messages,
LangServe's) is one package under ``echo_model.serving.protocols`` holding one
``WireProtocol`` object. The app registers each protocol's routes through it;
the layers below every protocol (error shapes, faults, metrics) reach a
protocol only through it, never by importing its package:

- which paths are its own (``claims``) and which of its requests run the
  model (``runs_model``), so the right protocol answers a refusal or a fault;
- how it writes an error: as a JSON body (``error_body``), as the frame
  that ends a started stream (``stream_error``), for a refusal FastAPI or a
  middleware made (``reshape_detail``), for a malformed fault header
  (``header_error``) and for a prompt over the context window
  (``context_refusal``);
- how its own body counts prompt tokens (``prompt_tokens``);
- which frames of its streams carry reply content (``is_chunk``), which
  finish the reply (``is_end``), and which is a framework's generic error
  that hides the model's own (``is_generic_error``: LangServe's).

Adding a protocol is adding one package with one such object, and naming it
in ``echo_model.serving.app.PROTOCOLS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.params import Depends as DependsParam
from starlette.types import Scope

from echo_model.chat_models import EchoChatModel
from echo_model.serving.core.limits import Limits

if TYPE_CHECKING:
    from echo_model.serving.core.fixtures import ServedFixtures
    from echo_model.serving.core.metrics import ServingMetrics
    from echo_model.serving.core.store import RuntimeStore

#: An error reply: its HTTP status and JSON body.
ErrorReply = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class ServingContext:
    """What every protocol serves with; built once per app by the app factory.

    Attributes:
        model: The served model, with the server's defaults.
        limits: The server's request limits.
        metrics: The app's metrics (requests, faults, timings).
        guards: Dependencies every model route needs (the API-key check).
        fixtures: The fixtures the served model reads (files, then runtime).
        store: The runtime state (added fixtures, sequence counts, journal).
    """

    model: EchoChatModel
    limits: Limits
    metrics: ServingMetrics
    guards: Sequence[DependsParam] = ()
    fixtures: ServedFixtures | None = None
    store: RuntimeStore | None = None


class WireProtocol(ABC):
    """One wire protocol, as the server's shared layers see it (module doc)."""

    #: The ``protocol`` label of the metrics and logs.
    name: str
    #: The status that refuses a malformed ``X-Echo-Fault`` header.
    header_status: int = 400
    #: The response header carrying the request's id.
    request_id_header: str = "x-request-id"

    @abstractmethod
    def add_routes(self, app: FastAPI, context: ServingContext) -> None:
        """Register the protocol's routes on ``app``."""

    @abstractmethod
    def claims(self, path: str) -> bool:
        """Whether ``path`` is one of this protocol's (its refusals take its shape)."""

    @abstractmethod
    def runs_model(self, method: str, path: str) -> bool:
        """Whether a request to ``path`` runs the model (faults apply to it)."""

    @abstractmethod
    def error_body(
        self, status: int, message: str, code: str | None = None
    ) -> dict[str, Any]:
        """Return the protocol's JSON error body for ``status`` and ``message``."""

    @abstractmethod
    def stream_error(self, status: int, message: str) -> bytes:
        """Return the frame that ends a started stream with an error."""

    @abstractmethod
    def is_chunk(self, frame: bytes) -> bool:
        """Whether a stream frame carries reply content (what faults count)."""

    @abstractmethod
    def is_end(self, frame: bytes) -> bool:
        """Whether a stream frame finishes the reply (or announces its end)."""

    def is_generic_error(self, frame: bytes) -> bool:
        """Whether a stream frame is an error that hides the model's own.

        The journal restates such a frame with a fixture's status and message.
        """
        return False

    @abstractmethod
    def prompt_tokens(self, path: str, body: bytes) -> int | None:
        """Return the prompt's input tokens by the model's rule, or ``None``.

        ``None`` when the body cannot be read as the route reads it (the route
        then refuses it) or the route has no prompt.
        """

    def context_refusal(self, tokens: int, maximum: int) -> dict[str, Any]:
        """Return the error body refusing a prompt of ``tokens`` over ``maximum``."""
        return self.error_body(
            400, f"prompt is too long: {tokens} tokens > {maximum} maximum"
        )

    def status_fault_body(self, status: int, message: str) -> dict[str, Any]:
        """Return the error body of an injected ``status`` fault."""
        return self.error_body(status, message)

    def header_error(self, message: str) -> dict[str, Any]:
        """Return the error body refusing a malformed ``X-Echo-Fault`` header."""
        return self.error_body(self.header_status, message)

    def reshape_detail(self, status: int, detail: Any, scope: Scope) -> ErrorReply:
        """Return the protocol's error reply for a FastAPI ``{"detail"}`` reply.

        FastAPI, the API-key check, the router and the server's middleware
        answer errors as ``{"detail": ...}``; by default that shape stays.
        """
        return status, {"detail": detail}

    def reshapes_details(self) -> bool:
        """Whether ``reshape_detail`` gives the protocol a shape of its own."""
        return type(self).reshape_detail is not WireProtocol.reshape_detail


def protocol_for(
    protocols: Sequence[WireProtocol], method: str, path: str
) -> WireProtocol | None:
    """Return the first of ``protocols`` whose request to ``path`` runs the model."""
    for protocol in protocols:
        if protocol.runs_model(method, path):
            return protocol
    return None


__all__ = ["ErrorReply", "ServingContext", "WireProtocol", "protocol_for"]
