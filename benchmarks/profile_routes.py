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
import cProfile
import inspect
import json
import pstats
import re
import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from sse_starlette.sse import AppStatus
from starlette.responses import Response

from benchmarks.openai_bench import CHAT, MESSAGES, bare_app
from echo_model.engine import Engine
from echo_model.serving.app import create_app
from echo_model.serving.core.error_shapes import ErrorShapes
from echo_model.serving.core.fast_path import FastPath
from echo_model.serving.core.fault_middleware import FaultInjection
from echo_model.serving.core.generation import ModelBackend
from echo_model.serving.core.http import json_response
from echo_model.serving.core.journal import Exchanges
from echo_model.serving.core.metrics import ServingMetrics
from echo_model.serving.core.middleware import (
    ArrivalStamp,
    BodySizeLimit,
    ErrorReplies,
    RequestIds,
)
from echo_model.serving.protocols.anthropic import frames as anthropic_frames
from echo_model.serving.protocols.anthropic.routes import AnthropicRoutes
from echo_model.serving.protocols.openai import frames as openai_frames
from echo_model.serving.protocols.openai.routes import OpenAIRoutes
from echo_model.serving.settings import Settings
from tests.support.asgi import post


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
    apps = {"bare": bare_app(), "v1": create_app(Settings())}
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(rounds):
        for name, app in apps.items():
            path = "/v1/chat/completions"
            asyncio.run(_per_request(app, path, body, requests // 10, 32))
            best[name] = min(
                best[name], asyncio.run(_per_request(app, path, body, requests, 32))
            )
    return best


def _key(function: Any) -> tuple[str, int, str]:
    """The key cProfile files ``function`` under."""
    code = inspect.unwrap(function).__code__
    return code.co_filename, code.co_firstlineno, code.co_name


#: The server's layers, outermost first: each counts its own time, what the
#: next layer inside it does not.
MIDDLEWARE = (
    ("Starlette, FastAPI outer middleware", FastAPI.__call__),
    ("arrival stamp", ArrivalStamp.__call__),
    ("request ids", RequestIds.__call__),
    ("journal", Exchanges.__call__),
    ("error shapes", ErrorShapes.__call__),
    ("body size limit", BodySizeLimit.__call__),
    ("error replies", ErrorReplies.__call__),
    ("faults", FaultInjection.__call__),
    ("fast path: body, JSON validation, key", FastPath.__call__),
)
#: Per route: its endpoint, its request conversion and its reply encoding.
ROUTE_PARTS = {
    "/v1/chat/completions": (
        OpenAIRoutes.chat_completions,
        OpenAIRoutes._generation_request,
        openai_frames.completion,
    ),
    "/v1/messages": (
        AnthropicRoutes.messages,
        AnthropicRoutes._generation_request,
        anthropic_frames.message,
    ),
}


def layer_costs(path: str, body: bytes, requests: int) -> dict[str, float]:
    """Microseconds per request of ``path`` by layer, outermost first.

    cProfile slows every call, small ones most, so its times are read as
    shares only: each layer's share of the profiled total, times the
    unprofiled time per request measured just before.
    """
    app = create_app(Settings())
    asyncio.run(_per_request(app, path, body, requests // 4, 32))  # warm up
    plain = asyncio.run(_per_request(app, path, body, requests, 32))
    profile = cProfile.Profile()
    profile.enable()
    asyncio.run(_per_request(app, path, body, requests, 32))
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def cumulative(function: Any) -> float:
        entry = stats.get(_key(function))
        return entry[3] if entry else 0.0

    endpoint, convert, encode = ROUTE_PARTS[path]
    inside = [cumulative(f) for _, f in MIDDLEWARE]
    response = cumulative(Response.__call__)
    parts = {
        name: outer - inner
        for (name, _), outer, inner in zip(
            MIDDLEWARE, inside, [*inside[1:], 0.0], strict=True
        )
    }
    parts[MIDDLEWARE[-1][0]] -= cumulative(endpoint) + response
    model = cumulative(ModelBackend.generate)
    engine = cumulative(Engine.run)
    metrics = cumulative(ServingMetrics.on_finish) + cumulative(
        ServingMetrics.count_request
    )
    encoding = cumulative(encode) + cumulative(json_response)
    parts["route: wire request -> generation request"] = cumulative(convert)
    parts["model: echo, rules, tokens, fixtures"] = model - engine
    parts["engine: admission, timings"] = engine - cumulative(ServingMetrics.on_finish)
    parts["metrics"] = metrics
    parts["route: reply encoding (orjson)"] = encoding
    parts["route: the rest"] = cumulative(endpoint) - (
        cumulative(convert)
        + model
        + encoding
        + cumulative(ServingMetrics.count_request)
    )
    parts["response: sent through every layer's hooks"] = response
    total = inside[0]
    return {name: plain * 1e6 * value / total for name, value in parts.items()}


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
    return asyncio.run(_stream_costs(create_app(Settings()), repeats, rounds))


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
        path: layer_costs(path, json.dumps(MESSAGES).encode(), args.requests)
        for path in ROUTE_PARTS
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
        print(f"{path}, us per request by layer (cProfile shares of the plain time):")
        for name, micros in costs.items():
            print(f"  {name:<46} {micros:6.1f}")
        print(f"  {'all (the plain time per request)':<46} {sum(costs.values()):6.1f}")
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
