"""What one request costs on each route, in process: no network, no HTTP client.

Run: ``python -m benchmarks.profile_routes``. Calls the apps' ASGI entry points
directly, so only the server's own work counts:

1. ``/v1/chat/completions`` on this server beside bare FastAPI returning the
   same body (``openai_bench.bare_app``), 32 requests at a time, best of
   several interleaved rounds;
2. where one ``/v1/chat/completions`` and one ``/v1/messages`` request spend
   their time, layer by layer (``layer_costs``): cProfile's shares, scaled to
   the unprofiled time per request;
3. a stream's fixed cost and its cost per chunk, for LangServe's
   ``/echo/stream`` and for ``/v1/chat/completions``: one stream at a time,
   with a 1-character and a 1000-character reply; the fixed cost is the short
   stream's time, the cost per chunk the difference over 999 chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from sse_starlette.sse import AppStatus
from starlette.requests import Request

from benchmarks.openai_bench import CHAT, MESSAGES, bare_app
from echo_model.serving.app import create_app
from echo_model.serving.core.error_shapes import ErrorShapes
from echo_model.serving.core.fast_path import FastPath
from echo_model.serving.core.fault_middleware import FaultInjection
from echo_model.serving.core.generation import ModelBackend
from echo_model.serving.core.http import json_response
from echo_model.serving.core.journal import Exchanges
from echo_model.serving.core.middleware import (
    ArrivalStamp,
    BodySizeLimit,
    ErrorReplies,
    RequestIds,
)
from echo_model.serving.protocols.anthropic import frames as anthropic_frames
from echo_model.serving.protocols.openai import frames as openai_frames
from echo_model.serving.settings import Settings
from tests.support.asgi import post


def served_app() -> Any:
    """This server's app, its start-up objects frozen as the server freezes them.

    Called directly, an app runs no lifespan; without the freeze, each full
    garbage collection walks the ~130,000 start-up objects and lands on
    whichever step allocated last (``app.freeze_start_up_objects``).
    """
    app = create_app(Settings())
    gc.collect()
    gc.freeze()
    return app


async def _ignore(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        msg = f"status {message['status']}"
        raise RuntimeError(msg)


async def _per_request(
    app: Any, path: str, body: bytes, n: int, concurrency: int
) -> float:
    async def client(count: int) -> None:
        for _ in range(count):
            await post(app, path, body, _ignore)

    each = max(n // concurrency, 1)
    start = time.perf_counter()
    await asyncio.gather(*(client(each) for _ in range(concurrency)))
    return (time.perf_counter() - start) / (each * concurrency)


def request_costs(requests: int, rounds: int) -> dict[str, float]:
    """Seconds per request of bare FastAPI and of ``/v1`` (best of ``rounds``)."""
    body = json.dumps(CHAT).encode()
    apps = {"bare": bare_app(), "v1": served_app()}
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(rounds):
        for name, app in apps.items():
            path = "/v1/chat/completions"
            asyncio.run(_per_request(app, path, body, requests // 10, 32))
            best[name] = min(
                best[name], asyncio.run(_per_request(app, path, body, requests, 32))
            )
    return best


#: The server's own middleware, outermost first, and what each does.
MIDDLEWARE: tuple[tuple[str, type], ...] = (
    ("arrival stamp", ArrivalStamp),
    ("request ids", RequestIds),
    ("journal", Exchanges),
    ("error shapes", ErrorShapes),
    ("body size limit", BodySizeLimit),
    ("error replies", ErrorReplies),
    ("faults", FaultInjection),
    ("fast path: body, JSON validation, key", FastPath),
)


def _layers(app: Any) -> list[Any]:
    """The app's middleware chain, outermost first (built if it is not yet)."""
    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    chain, layer = [], app.middleware_stack
    while hasattr(layer, "app"):
        chain.append(layer)
        layer = layer.app
    return chain


def layer_costs(
    path: str, body: bytes, requests: int, rounds: int = 5
) -> dict[str, float]:
    """Microseconds per request of ``path`` by layer, each timed around a stub.

    Each of the server's middleware, as the app configured it, is run around
    a stub app that reads the body and sends a canned JSON reply; its cost is
    that time less the stub's alone, best of ``rounds`` interleaved runs.
    "Starlette, FastAPI outer" is the app's time less the time from the first
    of ours. Inside the fast path, each step of the route is timed alone on
    the same request (``route_steps``); the rest is what the whole request
    takes beyond all of these. Plain timing throughout: a profiler inflates
    layers made of many small calls.
    """
    app = served_app()
    chain = _layers(app)
    ours = {type(layer): layer for layer in chain}

    def timed(entry: Any) -> float:
        return asyncio.run(_per_request(entry, path, body, requests, 32))

    timed(app)  # warm up
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds)

    for _ in range(rounds):
        keep("all", timed(app))
        keep("from ours", timed(ours[ArrivalStamp]))
        keep("stub", timed(_stub))
        for name, kind in MIDDLEWARE[:-1]:
            layer = ours[kind]
            inner, layer.app = layer.app, _stub
            try:
                keep(name, timed(layer))
            finally:
                layer.app = inner
    costs = {"Starlette, FastAPI outer middleware": best["all"] - best["from ours"]}
    for name, _ in MIDDLEWARE[:-1]:
        costs[name] = max(best[name] - best["stub"], 0.0)
    steps = route_steps(app, path, body)
    costs.update(steps)
    costs["the rest: request object, sending, the event loop"] = best["all"] - sum(
        costs.values()
    )
    return {name: seconds * 1e6 for name, seconds in costs.items()}


async def _stub(scope: Any, receive: Any, send: Any) -> None:
    """Read the body, answer a canned JSON reply: what a route minimally does."""
    while (await receive()).get("more_body"):
        pass
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


def route_steps(
    app: Any, path: str, body: bytes, repeats: int = 3000
) -> dict[str, float]:
    """Seconds per request of each step of ``path``'s route, each timed alone.

    The steps are the route's own: the body validated into its model from
    bytes, the wire request made a generation request, the model run (with
    the engine and the metrics it reports to), the reply encoded.
    """
    routes = fast_path_of(app).table[path]
    model = routes.body_model.model_validate_json(body)
    handler = routes.endpoint.__self__  # type: ignore[attr-defined]
    backend: ModelBackend = handler.backend
    convert, encode = ROUTE_STEPS[path]
    request = convert(handler, model)
    generation = asyncio.run(backend.generate(request))

    async def generate_all() -> None:
        for _ in range(repeats):
            await backend.generate(request)

    def each(function: Callable[[], Any]) -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        return (time.perf_counter() - start) / repeats

    validate = each(lambda: routes.body_model.model_validate_json(body))
    to_request = each(lambda: convert(handler, model))
    start = time.perf_counter()
    asyncio.run(generate_all())
    run = (time.perf_counter() - start) / repeats
    reply = each(lambda: encode(generation))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-type", b"application/json")],
        "state": {},
    }

    async def endpoint_all() -> None:
        for _ in range(repeats):
            arguments = {routes.body_name: model}
            if routes.request_name:
                arguments[routes.request_name] = Request(scope)
            await routes.endpoint(**arguments)

    start = time.perf_counter()
    asyncio.run(endpoint_all())
    endpoint = (time.perf_counter() - start) / repeats
    return {
        "body validated from bytes (pydantic-core)": validate,
        "route: wire request -> generation request": to_request,
        "model: echo, rules, tokens, fixtures, engine, metrics": run,
        "route: reply encoded (orjson)": reply,
        "route: the rest (ids, counts, fault decision, response object)": max(
            endpoint - (to_request + run + reply), 0.0
        ),
    }


def fast_path_of(app: Any) -> FastPath:
    """Return the app's fast path layer."""
    return next(layer for layer in _layers(app) if isinstance(layer, FastPath))


#: Per route: how it makes its generation request, and encodes its reply.
ROUTE_STEPS: dict[str, tuple[Callable[..., Any], Callable[[Any], Any]]] = {
    "/v1/chat/completions": (
        lambda routes, body: routes._generation_request(body, _NO_HEADERS),
        lambda generation: json_response(
            openai_frames.completion(generation, "chatcmpl-0", 0, 1)
        ),
    ),
    "/v1/messages": (
        lambda routes, body: routes._generation_request(body, _NO_HEADERS),
        lambda generation: json_response(anthropic_frames.message(generation, "msg_0")),
    ),
}


class _Headers:
    """A request with no headers, for the steps that read them."""

    headers: ClassVar[dict[str, str]] = {}


_NO_HEADERS = _Headers()


def _stream_body(route: str, chars: int) -> bytes:
    text = "x" * chars
    if route == "langserve":
        return json.dumps({"input": text}).encode()
    return json.dumps(
        {"model": "echo", "messages": [{"role": "user", "content": text}],
         "stream": True}
    ).encode()  # fmt: skip


STREAM_PATHS = {"langserve": "/echo/stream", "v1": "/v1/chat/completions"}


def stream_costs(repeats: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Per route: (fixed seconds per stream, seconds per chunk), best of ``rounds``."""
    # sse-starlette 1.x binds one exit event to the first loop that streams:
    # every measurement runs on one loop, with the event made afresh for it.
    AppStatus.should_exit_event = None
    return asyncio.run(_stream_costs(served_app(), repeats, rounds))


async def _stream_costs(
    app: Any, repeats: int, rounds: int
) -> dict[str, tuple[float, float]]:
    costs: dict[str, tuple[float, float]] = {}
    for route, path in STREAM_PATHS.items():
        short, long = _stream_body(route, 1), _stream_body(route, 1000)
        await _per_request(app, path, short, repeats, 1)  # warm up
        best_short = best_long = float("inf")
        for _ in range(rounds):
            best_short = min(
                best_short, await _per_request(app, path, short, repeats, 1)
            )
            best_long = min(
                best_long,
                await _per_request(app, path, long, max(repeats // 10, 2), 1),
            )
        costs[route] = (best_short, (best_long - best_short) / 999)
    return costs


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Print the costs; return them in microseconds, by figure key."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    requests = request_costs(args.requests, args.rounds)
    layers = {
        path: layer_costs(
            path, json.dumps(MESSAGES).encode(), args.requests, args.rounds
        )
        for path in ROUTE_STEPS
    }
    streams = stream_costs(max(args.requests // 20, 10), args.rounds)
    found = {
        "bare_us": requests["bare"] * 1e6,
        "v1_us": requests["v1"] * 1e6,
        **{
            f"{route}_stream_setup_us": fixed * 1e6
            for route, (fixed, _) in streams.items()
        },
        **{
            f"{route}_stream_chunk_us": chunk * 1e6
            for route, (_, chunk) in streams.items()
        },
    }
    print("in process, 32 requests at a time:")
    print(f"  bare FastAPI /v1/chat/completions  {found['bare_us']:8.0f} us/request")
    print(f"  this server  /v1/chat/completions  {found['v1_us']:8.0f} us/request")
    for path, costs in layers.items():
        print(f"{path}, us per request by layer (each taken out, or timed alone):")
        for name, micros in costs.items():
            print(f"  {name:<46} {micros:6.1f}")
        print(f"  {'all':<46} {sum(costs.values()):6.1f}")
    found.update(
        {
            f"layers.{path.strip('/').replace('/', '_')}.{_slug(name)}_us": micros
            for path, costs in layers.items()
            for name, micros in costs.items()
        }
    )
    print("one stream at a time (fixed cost; cost per chunk):")
    for route, path in STREAM_PATHS.items():
        print(
            f"  {path:<22} {found[f'{route}_stream_setup_us']:8.0f} us"
            f"  {found[f'{route}_stream_chunk_us']:6.1f} us/chunk"
        )
    return found


def _slug(name: str) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", name.lower()))


if __name__ == "__main__":
    main()
