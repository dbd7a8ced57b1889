"""Memory per stream, read from /proc: ``python -m benchmarks.memory_bench``.

``server_bench`` reports two memory figures for LangServe's ``/echo/stream``
(64 streams open before their first chunk; 64 unpaced 1000-chunk streams at
their peak). This script measures the same two costs with more streams and
on ``/v1/chat/completions`` too, the route most load tools use, on one
``python server.py`` worker started here (the resident set of its process, as
``/proc/PID/status`` gives it), in this order:

- **idle**: the server's RSS after one 1000-chunk stream has warmed it up;
- **per idle stream**: ``N`` streams opened at once with a long first-token
  delay, so they sit open and waiting; (RSS while they wait - idle) / N,
  with the server's own ``vllm:num_requests_running`` saying how many it held;
- **one 1000-chunk stream**: the growth of the RSS (its peak, sampled every
  20 ms) while one paced 1000-chunk stream runs alone;
- **per 1000-chunk stream held open**: ``M`` paced 1000-chunk streams at once,
  (peak RSS - idle) / M;
- **retained**: the RSS after all of that has ended, less idle (memory not
  handed back; not necessarily a leak: allocators keep freed pages).

RSS moves by pages and by allocator arenas, so the per-stream figures hold
for many streams, not for one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.load import LANGSERVE_MARKS, StreamMarks, read_stream
from benchmarks.pacing_bench import V1_MARKS, scrape
from tests.support.processes import Server, serve

ECHO = ["{python}", "server.py", "--port", "{port}", "--log-level", "warning"]
MIB = 2**20
#: Seconds an idle stream waits for its first token (within the server's limit).
IDLE_HOLD_S = 4.0
#: When the RSS of the idle streams is read: all open, none started.
IDLE_SAMPLE_S = 2.0
#: The pace of the 1000-chunk streams: slow enough to sample, quick to run.
LONG_TOKEN_DELAY_S = 0.003
SAMPLE_EVERY_S = 0.02


@dataclass(frozen=True)
class Route:
    """A streaming route, how to ask it for a reply, and its stream's marks."""

    name: str
    path: str
    marks: StreamMarks
    body: Callable[[str, dict[str, float]], dict[str, Any]]


def _v1_body(text: str, pace: dict[str, float]) -> dict[str, Any]:
    return {
        "model": "echo",
        "messages": [{"role": "user", "content": text}],
        "stream": True,
        "echo": pace,
    }


def _langserve_body(text: str, pace: dict[str, float]) -> dict[str, Any]:
    return {"input": text, "config": {"configurable": pace}}


ROUTES = [
    Route("v1", "/v1/chat/completions", V1_MARKS, _v1_body),
    Route("langserve", "/echo/stream", LANGSERVE_MARKS, _langserve_body),
]


def per_stream_mib(before: int, during: int, streams: int) -> float:
    """RSS growth per stream, in MiB: (during - before) / streams, never < 0.

    A negative difference (the allocator handed pages back meanwhile) counts
    as no growth rather than as a saving.
    """
    if streams < 1:
        msg = f"streams must be at least 1, not {streams}"
        raise ValueError(msg)
    return max(during - before, 0) / streams / MIB


@dataclass(frozen=True)
class Memory:
    """One route's memory figures (RSS in bytes, as read from /proc)."""

    route: str
    idle_rss: int
    idle_streams: int
    #: Streams the server reported running or waiting when the RSS was read.
    idle_open: int
    idle_streams_rss: int
    one_stream_before: int
    one_stream_peak: int
    long_streams: int
    long_streams_peak: int
    after_rss: int

    @property
    def idle_mib(self) -> float:
        return self.idle_rss / MIB

    @property
    def per_idle_stream_kib(self) -> float:
        """RSS per stream open and waiting for its first token, in KiB."""
        per = per_stream_mib(self.idle_rss, self.idle_streams_rss, self.idle_streams)
        return per * 1024

    @property
    def one_stream_growth_mib(self) -> float:
        """RSS growth while one 1000-chunk stream runs alone."""
        return per_stream_mib(self.one_stream_before, self.one_stream_peak, 1)

    @property
    def per_long_stream_mib(self) -> float:
        """Peak RSS per 1000-chunk stream, ``long_streams`` held open at once."""
        return per_stream_mib(self.idle_rss, self.long_streams_peak, self.long_streams)

    @property
    def retained_mib(self) -> float:
        """RSS kept after every stream ended, over idle (may be negative)."""
        return (self.after_rss - self.idle_rss) / MIB


async def _streams_peak(
    server: Server, url: str, body: dict[str, Any], count: int, marks: StreamMarks
) -> int:
    """Run ``count`` streams at once; return the peak RSS sampled meanwhile."""
    peak = server.rss_bytes()
    tasks = [asyncio.create_task(read_stream(url, body, marks)) for _ in range(count)]
    while not all(task.done() for task in tasks):
        peak = max(peak, server.rss_bytes())
        await asyncio.sleep(SAMPLE_EVERY_S)
    for task in tasks:
        result = task.result()
        if not result.completed:
            msg = f"a stream on {url} did not complete"
            raise RuntimeError(msg)
    return peak


async def _idle_streams(
    server: Server, url: str, body: dict[str, Any], count: int, marks: StreamMarks
) -> tuple[int, int]:
    """Open ``count`` waiting streams; return the RSS and how many were open."""
    tasks = [asyncio.create_task(read_stream(url, body, marks)) for _ in range(count)]
    await asyncio.sleep(IDLE_SAMPLE_S)
    rss = server.rss_bytes()
    metrics = await asyncio.to_thread(scrape, server)
    open_now = metrics.get("vllm:num_requests_running", 0.0) + metrics.get(
        "vllm:num_requests_waiting", 0.0
    )
    await asyncio.gather(*tasks)
    return rss, int(open_now)


def _settled_rss(server: Server) -> int:
    # Let the loop finish closing connections and freeing what they held.
    time.sleep(0.5)
    return server.rss_bytes()


def measure(
    route: Route,
    idle_streams: int,
    long_streams: int,
    chars: int = 1000,
    hold: float = IDLE_HOLD_S,
) -> Memory:
    """Start a one-worker server and measure ``route``'s memory figures.

    Args:
        route: The route measured.
        idle_streams: Streams held open, waiting for their first token.
        long_streams: Paced long streams run at once.
        chars: The long streams' length (1000 for the figures).
        hold: Seconds the idle streams wait for their first token.
    """
    text = "x" * chars
    paced = {"token_delay": LONG_TOKEN_DELAY_S}
    held = {"first_token_delay": hold}
    with serve([*ECHO, "--workers", "1"]) as server:
        url = server.url + route.path
        asyncio.run(_streams_peak(server, url, route.body(text, {}), 1, route.marks))
        idle = _settled_rss(server)
        idle_rss, idle_open = asyncio.run(
            _idle_streams(server, url, route.body("x", held), idle_streams, route.marks)
        )
        before = _settled_rss(server)
        one_peak = asyncio.run(
            _streams_peak(server, url, route.body(text, paced), 1, route.marks)
        )
        long_peak = asyncio.run(
            _streams_peak(
                server, url, route.body(text, paced), long_streams, route.marks
            )
        )
        after = _settled_rss(server)
    return Memory(
        route=route.name,
        idle_rss=idle,
        idle_streams=idle_streams,
        idle_open=idle_open,
        idle_streams_rss=idle_rss,
        one_stream_before=before,
        one_stream_peak=one_peak,
        long_streams=long_streams,
        long_streams_peak=long_peak,
        after_rss=after,
    )


HEADER = (
    f"{'route':<11}{'idle':>8}{'idle':>12}{'per idle':>10}{'one 1000-':>11}"
    f"{'per 1000-ch':>13}{'retained':>10}\n"
    f"{'':<11}{'MiB':>8}{'open/asked':>12}{'KiB':>10}{'ch MiB':>11}"
    f"{'held, MiB':>13}{'MiB':>10}"
)


def row(memory: Memory) -> str:
    """One line of the report."""
    return (
        f"{memory.route:<11}{memory.idle_mib:>8.1f}"
        f"{f'{memory.idle_open}/{memory.idle_streams}':>12}"
        f"{memory.per_idle_stream_kib:>10.1f}{memory.one_stream_growth_mib:>11.2f}"
        f"{memory.per_long_stream_mib:>13.3f}{memory.retained_mib:>10.1f}"
    )


def run(idle_streams: int = 200, long_streams: int = 32) -> list[Memory]:
    """Measure every route and print the report."""
    print(
        f"\n== memory: {idle_streams} idle streams, one and {long_streams}"
        " paced 1000-chunk streams, one worker =="
    )
    print(HEADER)
    measured = []
    for route in ROUTES:
        memory = measure(route, idle_streams, long_streams)
        print(row(memory))
        sys.stdout.flush()
        measured.append(memory)
    return measured


def main(argv: Sequence[str] | None = None) -> list[Memory]:
    """Run the memory benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-streams", type=int, default=200)
    parser.add_argument("--long-streams", type=int, default=32)
    args = parser.parse_args(argv)
    return run(args.idle_streams, args.long_streams)


if __name__ == "__main__":
    main()
