"""What stops a model request, answered alike by every protocol in its own shape.

A model route's work can stop three ways before it replies: the request is
refused (``InvalidRequest``: a 400 naming what is wrong), the model fails on
purpose (``EchoFaultError``: an injected fault or a fixture's scripted error,
with its status and ``Retry-After``), or the request's fault answered it
already (``FaultAnswered``: the fault middleware has replied). Each counts the
request as failed. ``ModelReplies.answer`` runs a route's work under that one
rule; the protocol gives only its shapes. ``ModelRoutes`` is what every
protocol's model routes hold, these answers among them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from echo_model.faults import EchoFaultError
from echo_model.serving.core.fault_middleware import FaultAnswered, retry_after_headers
from echo_model.serving.core.generation import Failure, ModelBackend
from echo_model.serving.core.http import json_response
from echo_model.serving.core.options import InvalidRequest, OptionChecks
from echo_model.serving.core.protocol import ServingContext


class ModelReplies:
    """A protocol's answers to a refused request and to a model's failure.

    Args:
        refuse: The protocol's reply to a refused request (its 400).
        failure_body: The protocol's error body for a model's failure.
    """

    def __init__(
        self,
        refuse: Callable[[InvalidRequest], Response],
        failure_body: Callable[[Failure], dict[str, Any]],
    ) -> None:
        self.refuse = refuse
        self.failure_body = failure_body

    async def answer(
        self, work: Callable[[], Awaitable[Response]], failed: Callable[[], None]
    ) -> Response:
        """Return ``work``'s reply, or the answer to what stopped it.

        Args:
            work: The route's work: checks, the fault decision, the model.
            failed: Counts the request as failed.

        Raises:
            FaultAnswered: The request's fault has answered it (let it pass).
        """
        try:
            return await work()
        except InvalidRequest as error:
            failed()
            return self.refuse(error)
        except EchoFaultError as error:
            failed()
            return self.failure(error)
        except FaultAnswered:
            failed()
            raise

    def failure(self, error: EchoFaultError) -> Response:
        """Return the whole reply to a model's failure: its status and delay."""
        failure = Failure.of(error)
        return json_response(
            self.failure_body(failure),
            status_code=failure.status,
            headers=retry_after_headers(failure.retry_after),
        )


class ModelRoutes:
    """What a protocol's model routes share; its routes class subclasses it.

    Attributes:
        backend: Runs the served model.
        options: Checks the per-request options (``echo``).
        limits: The server's limits.
        metrics: Where requests are counted.
        guards: The API-key dependencies every route takes.
        replies: The protocol's answers to what stops a model request.

    Args:
        context: What the server serves with (model, limits, metrics, guards).
        refuse: The protocol's reply to a refused request (its 400).
        failure_body: The protocol's error body for a model's failure.
    """

    def __init__(
        self,
        context: ServingContext,
        refuse: Callable[[InvalidRequest], Response],
        failure_body: Callable[[Failure], dict[str, Any]],
    ) -> None:
        self.backend = ModelBackend(context.model)
        self.options = OptionChecks(context.limits)
        self.limits = context.limits
        self.metrics = context.metrics
        self.guards = list(context.guards)
        self.replies = ModelReplies(refuse, failure_body)


__all__ = ["ModelReplies", "ModelRoutes"]
