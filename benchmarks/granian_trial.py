"""The server underneath: uvicorn or Granian, side by side in one run.

Run: ``python -m benchmarks.granian_trial`` (needs ``wrk``; Granian is
installed from PyPI into a virtualenv of its own under the temp dir on first
use, never into the project's).

The same two app factories under each server, one worker, in turn:

- ``echo``: this server's app (``echo_model.serving.app:create_app``, what
  ``server.py`` serves);
- ``bare``: plain FastAPI answering the same requests with ready-made bodies
  (the limit), so that the server's own cost shows apart from ours.

uvicorn runs as ``server.py`` runs it: uvloop, httptools, a 75-second
keep-alive, no access log. Granian runs ``--interface asgi --factory`` on
uvloop, HTTP/1, no access log. Measured: non-streamed
``/v1/chat/completions`` and ``/echo/invoke`` requests/s (wrk), and one
1000-character ``/v1/chat/completions`` stream at a time, events/s. Then a
few requests against each server show what a client sees differently:
headers, keep-alive, whether a paced stream is flushed event by event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from benchmarks.apps import BARE_BODY
from benchmarks.load import RateResult, read_stream, wrk_invoke
from benchmarks.openai_bench import (
    BARE_COMPLETION,
    CHAT,
    OPENAI_MARKS,
    STREAM_CHARS,
    single_openai_stream_rate,
)
from tests.support.processes import Server, serve

#: Pinned, so that a rerun measures the same server.
GRANIAN_VERSION = "2.8.9"
GRANIAN_DIR = Path(tempfile.gettempdir()) / "echo-model-granian"
#: The factories both servers build, with no arguments.
FACTORIES = {
    "bare": "benchmarks.granian_trial:bare_app",
    "echo": "echo_model.serving.app:create_app",
}
SERVERS = ("uvicorn", "granian")
INVOKE = {"input": "hello"}
LOOPBACK = "127.0.0.1"


# --- The bare app: the same requests, ready-made answers -------------------------

#: A ``chat.completion.chunk`` carrying one character, as an SSE event.
_CHUNK = (
    "data: "
    + json.dumps(
        {
            "id": BARE_COMPLETION["id"],
            "object": "chat.completion.chunk",
            "created": BARE_COMPLETION["created"],
            "model": "echo",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": "x"},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        },
        separators=(",", ":"),
    )
    + "\n\n"
)


def bare_app() -> FastAPI:
    """Return plain FastAPI answering ``/v1/chat/completions`` and ``/echo/invoke``.

    The completion is this server's reply to ``CHAT``; a streamed request gets
    one event per character of its last message, then ``[DONE]``, from an
    async generator (one ASGI body message per event, as ours sends).
    """
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def completions(payload: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        if not payload.get("stream"):
            return JSONResponse(BARE_COMPLETION)
        text = str(payload["messages"][-1]["content"])

        async def events() -> AsyncIterator[str]:
            for _ in text:
                yield _CHUNK
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/echo/invoke")
    async def invoke(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return BARE_BODY

    return app


# --- Starting each server ----------------------------------------------------------


def install_granian() -> Path:
    """Return the Python of Granian's own virtualenv, making it on first use.

    The virtualenv holds Granian (and uvloop, its loop here) only; a ``.pth``
    file adds this interpreter's site-packages after its own, so the app runs
    on exactly the libraries the uvicorn side runs on, and Granian never
    enters the project's environment.

    Raises:
        RuntimeError: Granian could not be installed.
    """
    venv = GRANIAN_DIR / f"granian-{GRANIAN_VERSION}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            f"granian[uvloop]=={GRANIAN_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)  # so the next run tries again
        msg = f"pip install granian failed: {done.stderr[-500:].strip()}"
        raise RuntimeError(msg)
    theirs = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # addsitedir, not a bare path: it also reads our site-packages' own .pth
    # files, among them the editable install of this project.
    ours = sysconfig.get_paths()["purelib"]
    (Path(theirs) / "echo_model_bench.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    return python


def command(server: str, factory: str) -> list[str]:
    """The command line serving ``factory`` on ``server``, one worker.

    ``{python}`` and ``{port}`` are filled in by ``serve``.
    """
    if server == "uvicorn":
        # As echo_model/serving/cli.py configures it.
        return [
            *("{python}", "-m", "uvicorn", "--factory", "--host", LOOPBACK),
            *("--port", "{port}", "--loop", "uvloop", "--http", "httptools"),
            *("--timeout-keep-alive", "75", "--log-level", "warning"),
            *("--no-access-log", factory),
        ]
    return [
        *(str(install_granian()), "-m", "granian", "--interface", "asgi"),
        *("--factory", "--host", LOOPBACK, "--port", "{port}", "--workers", "1"),
        *("--loop", "uvloop", "--http", "1", "--log-level", "warning"),
        *("--no-access-log", factory),
    ]


# --- Measuring -------------------------------------------------------------------


@dataclass
class Trial:
    """One app on one server."""

    app: str
    server: str
    v1: RateResult
    invoke: RateResult
    stream_chunks_per_s: float
    stream_client_cpu: float


def _rate(url: str, body: dict[str, Any], seconds: float) -> RateResult:
    """wrk after a one-second warm-up: 2 threads, 32 connections."""
    wrk_invoke(url, body, 1, threads=2, connections=32)
    return wrk_invoke(url, body, seconds, threads=2, connections=32)


def measure(server: Server, app: str, name: str, seconds: float, chars: int) -> Trial:
    """Measure one running server: both request rates and one stream at a time."""
    v1 = _rate(server.url + "/v1/chat/completions", CHAT, seconds)
    invoke = _rate(server.url + "/echo/invoke", INVOKE, seconds)
    body = {**CHAT, "messages": [{"role": "user", "content": "x" * chars}]}
    chunks, cpu = single_openai_stream_rate(
        server.url + "/v1/chat/completions", {**body, "stream": True}
    )
    return Trial(app, name, v1, invoke, chunks, cpu)


# --- What a client sees ------------------------------------------------------------


@dataclass
class Probe:
    """What a client sees of one server: headers, keep-alive, stream flushing."""

    server: str
    headers: dict[str, str]
    stream_headers: dict[str, str]
    reused_connection: bool
    idle_closed_after_s: float | None  # None: still open when the wait ended
    paced_events: int
    paced_spread_ms: float  # first to last event of a paced stream


#: Response headers a client may act on (the rest is per request: date, ids).
SHOWN_HEADERS = (
    "server",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "cache-control",
    "x-accel-buffering",
)


def _shown(headers: httpx.Headers) -> dict[str, str]:
    return {name: headers.get(name, "-") for name in SHOWN_HEADERS}


def _read_response(sock: socket.socket) -> bytes:
    """Read one HTTP/1.1 response with a ``Content-Length`` body from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        if not (more := sock.recv(65536)):
            msg = "the server closed the connection mid-response"
            raise ConnectionError(msg)
        data += more
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return head


def keep_alive(server: Server, idle_s: float) -> tuple[bool, float | None]:
    """Whether one connection serves two requests, and when idle it is closed.

    Returns:
        Whether the second request was answered on the first's connection, and
        the seconds after which the server closed the idle connection (None if
        it was still open after ``idle_s``).
    """
    payload = json.dumps(CHAT).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {LOOPBACK}:{server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
        reused = True
        for _ in range(2):
            try:
                sock.sendall(request)
                _read_response(sock)
            except (ConnectionError, TimeoutError):
                reused = False
        start = time.monotonic()
        sock.settimeout(idle_s)
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
        except ConnectionError:
            closed = True
        return reused, (time.monotonic() - start) if closed else None


def probe(server: Server, name: str, idle_s: float) -> Probe:
    """Send a few requests to ``server`` and note what a client would see."""
    url = server.url + "/v1/chat/completions"
    reply = httpx.post(url, json=CHAT, timeout=10)
    with httpx.stream("POST", url, json={**CHAT, "stream": True}, timeout=10) as stream:
        stream.read()
        stream_headers = _shown(stream.headers)
    # Ten events 50 ms apart: flushed one by one, they arrive over ~450 ms;
    # buffered, at once at the end.
    paced = {
        **CHAT,
        "messages": [{"role": "user", "content": "abcdefghij"}],
        "stream": True,
        "echo": {"token_delay": 0.05},
    }
    result = asyncio.run(read_stream(url, paced, OPENAI_MARKS))
    times = result.event_times
    reused, closed_after = keep_alive(server, idle_s)
    return Probe(
        server=name,
        headers=_shown(reply.headers),
        stream_headers=stream_headers,
        reused_connection=reused,
        idle_closed_after_s=closed_after,
        paced_events=len(times),
        paced_spread_ms=(times[-1] - times[0]) * 1e3 if times else float("nan"),
    )


# --- The run ---------------------------------------------------------------------


@contextlib.contextmanager
def serving(server: str, app: str) -> Iterator[Server]:
    """Run ``app`` on ``server`` until the block exits."""
    with serve(command(server, FACTORIES[app])) as running:
        yield running


def run(
    seconds: float, chars: int, probe_idle_s: float | None
) -> tuple[list[Trial], list[Probe]]:
    """Measure each app on each server in turn, then probe the echo app on each.

    Args:
        seconds: wrk's run length.
        chars: The streamed reply's length.
        probe_idle_s: How long the probe holds an idle connection; None: no
            probe (a figures run).

    Raises:
        RuntimeError: Granian could not be installed or a server did not start.
    """
    install_granian()  # before any timing: the first run installs it
    trials, probes = [], []
    for app in FACTORIES:
        for server in SERVERS:
            print(f"granian_trial: {app} on {server} ...", file=sys.stderr, flush=True)
            with serving(server, app) as running:
                trials.append(measure(running, app, server, seconds, chars))
                if app == "echo" and probe_idle_s is not None:
                    probes.append(probe(running, server, probe_idle_s))
    return trials, probes


def ratios(trials: list[Trial]) -> dict[str, float]:
    """Granian over uvicorn, per app and measure (above 1: Granian was faster)."""
    found: dict[str, float] = {}
    by = {(t.app, t.server): t for t in trials}
    for app in FACTORIES:
        if (app, "uvicorn") not in by or (app, "granian") not in by:
            continue
        uv, gr = by[app, "uvicorn"], by[app, "granian"]
        found[f"{app}.v1_x_uvicorn"] = (
            gr.v1.requests_per_second / uv.v1.requests_per_second
        )
        found[f"{app}.invoke_x_uvicorn"] = (
            gr.invoke.requests_per_second / uv.invoke.requests_per_second
        )
        found[f"{app}.stream_x_uvicorn"] = (
            gr.stream_chunks_per_s / uv.stream_chunks_per_s
        )
    return found


def figures(trials: list[Trial]) -> dict[str, float]:
    """Every figure of the run, by key (without the ``granian.`` prefix)."""
    found: dict[str, float] = {}
    for t in trials:
        key = f"{t.app}.{t.server}"
        found[f"{key}.v1_rps"] = t.v1.requests_per_second
        found[f"{key}.invoke_rps"] = t.invoke.requests_per_second
        found[f"{key}.stream_chunks_per_s"] = t.stream_chunks_per_s
        found[f"{key}.wrk_cores"] = max(t.v1.loadgen_cpu, t.invoke.loadgen_cpu)
    return found | ratios(trials)


def print_report(trials: list[Trial], probes: list[Probe]) -> None:
    """Print the side-by-side table, the ratios and what a client sees."""
    print(
        f"{'app':<6}{'server':<9}{'/v1 req/s':>11}{'wrk cpu':>9}{'invoke req/s':>14}"
        f"{'wrk cpu':>9}{'stream ev/s':>13}{'cli cpu':>9}{'errors':>8}"
    )
    print("-" * 88)
    for t in trials:
        print(
            f"{t.app:<6}{t.server:<9}{t.v1.requests_per_second:>11.0f}"
            f"{t.v1.loadgen_cpu:>9.2f}{t.invoke.requests_per_second:>14.0f}"
            f"{t.invoke.loadgen_cpu:>9.2f}{t.stream_chunks_per_s:>13.0f}"
            f"{t.stream_client_cpu:>9.2f}{t.v1.errors + t.invoke.errors:>8}"
        )
    print("\nGranian / uvicorn (above 1: Granian faster)")
    for key, value in ratios(trials).items():
        print(f"  {key:<24}{value:>6.2f}")
    if not probes:
        return
    print("\nwhat a client sees (echo app)")
    width = 28
    print(f"{'':<{width}}" + "".join(f"{p.server:<34}" for p in probes))
    for name in SHOWN_HEADERS:
        print(
            f"{'reply ' + name:<{width}}"
            + "".join(f"{p.headers[name]:<34}" for p in probes)
        )
    for name in SHOWN_HEADERS:
        print(
            f"{'stream ' + name:<{width}}"
            + "".join(f"{p.stream_headers[name]:<34}" for p in probes)
        )
    rows = {
        "two requests, one conn": [str(p.reused_connection) for p in probes],
        "idle conn closed after": [
            "open at the end"
            if p.idle_closed_after_s is None
            else f"{p.idle_closed_after_s:.1f} s"
            for p in probes
        ],
        "paced stream: events": [str(p.paced_events) for p in probes],
        "paced stream: spread": [f"{p.paced_spread_ms:.0f} ms" for p in probes],
    }
    for label, values in rows.items():
        print(f"{label:<{width}}" + "".join(f"{v:<34}" for v in values))


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the trial and print its report; return its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="wrk run length")
    parser.add_argument("--chars", type=int, default=STREAM_CHARS, help="stream")
    parser.add_argument(
        "--idle", type=float, default=35, help="seconds to hold an idle connection"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    trials, probes = run(args.seconds, args.chars, args.idle)
    print_report(trials, probes)
    return figures(trials)


if __name__ == "__main__":
    main()
