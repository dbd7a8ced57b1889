"""Vendor-protocol benchmark: every vendor route beside the limit and the peers.

Run: ``python -m benchmarks.openai_bench`` (needs ``wrk``; the PyPI peers are
installed into virtualenvs under the temp dir on first use, aimock with
``npm ci`` in ``benchmarks/peers/aimock``).

One server process each, in turn, on 127.0.0.1:

- ``bare``: FastAPI on uvicorn returning the same ``chat.completion`` body
  (the limit);
- ``echo ROUTE``: this server (one uvicorn worker) on every vendor route:
  OpenAI's ``/v1/chat/completions`` (``/v1``), ``/v1/responses`` and
  ``/v1/embeddings`` (one short input), Anthropic's ``/v1/messages``,
  Ollama's ``/api/chat`` and ``/api/generate`` (NDJSON streams), and
  LangServe's ``/echo/invoke``;
- ``aimock ROUTE``: CopilotKit's aimock (Node, one process) on the same
  routes, answering the same requests with the same text from the fixtures in
  ``benchmarks/peers/aimock/fixtures`` (one character a chunk, no latency);
- ``llmock``, ``fakellm``, ``mockllm``: Python mock OpenAI servers from PyPI,
  started with zero latency, on ``/v1/chat/completions`` only.

A peer that cannot be installed or started is skipped, saying why.
Non-streamed requests/s come from wrk; streams from an asyncio client that
counts content events in the bytes. Every load generator reports the cores it
used, so a run shows whether it, not the server, was the bottleneck. The
report gives ratios from this one run, which hold on a shared machine where
absolute numbers do not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import Body, FastAPI

from benchmarks.load import (
    RateResult,
    StreamMarks,
    StreamResult,
    read_stream,
    single_stream_rate,
    wrk_invoke,
)
from benchmarks.results import Check
from echo_model.embeddings import embed_text
from tests.support.processes import (
    Server,
    free_port,
    serve,
    stop_process_group,
)

PEERS_DIR = Path(tempfile.gettempdir()) / "echo-model-openai-bench"
FAST = ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
OURS = ["{python}", "server.py", "--port", "{port}", "--log-level", "warning"]


def _chat(text: str, **extra: Any) -> dict[str, Any]:
    """A chat request (OpenAI's, Anthropic's and Ollama's shape) with one user turn."""
    return {"model": "echo", "messages": [{"role": "user", "content": text}], **extra}


CHAT = _chat("hello")
MESSAGES = {**CHAT, "max_tokens": 1000}  # Anthropic's request: max_tokens required
RESPONSES = {"model": "echo", "input": "hello"}
#: The dimensions are said, so that aimock answers a vector of our size.
EMBED_DIMENSIONS = 512
EMBEDDINGS = {"model": "echo", "input": "hello", "dimensions": EMBED_DIMENSIONS}
GENERATE = {"model": "echo", "prompt": "hello", "stream": False}
#: The streamed reply's length by default; aimock's committed fixture answers it.
STREAM_CHARS = 1000

#: The reply of this server to ``CHAT`` (id and time fixed): what bare returns.
BARE_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-0123456789abcdef0123456789abcdef",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "echo",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "hello",
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 5,
        "completion_tokens": 5,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_echo_0.1.0",
}


def bare_app() -> FastAPI:
    """Return the limit: FastAPI parsing the request and returning the body."""
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def completions(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return BARE_COMPLETION

    return app


# --- Peers: installed in their own virtualenvs, started with zero latency ------


@dataclass(frozen=True)
class Peer:
    """A mock OpenAI server from PyPI and how to start it with no latency."""

    name: str
    args: list[str]  # after the console script; {port} filled in
    files: dict[str, str] = field(default_factory=dict)  # written to its cwd


PEERS = [
    # llmock/cli.py: latency and chunk delay default to 0; set them anyway.
    Peer(
        "llmock",
        [
            *("serve", "--host", "127.0.0.1", "--port", "{port}"),
            *("--latency-ms", "0", "--stream-chunk-delay-ms", "0"),
            *("--log-level", "warning"),
        ],
    ),
    # fakellm/cli.py: `serve` needs a config; its fallback is a plain echo.
    # (Its streams sleep 10 ms per word, hard-coded: not compared on streams.)
    Peer(
        "fakellm",
        ["serve", "--host", "127.0.0.1", "--port", "{port}", "--config", "f.yaml"],
        {"f.yaml": "version: 1\ndefaults:\n  fallback: deterministic_echo\n"},
    ),
    # mockllm/cli.py: `start` binds 0.0.0.0 unless told; lag is off by default
    # (settings.lag_enabled) and set off here. Its CLI always runs uvicorn's
    # reloader (a flag defaulting to True), as its users get it.
    Peer(
        "mockllm",
        ["start", "--host", "127.0.0.1", "--port", "{port}", "-r", "r.yml"],
        {
            "r.yml": "responses: {}\ndefaults:\n  unknown_response: hello\n"
            "settings:\n  lag_enabled: false\n"
        },
    ),
]


def install_peer(peer: Peer) -> Path:
    """Return the peer's console script, installing it in its venv if needed."""
    venv = PEERS_DIR / peer.name
    script = venv / "bin" / peer.name
    if not script.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", peer.name],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return script


@contextlib.contextmanager
def serve_peer(peer: Peer, timeout: float = 60.0) -> Iterator[Server]:
    """Run ``peer`` until the block exits; ready once it answers a completion."""
    script = install_peer(peer)
    cwd = PEERS_DIR / peer.name / "run"
    cwd.mkdir(exist_ok=True)
    for name, text in peer.files.items():
        (cwd / name).write_text(text)
    port = free_port()
    argv = [str(script), *(a.format(port=port) for a in peer.args)]
    with _serve_until_answered(peer.name, argv, cwd, port, timeout) as server:
        yield server


@contextlib.contextmanager
def _serve_until_answered(
    name: str, argv: list[str], cwd: Path, port: int, timeout: float
) -> Iterator[Server]:
    """Run ``argv`` in ``cwd``; ready once it answers ``CHAT`` with a 200.

    Its output goes to ``cwd/NAME.log``, whose end a failure to start quotes.
    """
    log_path = cwd / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, cwd=cwd, stdout=log, stderr=log, start_new_session=True
        )
    server = Server(process, port)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                said = log_path.read_text(errors="replace")[-500:].strip()
                msg = f"{name} exited with {process.returncode}: {said}"
                raise RuntimeError(msg)
            with contextlib.suppress(httpx.TransportError):
                url = server.url + "/v1/chat/completions"
                if httpx.post(url, json=CHAT, timeout=1.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                msg = f"{name} did not answer in {timeout}s"
                raise RuntimeError(msg)
            time.sleep(0.1)
        yield server
    finally:
        stop_process_group(process)


# --- aimock: CopilotKit's mock server (Node), pinned in benchmarks/peers/aimock -

AIMOCK_DIR = Path(__file__).resolve().parent / "peers" / "aimock"
#: The committed fixtures: ``aimock_fixtures(STREAM_CHARS)``, written out.
AIMOCK_FIXTURES = AIMOCK_DIR / "fixtures"


def aimock_fixtures(chars: int) -> dict[str, Any]:
    """aimock's fixtures answering the benchmark's requests as this server does.

    The echo of ``hello`` on every chat route, the echo of ``chars`` x's (the
    stream the benchmark reads), both one character a chunk with no latency,
    and our embedding of ``hello``. Embeddings first: aimock tries fixtures in
    order, and its ``userMessage`` and ``inputText`` match as substrings.

    Args:
        chars: The length of the streamed reply.
    """
    chat = {"chunkSize": 1, "latency": 0}
    long_text = "x" * chars
    return {
        "fixtures": [
            {
                "match": {"inputText": "hello"},
                "response": {"embedding": embed_text("hello", EMBED_DIMENSIONS)},
            },
            {
                "match": {"userMessage": "hello"},
                "response": {"content": "hello"},
                **chat,
            },
            {
                "match": {"userMessage": long_text},
                "response": {"content": long_text},
                **chat,
            },
        ]
    }


def aimock_fixture_dir(chars: int) -> Path:
    """The fixture folder for a ``chars``-long stream: the committed one if it fits.

    Another length (a quick run's) gets its fixtures written under the temp dir.
    """
    if chars == STREAM_CHARS:
        return AIMOCK_FIXTURES
    directory = PEERS_DIR / f"aimock-fixtures-{chars}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bench.json").write_text(json.dumps(aimock_fixtures(chars)))
    return directory


def install_aimock() -> Path:
    """Return aimock's ``llmock`` script, running ``npm ci`` first if it is missing.

    Raises:
        RuntimeError: Node or npm is missing, or ``npm ci`` failed.
    """
    script = AIMOCK_DIR / "node_modules" / ".bin" / "llmock"
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        msg = "node and npm are needed (aimock 1.43 wants Node >= 20.15)"
        raise RuntimeError(msg)
    # `npm ci`: exactly the committed package-lock.json, nothing resolved anew.
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=AIMOCK_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not script.exists():
        msg = f"npm ci failed ({done.returncode}): {done.stderr[-500:].strip()}"
        raise RuntimeError(msg)
    return script


@contextlib.contextmanager
def serve_aimock(chars: int, timeout: float = 60.0) -> Iterator[Server]:
    """Run aimock on the fixtures for a ``chars``-long stream until the block exits.

    Raises:
        RuntimeError: aimock cannot be installed, or did not start.
    """
    script = install_aimock()
    fixtures = aimock_fixture_dir(chars)
    port = free_port()
    # llmock is aimock's plain server (bin `llmock`, dist/cli.js); `aimock` is
    # its config-file front end. Log level warn: no line per request, as
    # every request here matches a fixture.
    argv = [
        *(str(script), "-p", str(port), "-h", "127.0.0.1", "-f", str(fixtures)),
        *("--log-level", "warn"),
    ]
    cwd = PEERS_DIR / "aimock-run"
    cwd.mkdir(parents=True, exist_ok=True)
    with _serve_until_answered("aimock", argv, cwd, port, timeout) as server:
        yield server


# --- OpenAI streams --------------------------------------------------------------

#: What a content chunk and a stream's end look like: OpenAI's, Anthropic's.
OPENAI_MARKS = StreamMarks(b'"delta":{"content":', b"data: [DONE]")
ANTHROPIC_MARKS = StreamMarks(b'"type":"text_delta"', b"event: message_stop")
OLLAMA_MARKS = StreamMarks(b'"done":false}', b'"done":true')
RESPONSES_MARKS = StreamMarks(
    b"event: response.output_text.delta", b"event: response.completed"
)


@dataclass
class StreamsResult:
    """Many OpenAI streams at once, as the client saw them."""

    streams: int
    completed: int
    chunks: int
    ttfc_p50_ms: float
    ttfc_p99_ms: float
    seconds: float
    client_cpu: float


async def _one_at_a_time(
    url: str, body: dict[str, Any], repeats: int, marks: StreamMarks
) -> list[float]:
    rates = []
    for _ in range(repeats):
        result = await read_stream(url, body, marks, until_end=True)
        rates.append(result.chunks / result.total_s)
    return rates


def single_openai_stream_rate(
    url: str,
    body: dict[str, Any],
    repeats: int = 5,
    marks: StreamMarks = OPENAI_MARKS,
) -> tuple[float, float]:
    """Return the median chunks/s of one stream at a time, and the client's CPU."""
    cpu0, start = time.process_time(), time.perf_counter()
    rates = asyncio.run(_one_at_a_time(url, body, repeats, marks))
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - start)
    return statistics.median(rates), cpu


def concurrent_openai_streams(
    url: str,
    body: dict[str, Any],
    streams: int,
    marks: StreamMarks = OPENAI_MARKS,
) -> StreamsResult:
    """Open ``streams`` streams at once; report completions and first-chunk times."""

    async def run() -> list[StreamResult]:
        return await asyncio.gather(
            *(read_stream(url, body, marks, until_end=True) for _ in range(streams))
        )

    cpu0, start = time.process_time(), time.perf_counter()
    results = asyncio.run(run())
    wall = time.perf_counter() - start
    firsts = sorted(r.first_chunk_s * 1e3 for r in results if r.first_chunk_s)
    return StreamsResult(
        streams=streams,
        completed=sum(r.completed for r in results),
        chunks=sum(r.chunks for r in results),
        ttfc_p50_ms=_percentile(firsts, 50),
        ttfc_p99_ms=_percentile(firsts, 99),
        seconds=wall,
        client_cpu=(time.process_time() - cpu0) / wall,
    )


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- The run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A vendor route, measured the same way on every server that serves it."""

    label: str  # the row's name after the server's
    path: str
    body: dict[str, Any]  # the non-streamed request wrk sends
    #: The streamed request echoing a text, and its protocol's stream marks
    #: (none: the route does not stream).
    stream_body: Callable[[str], dict[str, Any]] | None = None
    marks: StreamMarks | None = None


ROUTES = [
    Route(
        "/v1",
        "/v1/chat/completions",
        CHAT,
        lambda text: _chat(text, stream=True),
        OPENAI_MARKS,
    ),
    Route(
        "/v1/messages",
        "/v1/messages",
        MESSAGES,
        lambda text: _chat(text, stream=True, max_tokens=len(text)),
        ANTHROPIC_MARKS,
    ),
    Route(
        "/v1/responses",
        "/v1/responses",
        RESPONSES,
        lambda text: {"model": "echo", "input": text, "stream": True},
        RESPONSES_MARKS,
    ),
    Route("/v1/embeddings", "/v1/embeddings", EMBEDDINGS),
    Route(
        "/api/chat",
        "/api/chat",
        {**CHAT, "stream": False},  # Ollama streams unless told not to
        lambda text: _chat(text, stream=True),
        OLLAMA_MARKS,
    ),
    Route(
        "/api/generate",
        "/api/generate",
        GENERATE,
        lambda text: {"model": "echo", "prompt": text, "stream": True},
        OLLAMA_MARKS,
    ),
]


@dataclass
class Row:
    """What was measured for one server on one route."""

    name: str
    rate: RateResult | None = None
    stream_chunks_per_s: float | None = None
    stream_client_cpu: float | None = None
    streams: StreamsResult | None = None
    skipped: str | None = None


def measure_rate(url: str, body: dict[str, Any], seconds: float) -> RateResult:
    """wrk after a one-second warm-up: 2 threads, 32 connections."""
    wrk_invoke(url, body, 1, threads=2, connections=32)
    return wrk_invoke(url, body, seconds, threads=2, connections=32)


def measure_route(
    server: str, base_url: str, route: Route, seconds: float, streams: int, chars: int
) -> Row:
    """Measure ``route`` on the server at ``base_url``: wrk, then its streams.

    Args:
        server: The server's name, the row's first word.
        base_url: The server's root URL.
        route: The route and its requests.
        seconds: wrk's run length.
        streams: How many streams to open at once.
        chars: The streamed reply's length.
    """
    url = base_url + route.path
    row = Row(f"{server} {route.label}", measure_rate(url, route.body, seconds))
    if route.stream_body is not None and route.marks is not None:
        body = route.stream_body("x" * chars)
        row.stream_chunks_per_s, row.stream_client_cpu = single_openai_stream_rate(
            url, body, marks=route.marks
        )
        row.streams = concurrent_openai_streams(url, body, streams, route.marks)
    return row


def run(
    seconds: float, streams: int, chars: int, peers: bool, aimock: bool = True
) -> list[Row]:
    """Measure every server in turn; return one row per server and route.

    Args:
        seconds: wrk's run length per row.
        streams: How many streams to open at once on each streaming route.
        chars: The streamed reply's length.
        peers: Measure the PyPI peers (installed on first use).
        aimock: Measure aimock on every route (installed on first use).
    """
    rows = []
    _log("bare")
    with serve(["{python}", "-m", "uvicorn", "--factory", "--port", "{port}", *FAST,
                "benchmarks.openai_bench:bare_app"]) as bare:  # fmt: skip
        rows.append(
            Row("bare", measure_rate(bare.url + "/v1/chat/completions", CHAT, seconds))
        )
    _log("echo-model")
    with serve(OURS) as ours:
        for route in ROUTES:
            rows.append(measure_route("echo", ours.url, route, seconds, streams, chars))
        langserve = Row(
            "echo langserve",
            measure_rate(ours.url + "/echo/invoke", {"input": "hello"}, seconds),
        )
        langserve.stream_chunks_per_s, langserve.stream_client_cpu = single_stream_rate(
            ours, "/echo/stream", {"input": "x" * chars}
        )
        rows.append(langserve)
    if aimock:
        _log("aimock")
        try:
            with serve_aimock(chars) as server:
                for route in ROUTES:
                    rows.append(
                        measure_route(
                            "aimock", server.url, route, seconds, streams, chars
                        )
                    )
        except (RuntimeError, subprocess.SubprocessError, OSError) as error:
            rows.append(Row("aimock", skipped=f"{type(error).__name__}: {error}"))
    for peer in PEERS if peers else []:
        _log(peer.name)
        try:
            with serve_peer(peer) as server:
                url = server.url + "/v1/chat/completions"
                rows.append(Row(peer.name, measure_rate(url, CHAT, seconds)))
        except (RuntimeError, subprocess.SubprocessError, OSError) as error:
            rows.append(Row(peer.name, skipped=f"{type(error).__name__}: {error}"))
    return rows


def versus_aimock(rows: list[Row]) -> dict[str, tuple[float | None, float | None]]:
    """This server against aimock, route by route: (req/s ratio, chunks/s ratio).

    A ratio is ``None`` where a side lacks the figure (a route that does not
    stream); a route aimock was not measured on is left out.
    """
    by_name = {r.name: r for r in rows}
    ratios: dict[str, tuple[float | None, float | None]] = {}
    for route in ROUTES:
        ours = by_name.get(f"echo {route.label}")
        peer = by_name.get(f"aimock {route.label}")
        if ours is None or peer is None or ours.rate is None or peer.rate is None:
            continue
        rps = ours.rate.requests_per_second / peer.rate.requests_per_second
        chunks = None
        if ours.stream_chunks_per_s and peer.stream_chunks_per_s:
            chunks = ours.stream_chunks_per_s / peer.stream_chunks_per_s
        ratios[route.label] = (rps, chunks)
    return ratios


def checks(rows: list[Row]) -> list[Check]:
    """Compare the run with the targets (ratios from this one run)."""
    by_name = {r.name: r for r in rows}
    v1, bare, langserve = (
        by_name["echo /v1"],
        by_name["bare"],
        by_name["echo langserve"],
    )
    assert v1.rate
    assert bare.rate
    assert v1.streams
    rps = v1.rate.requests_per_second
    result = [
        Check(
            "/v1 req/s vs bare",
            rps / bare.rate.requests_per_second,
            ">= 0.5x",
            rps >= 0.5 * bare.rate.requests_per_second,
        )
    ]
    peer_rates = [r.rate.requests_per_second for r in rows if r.name in
                  {p.name for p in PEERS} and r.rate]  # fmt: skip
    if peer_rates:
        result.append(
            Check(
                "/v1 req/s vs fastest peer",
                rps / max(peer_rates),
                "> 1x",
                rps > max(peer_rates),
            )
        )
    # aimock (Node) is the fastest mock server measured here.
    rps_x, chunks_x = versus_aimock(rows).get("/v1", (None, None))
    if rps_x is not None:
        result.append(Check("/v1 req/s vs aimock", rps_x, "> 1x", rps_x > 1))
    if chunks_x is not None:
        result.append(Check("/v1 chunks/s vs aimock", chunks_x, "> 1x", chunks_x > 1))
    stream = (v1.stream_chunks_per_s or 0) / (langserve.stream_chunks_per_s or 1)
    if (ollama := by_name.get("echo /api/chat")) is not None and ollama.rate:
        ratio = ollama.rate.requests_per_second / rps
        chunks = (ollama.stream_chunks_per_s or 0) / (v1.stream_chunks_per_s or 1)
        result += [
            Check("/api/chat req/s vs /v1", ratio, ">= 0.9x", ratio >= 0.9),
            Check("/api/chat chunks/s vs /v1", chunks, ">= 0.9x", chunks >= 0.9),
        ]
    result += [
        Check("stream chunks/s vs langserve", stream, ">= 2x", stream >= 2),
        Check(
            f"{v1.streams.streams} streams completed",
            v1.streams.completed,
            f"== {v1.streams.streams}",
            v1.streams.completed == v1.streams.streams,
        ),
        Check(
            "first chunk p99 (ms)",
            v1.streams.ttfc_p99_ms,
            "<= 50",
            v1.streams.ttfc_p99_ms <= 50,
        ),
    ]
    return result


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(rows: list[Row], results: list[Check]) -> None:
    """Print the side-by-side table, aimock's ratios, skipped peers and targets."""
    bare = next(r for r in rows if r.name == "bare").rate
    assert bare is not None
    print(
        f"{'server':<24}{'req/s':>8}{'x bare':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'wrk cpu':>8}{'chunk/s':>9}{'cli cpu':>8}"
        f"{'done':>6}{'TTFC50':>8}{'TTFC99':>8}{'cli cpu':>8}"
    )
    print("-" * 113)
    for row in rows:
        if row.rate is None:
            continue
        s = row.streams
        print(
            f"{row.name:<24}{row.rate.requests_per_second:>8.0f}"
            f"{row.rate.requests_per_second / bare.requests_per_second:>8.2f}"
            f"{row.rate.p50_ms:>8.1f}{row.rate.p99_ms:>8.1f}"
            f"{row.rate.loadgen_cpu:>8.2f}"
            f"{_fmt(row.stream_chunks_per_s, '.0f'):>9}"
            f"{_fmt(row.stream_client_cpu, '.2f'):>8}"
            f"{_fmt(s and s.completed, '.0f'):>6}"
            f"{_fmt(s and s.ttfc_p50_ms, '.1f'):>8}"
            f"{_fmt(s and s.ttfc_p99_ms, '.1f'):>8}"
            f"{_fmt(s and s.client_cpu, '.2f'):>8}"
        )
    print(
        "\nwrk cpu / cli cpu: cores the load generator used (1.00 = one core of"
        f" {os.cpu_count()}); chunk/s: one stream at a time; done, TTFC: the"
        " concurrent streams, first content chunk in ms"
    )
    if ratios := versus_aimock(rows):
        print(f"\n{'route':<18}{'req/s x aimock':>16}{'chunk/s x aimock':>18}")
        for label, (rps_x, chunks_x) in ratios.items():
            print(f"{label:<18}{_fmt(rps_x, '.2f'):>16}{_fmt(chunks_x, '.2f'):>18}")
    for row in rows:
        if row.skipped:
            print(f"skipped {row.name}: {row.skipped}")
    errors = {r.name: r.rate.errors for r in rows if r.rate and r.rate.errors}
    print(f"errors during load: {errors or 'none'}\n")
    print(f"{'target':<30}{'this run':>10}  {'goal':<10}")
    for check in results:
        mark = "met" if check.met else "NOT met"
        print(f"{check.name:<30}{check.value:>10.2f}  {check.goal:<10}{mark}")


def _log(name: str) -> None:
    print(f"measuring {name} ...", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    """Run the benchmark and print its report; return the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="wrk run length")
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--chars", type=int, default=1000, help="streamed reply")
    parser.add_argument(
        "--no-peers", action="store_true", help="skip the peers, aimock included"
    )
    parser.add_argument(
        "--no-pypi-peers", action="store_true", help="skip the PyPI peers only"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    rows = run(
        args.seconds,
        args.streams,
        args.chars,
        peers=not (args.no_peers or args.no_pypi_peers),
        aimock=not args.no_peers,
    )
    print_report(rows, checks(rows))
    return rows


if __name__ == "__main__":
    main()
