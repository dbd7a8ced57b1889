"""The fast path: the vendor routes' usual requests, past FastAPI's per-request layers.

Per request, FastAPI spends more time than the echo itself finding the route
(every route's pattern is tried in order, LangServe's ~60 included), solving
the route's dependencies and turning the body into the route's model from
Python objects (``python -m benchmarks.profile_routes`` prints the split).
``FastPath`` sits inside the server's own middleware (ids, journal, error
shapes, body limit, faults) and answers, itself, the requests it can answer
exactly as the route would:

- the path is a ``POST`` route's exact path, found in a dict;
- the route's endpoint takes one JSON body model (and may take the
  ``Request``), returns a ``Response``, and depends on nothing but the API-key
  guard (``auth.ApiKeyGuard``);
- the request says its body is JSON, the body validates into the route's
  model from its bytes (pydantic-core's ``model_validate_json``), and the key
  is presented in the plain way the guard admits (``ApiKeyGuard.admits``).

Then the same endpoint runs with the same model instance it would get from
FastAPI. Everything else (another path, a body the model refuses, another
content type, a missing or wrong key) goes on, its body replayed, to FastAPI,
which answers it as it always did: refusals keep their shapes and messages
because they are made by the same code. What a client sees does not depend on
which way a request went; only the cost of getting to the endpoint does.
"""

from __future__ import annotations

import email.message
import functools
import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from echo_model.serving.core.auth import ApiKeyGuard

logger = logging.getLogger("echo_model.server")

Endpoint = Callable[..., Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class FastRoute:
    """A route the fast path answers: its endpoint, body model and guards.

    Attributes:
        endpoint: The route's endpoint, called as FastAPI would call it.
        body_model: The pydantic model its body parameter is.
        body_name: The name of its body parameter.
        request_name: The name of its ``Request`` parameter, if it takes one.
        guards: The API-key guards the route depends on (all must admit).
    """

    endpoint: Endpoint
    body_model: type[BaseModel]
    body_name: str
    request_name: str | None
    guards: tuple[ApiKeyGuard, ...]


def fast_route(route: Any) -> FastRoute | None:
    """Return how the fast path answers ``route``, or ``None`` if it cannot.

    ``route`` is one of FastAPI's ``RouteContext``s: a route as an app serves
    it, with the prefix and dependencies of the routers that include it.

    A route qualifies when answering it without FastAPI changes nothing: a
    ``POST`` on a path with no parameters, whose endpoint takes one JSON body
    model that is not embedded (and the ``Request``, if it likes), no query,
    header or cookie parameters, depends on nothing but ``ApiKeyGuard``s, and
    is declared to return a ``Response`` (so there is no response model to
    apply).
    """
    original = route.original_route
    if not isinstance(original, APIRoute) or route.methods != {"POST"}:
        return None
    # A route class may wrap the handler; only those that say the fast path
    # answers as they would (``SAME_ON_FAST_PATH``) are skipped.
    route_class = type(original)
    if route_class.get_route_handler is not APIRoute.get_route_handler and not (
        getattr(route_class, "SAME_ON_FAST_PATH", False)
    ):
        return None
    dependant = route.dependant
    if (
        dependant is None
        or route.param_convertors
        or dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or len(dependant.body_params) != 1
        or route._embed_body_fields
        or dependant.call is None
    ):
        return None
    # Anything else FastAPI would hand the endpoint (background tasks, the
    # response, security scopes) the fast path does not make.
    if (
        dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    ):
        return None
    guards = tuple(sub.call for sub in dependant.dependencies)
    if not all(isinstance(guard, ApiKeyGuard) for guard in guards):
        return None
    field = dependant.body_params[0]
    model = field.field_info.annotation
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        return None
    if not _returns_response(dependant.call):
        return None
    return FastRoute(
        endpoint=dependant.call,
        body_model=model,
        body_name=field.name,
        request_name=dependant.request_param_name,
        guards=typing.cast(tuple[ApiKeyGuard, ...], guards),
    )


def _returns_response(call: Callable[..., Any]) -> bool:
    try:
        hints = typing.get_type_hints(call)
    except (NameError, TypeError):  # an annotation that cannot be resolved
        return False
    returned = hints.get("return")
    return inspect.isclass(returned) and issubclass(returned, Response)


def fast_routes(routes: Sequence[BaseRoute]) -> dict[str, FastRoute]:
    """Return the fast path's table: each qualifying path to its route.

    A path a non-qualifying ``POST`` route claims first is left out: the
    router would answer it with that route.
    """
    table: dict[str, FastRoute] = {}
    claimed: set[str] = set()
    for route in iter_route_contexts(routes):
        path = getattr(route, "path", None)
        if not isinstance(path, str) or path in claimed:
            continue
        methods = getattr(route, "methods", None) or set()
        if "POST" not in methods and methods:
            continue  # a GET on the same path does not take a POST
        claimed.add(path)
        fast = fast_route(route)
        if fast is not None:
            table[path] = fast
    return table


@functools.lru_cache(maxsize=64)
def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of ``content_type`` as JSON.

    Parsed as FastAPI parses it (``email.message``); cached, as clients send
    the same few values.
    """
    if not content_type:
        return False  # FastAPI's reading of a body with no type depends on settings
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


class FastPath:
    """ASGI middleware answering the qualifying routes' usual requests itself.

    Innermost of the server's middleware, so every request still passes the
    ids, journal, error shapes, body limit and faults; what it skips is
    FastAPI's exception middleware, its exit stacks, the router's walk and
    the dependency solver. See the module's docstring for what qualifies.

    Args:
        app: The app inside (FastAPI's stack, which answers everything else).
        routes: The app's routes, read at the first request (routes are added
            after the middleware is).
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes
        self._table: dict[str, FastRoute] | None = None

    @property
    def table(self) -> dict[str, FastRoute]:
        """The routes answered here, by path (built once, at the first request)."""
        if self._table is None:
            self._table = fast_routes(self.routes)
            logger.debug("fast path for %s", sorted(self._table))
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request if it qualifies, else pass it on with its body."""
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        route = self.table.get(scope["path"])
        if route is None or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        headers = request.headers
        if not is_json(headers.get("content-type")) or not all(
            guard.admits(headers) for guard in route.guards
        ):
            await self.app(scope, receive, send)
            return
        body = await request.body()
        try:
            model = route.body_model.model_validate_json(body)
        except ValidationError:
            # FastAPI answers it, in the protocol's shape, with its own errors.
            await self.app(scope, _replay(body, receive), send)
            return
        arguments: dict[str, Any] = {route.body_name: model}
        if route.request_name is not None:
            arguments[route.request_name] = request
        try:
            response = await route.endpoint(**arguments)
        except HTTPException as error:
            # What FastAPI's exception middleware does with it.
            response = await http_exception_handler(request, error)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Return a ``receive`` that gives ``body`` once, then the client's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


__all__ = ["FastPath", "FastRoute", "fast_route", "fast_routes", "is_json"]
