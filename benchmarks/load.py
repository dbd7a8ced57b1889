"""Load generators: wrk for request rates, an asyncio client for SSE streams.

Each reports its own CPU use, so a run can tell whether the load generator,
rather than the server, was the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from tests.support.processes import Server, process_table

_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(server: Server) -> float:
    """CPU seconds (user + system) used so far by the server and its workers.

    Read from /proc: every process in the server's process group, so a
    ``--workers N`` server counts its supervisor and all its workers. The
    difference of two readings around a load run is the server's own CPU,
    apart from the load generator's, which runs on the same machine.
    """
    group = os.getpgid(server.process.pid)
    total = 0
    for entry in process_table():
        if entry.group != group:
            continue
        try:
            fields = Path(f"/proc/{entry.pid}/stat").read_text().rsplit(")", 1)[1]
        except OSError:
            continue
        values = fields.split()
        total += int(values[11]) + int(values[12])  # utime, stime (fields 14, 15)
    return total / _TICKS


@dataclass
class RateResult:
    """What wrk measured."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    loadgen_cpu: float  # cores used by wrk on average (1.0 = one full core)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def wrk_invoke(
    url: str, body: dict[str, Any], seconds: float, threads: int, connections: int
) -> RateResult:
    """POST ``body`` to ``url`` with wrk for ``seconds`` and parse its report."""
    script = f"""
wrk.method = "POST"
wrk.body = '{json.dumps(body)}'
wrk.headers["Content-Type"] = "application/json"
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            lua.name,
            url,
        ]
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
    finally:
        Path(lua.name).unlink()
    if process.returncode != 0:
        msg = f"wrk failed ({process.returncode}):\n{output}"
        raise RuntimeError(msg)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: (.*)", output):
        errors += sum(int(n) for n in re.findall(r"\d+", match.group(1)))
    cpu = (usage.ru_utime + usage.ru_stime) / wall
    return RateResult(rps, p50, p99, errors, cpu)


@dataclass
class StreamResult:
    """One SSE stream as the client saw it."""

    chunks: int = 0
    first_chunk_s: float | None = None
    total_s: float = 0.0
    completed: bool = False
    #: Seconds from the start at which each data event arrived.
    event_times: list[float] = field(default_factory=list)


class StreamError(Exception):
    """The server refused a stream (a status other than 200)."""


class StreamMarks(NamedTuple):
    """The bytes marking a content event and the end of a stream in one protocol."""

    content: bytes
    end: bytes


#: LangServe's ``/stream``: its ``data`` events and its ``end`` event.
LANGSERVE_MARKS = StreamMarks(b"event: data\r\n", b"event: end\r\n")

#: No benchmark stream may take longer: a hung server fails the run.
STREAM_TIMEOUT_S = 120.0


async def read_stream(
    url: str,
    body: dict[str, Any],
    marks: StreamMarks = LANGSERVE_MARKS,
    until_end: bool = False,
) -> StreamResult:
    """POST ``body`` to a streaming URL and time its content events.

    A bare HTTP/1.1 client on an asyncio socket, counting ``marks`` in the
    bytes as they arrive (LangServe's ``/stream`` events by default; OpenAI's
    and Anthropic's in ``openai_bench``): parsing every SSE line with httpx
    took the client most of a core at 35k events/s, as much as the server
    spent producing them, so the client was the bottleneck. One connection per
    stream (``Connection: close``): the server ends the body by closing it.
    With ``until_end``, the stream is over at its end mark instead: a server
    that keeps the connection open in spite of ``Connection: close`` (aimock
    answers ``Connection: keep-alive`` to streams) is not timed until its idle
    timeout. Raises ``TimeoutError`` if the stream takes longer than
    ``STREAM_TIMEOUT_S``.
    """
    keep = max(len(marks.content), len(marks.end)) - 1
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload
    result = StreamResult()
    start = time.perf_counter()
    async with asyncio.timeout(STREAM_TIMEOUT_S):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            if status != b"200":
                msg = f"the server answered {status.decode()}"
                raise StreamError(msg)
            tail = b""
            while data := await reader.read(65536):
                # A marker may straddle two reads: keep the last bytes, shorter
                # than a marker, so none is counted twice.
                window = tail + data
                if found := window.count(marks.content):
                    now = time.perf_counter() - start
                    if result.first_chunk_s is None:
                        result.first_chunk_s = now
                    result.chunks += found
                    result.event_times.extend([now] * found)
                if marks.end in window:
                    result.completed = True
                    if until_end:
                        break
                tail = window[-keep:]
        finally:
            writer.close()
            await writer.wait_closed()
    result.total_s = time.perf_counter() - start
    return result


@dataclass
class ConcurrentResult:
    """Many streams at once, as the client saw them."""

    streams: int
    completed: int
    ttfc_p50_ms: float
    ttfc_p99_ms: float
    completion_s: float
    chunks_per_second: float
    peak_rss_bytes: int
    loadgen_cpu: float
    results: list[StreamResult] = field(default_factory=list, repr=False)


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _concurrent(
    server: Server, path: str, body: dict[str, Any], streams: int
) -> ConcurrentResult:
    peak = server.rss_bytes()
    done = asyncio.Event()

    async def sample_rss() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_bytes())
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample_rss())
    cpu0, start = time.process_time(), time.perf_counter()
    results = await asyncio.gather(
        *(read_stream(server.url + path, body) for _ in range(streams))
    )
    wall = time.perf_counter() - start
    cpu = (time.process_time() - cpu0) / wall
    done.set()
    await sampler
    firsts = [r.first_chunk_s * 1e3 for r in results if r.first_chunk_s is not None]
    return ConcurrentResult(
        streams=streams,
        completed=sum(r.completed for r in results),
        ttfc_p50_ms=_percentile(firsts, 50),
        ttfc_p99_ms=_percentile(firsts, 99),
        completion_s=wall,
        chunks_per_second=sum(r.chunks for r in results) / wall,
        peak_rss_bytes=peak,
        loadgen_cpu=cpu,
        results=results,
    )


def concurrent_streams(
    server: Server, path: str, body: dict[str, Any], streams: int
) -> ConcurrentResult:
    """Open ``streams`` streams at once and report first-chunk times and RSS."""
    return asyncio.run(_concurrent(server, path, body, streams))


async def _held(
    server: Server, path: str, body: dict[str, Any], streams: int, sample_after: float
) -> int:
    tasks = [
        asyncio.create_task(read_stream(server.url + path, body))
        for _ in range(streams)
    ]
    await asyncio.sleep(sample_after)
    rss = server.rss_bytes()
    await asyncio.gather(*tasks)
    return rss


def held_streams_rss(
    server: Server, path: str, body: dict[str, Any], streams: int, sample_after: float
) -> int:
    """Open ``streams`` streams that wait before their first chunk; return the RSS.

    ``body`` must make the server hold each stream open (a first-token delay
    longer than ``sample_after``), so the RSS is that of open, waiting streams.
    """
    return asyncio.run(_held(server, path, body, streams, sample_after))


async def _sequential(
    server: Server, path: str, body: dict[str, Any], repeats: int
) -> tuple[float, float]:
    rates, cpu0, start = [], time.process_time(), time.perf_counter()
    for _ in range(repeats):
        result = await read_stream(server.url + path, body)
        rates.append(result.chunks / result.total_s)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - start)
    return statistics.median(rates), cpu


def single_stream_rate(
    server: Server, path: str, body: dict[str, Any], repeats: int = 5
) -> tuple[float, float]:
    """Return the median chunks/s of one stream at a time, and the client's CPU."""
    return asyncio.run(_sequential(server, path, body, repeats))
