"""Where one ``/echo/invoke`` spends its time, in process, by layer.

Run: ``python -m benchmarks.profile_invoke``. Calls each app's ASGI entry point
directly (no network, no HTTP client), so only the server's own work counts:

1. the time per request of apps built up step by step, from the bare limit
   through LangServe serving a bare ``EchoChatModel`` to this server, as
   ratios to the peer (LangServe serving the guide's model);
2. this server under cProfile: the share of a request spent in each layer
   (cProfile inflates absolute times; the shares are what to read).
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import time
from typing import Any

from benchmarks.apps import bare_app, floor_app, guide_app, langserve_app
from echo_model import EchoChatModel
from echo_model.serving.app import create_app
from echo_model.serving.protocols.langserve.runnables import configurable_model
from echo_model.serving.settings import Settings
from tests.support.asgi import post

BODY = json.dumps({"input": "hello"}).encode()

#: Layers of one request: (label, file fragment, function name) of its entry point.
LAYERS = [
    ("whole request (ASGI app)", "fastapi/applications.py", "__call__"),
    ("LangServe invoke handler", "langserve/api_handler.py", "invoke"),
    ("  parse + validate config and input", "api_handler.py", "_get_config_and_input"),
    ("    input schema derived per request", "runnables/base.py", "input_schema"),
    ("  run the runnable (LangChain)", "runnables/configurable.py", "ainvoke"),
    ("    the model's _agenerate", "echo_model/chat_models.py", "_agenerate"),
    ("  encode response (jsonable_encoder)", "api_handler.py", "_json_encode_response"),
]


async def _check_ok(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        msg = f"status {message['status']}"
        raise RuntimeError(msg)


async def _call(app: Any) -> None:
    await post(app, "/echo/invoke", BODY, _check_ok)


async def _run(app: Any, n: int, concurrency: int = 1) -> float:
    """Return the wall time per request of ``n`` requests, ``concurrency`` at once."""

    async def client(count: int) -> None:
        for _ in range(count):
            await _call(app)

    each = max(n // concurrency, 1)
    start = time.perf_counter()
    await asyncio.gather(*(client(each) for _ in range(concurrency)))
    return (time.perf_counter() - start) / (each * concurrency)


#: Apps from the limit to this server; from the third on, each adds one thing.
STEPS = [
    ("bare FastAPI (the limit)", bare_app),
    ("LangServe + the guide's model (the peer)", guide_app),
    ("LangServe + a canned AIMessage, no model", floor_app),
    ("LangServe + EchoChatModel", lambda: langserve_app(EchoChatModel())),
    (
        "  + configurable n/stop/delays/faults",
        lambda: langserve_app(configurable_model()),
    ),
    ("  + checks, limits, /stats: this server", lambda: create_app(Settings())),
]


def compare_steps(
    requests: int, rounds: int = 5, concurrency: int = 32
) -> dict[str, float]:
    """Print and return the time per request (s) of each step, best of ``rounds``.

    Apps are interleaved round by round. Requests run ``concurrency`` at once,
    as under wrk: the peer's model hops to a thread pool, and one request at a
    time would count that hop's idle wait, which concurrent requests fill.
    """
    apps = [(label, build()) for label, build in STEPS]
    best = dict.fromkeys((label for label, _ in apps), float("inf"))
    for _ in range(rounds):
        for label, app in apps:
            asyncio.run(_run(app, requests // 10, concurrency))  # warm up
            wall = asyncio.run(_run(app, requests, concurrency))
            best[label] = min(best[label], wall)
    peer = best[STEPS[1][0]]
    print(f"in process, {concurrency} requests at a time:")
    print(f"{'app':<44}{'us/request':>11}{'x peer rate':>13}")
    for label, _ in apps:
        print(f"{label:<44}{best[label] * 1e6:>11.0f}{peer / best[label]:>12.2f}x")
    print()
    return best


def layer_shares(requests: int) -> tuple[float, dict[str, float]]:
    """Return one invoke's time (s, unprofiled) and each layer's cProfile share."""
    app = create_app(Settings())
    asyncio.run(_run(app, max(requests // 10, 10)))  # warm up
    per_request = asyncio.run(_run(app, requests))
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(_run(app, requests))
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    cumulative: dict[str, float] = {}
    for (filename, _, function), (_, _, _, cum, _) in stats.items():
        for label, fragment, name in LAYERS:
            if function == name and fragment in filename:
                cumulative[label] = max(cumulative.get(label, 0.0), cum)
    whole = cumulative[LAYERS[0][0]]
    shares = {label: cumulative.get(label, 0.0) / whole for label, _, _ in LAYERS}
    print(f"one invoke in process, unprofiled: {per_request * 1e6:.0f} us\n")
    print(f"{'layer':<42}{'share':>7}")
    for label, share in shares.items():
        print(f"{label:<42}{100 * share:>6.0f}%")
    return per_request, shares


def main(requests: int = 3000, rounds: int = 5) -> None:
    compare_steps(requests // 3, rounds)
    layer_shares(requests)


if __name__ == "__main__":
    main()
