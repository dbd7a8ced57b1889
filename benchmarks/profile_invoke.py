"""Where one ``/echo/invoke`` spends its time, in process, by layer.

Run: ``python -m benchmarks.profile_invoke``. Calls the app's ASGI entry point
directly (no network, no HTTP client) under cProfile and reports the share of
the request spent in each layer; cProfile inflates absolute times, the shares
are what to read.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import time
from typing import Any

from server import Settings, create_app

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


async def _call(app: Any) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo/invoke",
        "raw_path": b"/echo/invoke",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": BODY, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            msg = f"status {message['status']}"
            raise RuntimeError(msg)

    await app(scope, receive, send)


async def _run(app: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await _call(app)
    return (time.perf_counter() - start) / n


def main(requests: int = 3000) -> None:
    app = create_app(Settings())
    asyncio.run(_run(app, 300))  # warm up
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
    print(f"one invoke in process, unprofiled: {per_request * 1e6:.0f} us\n")
    print(f"{'layer':<42}{'share':>7}")
    for label, _, _ in LAYERS:
        print(f"{label:<42}{100 * cumulative.get(label, 0.0) / whole:>6.0f}%")


if __name__ == "__main__":
    main()
