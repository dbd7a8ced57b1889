"""Server benchmark: this project's server beside the limit and the peers, one run.

Run: ``python -m benchmarks.server_bench`` (needs ``wrk``: ``apt-get install wrk``).
Every server runs on 127.0.0.1 in turn on the same machine; the report gives
ratios, which hold on a shared, noisy machine where absolute numbers do not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.load import (
    ConcurrentResult,
    RateResult,
    concurrent_streams,
    held_streams_rss,
    server_cpu_seconds,
    single_stream_rate,
    wrk_invoke,
)
from benchmarks.results import Check
from tests.support.processes import serve

RESULTS = Path(__file__).resolve().parent / "results"
UVICORN = ["{python}", "-m", "uvicorn", "--factory", "--port", "{port}"]
FAST = ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
INVOKE_BODY = {"input": "hello"}
ECHO_1000 = {"input": "x" * 1000}


@dataclass(frozen=True)
class Target:
    """A server to measure and how to talk to it."""

    name: str
    command: list[str]
    stream_path: str | None = "/echo/stream"
    stream_body: dict[str, Any] | None = None
    #: A stream body that keeps the stream open, waiting (only our model can).
    held_body: dict[str, Any] | None = None


TARGETS = [
    Target("bare", [*UVICORN, *FAST, "benchmarks.apps:bare_app"], stream_path=None),
    Target(
        "bare x2",
        [*UVICORN, *FAST, "--workers", "2", "benchmarks.apps:bare_app"],
        stream_path=None,
    ),
    Target(
        "echo-model",
        ["{python}", "server.py", "--port", "{port}", "--log-level", "warning"],
        stream_body=ECHO_1000,
        held_body={**ECHO_1000, "config": {"configurable": {"first_token_delay": 2}}},
    ),
    Target(
        "echo-model x2",
        [
            "{python}",
            "server.py",
            "--port",
            "{port}",
            "--log-level",
            "warning",
            "--workers",
            "2",
        ],
        stream_path=None,
    ),
    Target(
        "guide",
        [*UVICORN, *FAST, "benchmarks.apps:guide_app"],
        stream_body=ECHO_1000,
    ),
    Target(
        "floor",
        [*UVICORN, *FAST, "benchmarks.apps:floor_app"],
        stream_path=None,
    ),
    Target(
        "fake",
        [*UVICORN, *FAST, "benchmarks.apps:fake_app"],
        stream_path="/long/stream",
        stream_body=INVOKE_BODY,
    ),
]


@dataclass
class Measured:
    """Everything measured for one target."""

    invoke: RateResult
    idle_rss_mib: float
    #: Cores the server (all its processes) used during the invoke run.
    server_cores: float = 0.0
    #: The server's CPU per invoke, in ms: what a request costs, whatever
    #: the load generator beside it took.
    server_cpu_ms_per_request: float = 0.0
    stream_chunks_per_second: float | None = None
    stream_loadgen_cpu: float | None = None
    concurrent: ConcurrentResult | None = None
    held_rss_mib: float | None = None

    @property
    def rss_per_stream_mib(self) -> float | None:
        """Peak RSS growth per stream while 64 streams each send 1000 chunks."""
        if self.concurrent is None:
            return None
        extra = self.concurrent.peak_rss_bytes / 2**20 - self.idle_rss_mib
        return max(extra, 0.0) / self.concurrent.streams

    def rss_per_open_stream_mib(self, streams: int) -> float | None:
        """RSS growth per stream while 64 streams are open, waiting to start."""
        if self.held_rss_mib is None:
            return None
        return max(self.held_rss_mib - self.idle_rss_mib, 0.0) / streams


def measure(target: Target, seconds: float, streams: int) -> Measured:
    """Start ``target`` and measure it."""
    with serve(target.command) as server:
        url = server.url + "/echo/invoke"
        wrk_invoke(url, INVOKE_BODY, 1, threads=2, connections=32)  # warm up
        cpu0, start = server_cpu_seconds(server), time.perf_counter()
        invoke = wrk_invoke(url, INVOKE_BODY, seconds, threads=2, connections=32)
        wall, cpu = time.perf_counter() - start, server_cpu_seconds(server) - cpu0
        time.sleep(0.5)
        requests = invoke.requests_per_second * max(1, round(seconds))
        measured = Measured(
            invoke=invoke,
            idle_rss_mib=server.rss_bytes() / 2**20,
            server_cores=cpu / wall,
            server_cpu_ms_per_request=1e3 * cpu / max(requests, 1),
        )
        if target.stream_path and target.stream_body:
            rate, cpu = single_stream_rate(
                server, target.stream_path, target.stream_body
            )
            measured.stream_chunks_per_second = rate
            measured.stream_loadgen_cpu = cpu
            if target.held_body:
                measured.held_rss_mib = (
                    held_streams_rss(
                        server, target.stream_path, target.held_body, streams, 1.0
                    )
                    / 2**20
                )
            measured.concurrent = concurrent_streams(
                server, target.stream_path, target.stream_body, streams
            )
    return measured


def checks(m: dict[str, Measured]) -> list[Check]:
    """Compare the run with the issue's targets (ratios from this one run)."""
    ours, bare, guide = m["echo-model"], m["bare"], m["guide"]
    rps = ours.invoke.requests_per_second
    vs_bare = rps / bare.invoke.requests_per_second
    vs_guide = rps / guide.invoke.requests_per_second
    workers = m["echo-model x2"].invoke.requests_per_second / rps
    stream = ours.stream_chunks_per_second / guide.stream_chunks_per_second
    conc = ours.concurrent
    return [
        Check("invoke req/s vs bare", vs_bare, ">= 0.25x", vs_bare >= 0.25),
        Check("invoke req/s vs guide", vs_guide, ">= 1.5x", vs_guide >= 1.5),
        Check("2 workers vs 1", workers, ">= 1.8x", workers >= 1.8),
        Check("stream chunks/s vs guide", stream, ">= 3x", stream >= 3),
        Check(
            f"{conc.streams} streams completed",
            conc.completed,
            f"== {conc.streams}",
            conc.completed == conc.streams,
        ),
        Check(
            "first chunk p99 (ms)", conc.ttfc_p99_ms, "<= 150", conc.ttfc_p99_ms <= 150
        ),
        Check(
            "RSS per open stream (MiB)",
            (per_open := ours.rss_per_open_stream_mib(conc.streams)),
            "<= 0.5",
            per_open <= 0.5,
        ),
        Check(
            "RSS per 1000-chunk stream",
            ours.rss_per_stream_mib,
            "<= 0.5",
            ours.rss_per_stream_mib <= 0.5,
        ),
    ]


def _fmt(value: object, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def print_report(m: dict[str, Measured], results: list[Check], streams: int) -> None:
    """Print the side-by-side table and the target checks."""
    bare_rps = m["bare"].invoke.requests_per_second if "bare" in m else None
    columns = [
        ("server", 15, "s"),
        ("req/s", 7, ".0f"),
        ("x bare", 7, ".2f"),
        ("p50 ms", 7, ".1f"),
        ("p99 ms", 7, ".1f"),
        ("wrk cpu", 8, ".2f"),
        ("chunk/s", 8, ".0f"),
        (f"{streams} done", 8, ".0f"),
        ("TTFC p50", 9, ".0f"),
        ("TTFC p99", 9, ".0f"),
        ("all s", 6, ".2f"),
        ("cli cpu", 8, ".2f"),
        ("RSS MiB", 8, ".0f"),
        ("open/str", 9, ".3f"),
        ("peak/str", 9, ".3f"),
    ]
    print("".join(f"{name:>{width}}" for name, width, _ in columns))
    print("-" * sum(width for _, width, _ in columns))
    for name, r in m.items():
        c = r.concurrent
        values = [
            name,
            r.invoke.requests_per_second,
            bare_rps and r.invoke.requests_per_second / bare_rps,
            r.invoke.p50_ms,
            r.invoke.p99_ms,
            r.invoke.loadgen_cpu,
            r.stream_chunks_per_second,
            c and c.completed,
            c and c.ttfc_p50_ms,
            c and c.ttfc_p99_ms,
            c and c.completion_s,
            c and c.loadgen_cpu,
            r.idle_rss_mib,
            r.rss_per_open_stream_mib(streams),
            r.rss_per_stream_mib,
        ]
        print(
            "".join(
                f"{_fmt(value, spec):>{width}}"
                for value, (_, width, spec) in zip(values, columns, strict=True)
            )
        )
    print(
        "\nwrk cpu / cli cpu: cores used by the load generator (wrk; the asyncio SSE"
        " client)\nopen/str: MiB per stream held open before its first chunk;"
        " peak/str: MiB per stream at peak while 64 streams send 1000 chunks each\n"
    )
    print(f"{'target':<28}{'this run':>10}  {'goal':<10}")
    for check in results:
        mark = "met" if check.met else "NOT met"
        print(f"{check.name:<28}{check.value:>10.2f}  {check.goal:<10}{mark}")
    if {"floor", "bare", "guide"} <= m.keys():
        floor = m["floor"].invoke.requests_per_second
        print(
            f"\nLangServe's floor (no model, a canned AIMessage): "
            f"{floor / m['bare'].invoke.requests_per_second:.2f}x bare, "
            f"{floor / m['guide'].invoke.requests_per_second:.2f}x guide"
        )
    errors = {n: r.invoke.errors for n, r in m.items() if r.invoke.errors}
    print(f"\nerrors during invoke load: {errors or 'none'}")


def plot(m: dict[str, Measured], path: Path) -> bool:
    """Draw the comparison as a PNG; return False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(m)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = [
        ("invoke req/s", [m[n].invoke.requests_per_second for n in names]),
        (
            "one 1000-char stream, chunks/s",
            [m[n].stream_chunks_per_second or 0 for n in names],
        ),
        (
            "64 streams: first chunk p99 (ms)",
            [m[n].concurrent.ttfc_p99_ms if m[n].concurrent else 0 for n in names],
        ),
    ]
    for ax, (title, values) in zip(axes, panels, strict=True):
        colors = [
            "tab:green" if n.startswith("echo-model") else "tab:gray" for n in names
        ]
        ax.barh(names, values, color=colors)
        ax.set_title(title)
        ax.invert_yaxis()
    fig.suptitle(
        f"echo-model server benchmark, {platform.node()} ({datetime.now(UTC):%Y-%m-%d})"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5, help="wrk run length")
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", help="measure only these targets")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    measured = {}
    for target in TARGETS:
        if args.only and target.name not in args.only:
            continue
        print(f"measuring {target.name} ...", file=sys.stderr, flush=True)
        measured[target.name] = measure(target, args.seconds, args.streams)
    results = checks(measured) if not args.only else []
    print_report(measured, results, args.streams)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
        },
        "servers": {
            n: asdict(r)
            | {
                "rss_per_stream_mib": r.rss_per_stream_mib,
                "rss_per_open_stream_mib": r.rss_per_open_stream_mib(args.streams),
            }
            for n, r in measured.items()
        },
        "checks": [asdict(c) for c in results],
    }
    for server in report["servers"].values():
        if server["concurrent"]:
            server["concurrent"].pop("results")
    (args.out / "server.json").write_text(json.dumps(report, indent=2))
    if plot(measured, args.out / "server.png"):
        print(f"wrote {args.out / 'server.json'} and {args.out / 'server.png'}")


if __name__ == "__main__":
    main()
