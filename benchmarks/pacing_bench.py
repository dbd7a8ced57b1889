"""Pacing benchmark: does a stream keep the latency it was asked for, under load?

Run: ``python -m benchmarks.pacing_bench`` (``--help`` for options; the
serving-path check needs ``wrk``, the plot needs the ``bench`` extra).

Side by side in one run, on the same machine: this server (``/echo/stream``,
first-token and token delays per request), LangServe serving langchain_core's
``FakeListChatModel(sleep=d)`` (a chat model sleeping ``d`` before each
chunk), and the ideal schedule (first chunk at ``d``, then one every ``d``:
a 100-character reply lasts ``100 * d``). For each: duration / ideal p99,
first-chunk p99, inter-chunk gap p99, and the client's own CPU (a client near
one core would be the bottleneck, not the server).

Then, for this server only: with ``--max-num-seqs 32`` and 64 streams at
once, the second half's first chunk should come when the first half ends;
``/metrics`` should agree with what the client measured; and ``/echo/invoke``
with a per-request option should serve at least as fast as LangServe serving
the seed guide's model. ``--plot`` draws measured against asked latency.

Sizing, on ``/v1/chat/completions`` (one worker): streams at once at a set
pace, ``streams x token rate``; the report gives TTFT p99, the stretch (p99
duration / the ideal one) and the server's CPU per chunk, read from /proc
when the script started the server. ``python -m benchmarks.pacing_bench
--streams 100 --first-token-delay 0.3 --token-delay 0.03`` runs one such
case alone; ``--url`` points it at a server already running (then its CPU is
unknown).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.apps import langserve_app
from benchmarks.load import (
    StreamMarks,
    StreamResult,
    read_stream,
    server_cpu_seconds,
    wrk_invoke,
)
from tests.support.processes import Server, serve

ROOT = Path(__file__).resolve().parents[1]
PLOT = ROOT / "benchmarks" / "results" / "latency-pacing.png"  # not committed
UVICORN = ["{python}", "-m", "uvicorn", "--factory", "--port", "{port}"]
FAST = ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
ECHO = ["{python}", "server.py", "--port", "{port}", "--log-level", "warning"]

#: The peer's sleep, handed to its worker processes through the environment.
PEER_SLEEP_ENV = "PACING_BENCH_SLEEP"
PEER_CHARS_ENV = "PACING_BENCH_CHARS"


def fake_list_app() -> Any:
    """LangServe serving ``FakeListChatModel(sleep=d)`` (for uvicorn --factory)."""
    from langchain_core.language_models import FakeListChatModel

    sleep = float(os.environ[PEER_SLEEP_ENV])
    reply = "x" * int(os.environ[PEER_CHARS_ENV])
    return langserve_app(FakeListChatModel(responses=[reply], sleep=sleep))


@dataclass(frozen=True)
class Scenario:
    """Streams started at once, each asking for ``chars`` tokens ``delay`` apart."""

    name: str
    streams: int
    delay: float
    workers: int = 1
    chars: int = 100

    @property
    def ideal_s(self) -> float:
        """The ideal duration: first chunk at ``delay``, then one per ``delay``."""
        return self.chars * self.delay


@dataclass
class Measured:
    """One server's streams in one scenario, as the client saw them."""

    server: str
    scenario: Scenario
    results: list[StreamResult]
    client_cpu: float
    wall_s: float

    @property
    def completed(self) -> int:
        return sum(r.completed for r in self.results)

    def ratios(self) -> list[float]:
        return [r.total_s / self.scenario.ideal_s for r in self.results]

    def first_chunks_s(self) -> list[float]:
        return [r.first_chunk_s for r in self.results if r.first_chunk_s is not None]

    def gaps_s(self) -> list[float]:
        return [
            later - earlier
            for r in self.results
            for earlier, later in zip(r.event_times, r.event_times[1:], strict=False)
        ]


def p99(values: Sequence[float]) -> float:
    """The 99th percentile (inclusive method), or NaN for no values."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def run_streams(
    url: str, body: dict[str, Any], count: int, marks: StreamMarks | None = None
) -> tuple[list, float, float]:
    """Open ``count`` streams at once; return results, client CPU (cores), wall s."""

    async def go() -> tuple[list, float, float]:
        cpu0, start = time.process_time(), time.perf_counter()
        results = await asyncio.gather(
            *(
                read_stream(url, body)
                if marks is None
                else read_stream(url, body, marks)
                for _ in range(count)
            )
        )
        wall = time.perf_counter() - start
        return list(results), (time.process_time() - cpu0) / wall, wall

    return asyncio.run(go())


def echo_body(scenario: Scenario, **extra: Any) -> dict[str, Any]:
    """This server's request: the reply's characters, delays per request."""
    configurable = {
        "first_token_delay": scenario.delay,
        "token_delay": scenario.delay,
        **extra,
    }
    return {"input": "x" * scenario.chars, "config": {"configurable": configurable}}


def measure_echo(
    scenario: Scenario, extra_args: Sequence[str] = ()
) -> tuple[Measured, dict[str, float]]:
    """Run ``scenario`` on this server; return what the client and /metrics saw."""
    command = [*ECHO, "--workers", str(scenario.workers), *extra_args]
    with serve(command) as server:
        before = scrape(server)
        results, cpu, wall = run_streams(
            server.url + "/echo/stream", echo_body(scenario), scenario.streams
        )
        after = scrape(server)
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    return Measured("echo-model", scenario, results, cpu, wall), delta


def measure_peer(scenario: Scenario) -> Measured:
    """Run ``scenario`` on LangServe serving FakeListChatModel(sleep=delay)."""
    os.environ[PEER_SLEEP_ENV] = str(scenario.delay)
    os.environ[PEER_CHARS_ENV] = str(scenario.chars)
    command = [
        *UVICORN,
        *FAST,
        "--workers",
        str(scenario.workers),
        "benchmarks.pacing_bench:fake_list_app",
    ]
    with serve(command) as server:
        results, cpu, wall = run_streams(
            server.url + "/echo/stream", {"input": "x"}, scenario.streams
        )
    return Measured("FakeListChatModel", scenario, results, cpu, wall)


def scrape(server: Server) -> dict[str, float]:
    """Read /metrics: each sample's value summed over its labels, by name."""
    text = httpx.get(server.url + "/metrics", timeout=10).text
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_bucket") or sample.name.endswith("_created"):
                continue
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


# --- Sizing: paced /v1 streams ------------------------------------------------

#: OpenAI's stream: a content delta, and the stream's end.
V1_MARKS = StreamMarks(b'"delta":{"content":', b"data: [DONE]")
V1_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Pace:
    """``streams`` replies at once, each of ``chars`` tokens at a set pace."""

    streams: int
    first_token_delay: float
    token_delay: float
    chars: int = 100

    @property
    def name(self) -> str:
        """How the docs name it: ``40 x 300/30 ms``."""
        first, token = self.first_token_delay * 1e3, self.token_delay * 1e3
        return f"{self.streams} x {first:g}/{token:g} ms"

    @property
    def key(self) -> str:
        """The figures' key part: ``40x300_30ms``."""
        first, token = self.first_token_delay * 1e3, self.token_delay * 1e3
        return f"{self.streams}x{first:g}_{token:g}ms"

    @property
    def token_rate(self) -> float:
        """Tokens a second asked of the server, all streams together."""
        return self.streams / self.token_delay

    @property
    def ideal_s(self) -> float:
        """A stream's ideal duration: the first token, then one per delay."""
        return self.first_token_delay + (self.chars - 1) * self.token_delay

    def body(self) -> dict[str, Any]:
        """The streamed chat request, its pace asked per request."""
        return {
            "model": "echo",
            "messages": [{"role": "user", "content": "x" * self.chars}],
            "stream": True,
            "echo": {
                "first_token_delay": self.first_token_delay,
                "token_delay": self.token_delay,
            },
        }


@dataclass
class Sized:
    """One pace on ``/v1/chat/completions``, as the client and /proc saw it."""

    pace: Pace
    results: list[StreamResult]
    wall_s: float
    #: The server's CPU seconds during the streams (None: not ours to read).
    server_cpu_s: float | None

    @property
    def completed(self) -> int:
        return sum(r.completed for r in self.results)

    @property
    def chunks(self) -> int:
        return sum(r.chunks for r in self.results)

    def ttft_p99_ms(self) -> float:
        firsts = [r.first_chunk_s for r in self.results if r.first_chunk_s is not None]
        return p99(firsts) * 1e3

    def stretch_p99(self) -> float:
        """p99 stream duration over the ideal one (1.0: exactly as asked)."""
        return p99([r.total_s / self.pace.ideal_s for r in self.results])

    def cpu_us_per_chunk(self) -> float | None:
        """The server's CPU over the chunks it sent (setup included), in µs."""
        if self.server_cpu_s is None or not self.chunks:
            return None
        return self.server_cpu_s / self.chunks * 1e6

    def server_cores(self) -> float | None:
        """Cores the server used while the streams ran."""
        if self.server_cpu_s is None:
            return None
        return self.server_cpu_s / self.wall_s


def measure_pace(pace: Pace, url: str | None = None) -> Sized:
    """Run ``pace`` on ``url`` (a running server), or on a server started here.

    One stream first, alone, so the first measured stream does not pay for
    the server's first request.
    """
    if url is not None:
        run_streams(url + V1_PATH, pace.body(), 1, V1_MARKS)
        results, _, wall = run_streams(
            url + V1_PATH, pace.body(), pace.streams, V1_MARKS
        )
        return Sized(pace, results, wall, None)
    with serve([*ECHO, "--workers", "1"]) as server:
        target = server.url + V1_PATH
        run_streams(target, pace.body(), 1, V1_MARKS)
        cpu0 = server_cpu_seconds(server)
        results, _, wall = run_streams(target, pace.body(), pace.streams, V1_MARKS)
        cpu = server_cpu_seconds(server) - cpu0
    return Sized(pace, results, wall, cpu)


SIZING_HEADER = (
    f"{'streams x pace':<20} {'tokens/s':>9} {'done':>9} {'TTFT p99':>9}"
    f" {'stretch':>8} {'CPU/chunk':>10} {'server':>7}\n"
    f"{'':<20} {'asked':>9} {'':>9} {'ms':>9} {'p99':>8} {'µs':>10} {'cores':>7}"
)


def sizing_row(sized: Sized) -> str:
    """One line of the sizing table."""
    cpu, cores = sized.cpu_us_per_chunk(), sized.server_cores()
    return (
        f"{sized.pace.name:<20} {sized.pace.token_rate:>9,.0f}"
        f" {sized.completed:>4}/{len(sized.results):<4}"
        f" {sized.ttft_p99_ms():>9.0f} {sized.stretch_p99():>8.3f}"
        f" {'unknown' if cpu is None else format(cpu, '.0f'):>10}"
        f" {'unknown' if cores is None else format(cores, '.2f'):>7}"
    )


#: The default sizing cases: a chat-like pace at two loads, and a fast one.
SIZING = [Pace(40, 0.300, 0.030), Pace(100, 0.300, 0.030), Pace(64, 0.020, 0.020)]


def sizing(paces: Sequence[Pace] = SIZING, url: str | None = None) -> list[Sized]:
    """Measure each pace on ``/v1/chat/completions``; print the table."""
    where = url or "a server started here, one worker"
    print(f"\n== sizing: paced {V1_PATH} streams ({where}) ==")
    print(SIZING_HEADER)
    measured = []
    for pace in paces:
        sized = measure_pace(pace, url)
        print(sizing_row(sized))
        sys.stdout.flush()
        measured.append(sized)
    if url is not None:
        print("server CPU: unknown (the server was not started here)")
    return measured


# --- Reports ---------------------------------------------------------------


def report_row(measured: Measured) -> str:
    """One line of the side-by-side table."""
    return (
        f"{measured.server:<18} {measured.completed:>5}/{len(measured.results):<5}"
        f" {p99(measured.ratios()):>8.3f}"
        f" {p99(measured.first_chunks_s()) * 1e3:>10.1f}"
        f" {p99(measured.gaps_s()) * 1e3:>9.1f}"
        f" {measured.client_cpu:>8.2f}"
    )


def ideal_row(scenario: Scenario) -> str:
    """The ideal schedule's line of the table."""
    ms = scenario.delay * 1e3
    return (
        f"{'ideal':<18} {scenario.streams:>5}/{scenario.streams:<5}"
        f" {1.0:>8.3f} {ms:>10.1f} {ms:>9.1f} {'-':>8}"
    )


HEADER = (
    f"{'server':<18} {'done':>11} {'dur/ideal':>8} {'first p99':>10}"
    f" {'gap p99':>9} {'client':>8}\n"
    f"{'':<18} {'':>11} {'p99':>8} {'ms':>10} {'ms':>9} {'cores':>8}"
)


@dataclass
class Checks:
    """Targets and whether each was met."""

    lines: list[str] = field(default_factory=list)
    #: The checked values by key, for the results file.
    values: dict[str, float] = field(default_factory=dict)

    def add(
        self,
        label: str,
        value: float,
        limit: float,
        *,
        at_least: bool = False,
        key: str | None = None,
    ) -> None:
        if key is not None:
            self.values[key] = value
        ok = value >= limit if at_least else value <= limit
        sign = ">=" if at_least else "<="
        verdict = "ok" if ok else "MISSED"
        self.lines.append(f"  [{verdict:>6}] {label}: {value:.3f} ({sign} {limit})")


def queueing_check(checks: Checks, delay: float, chars: int) -> Measured:
    """64 streams, 32 running at once: the second half waits for the first."""
    scenario = Scenario("max_num_seqs=32", 64, delay, chars=chars)
    measured, _ = measure_echo(scenario, ["--max-num-seqs", "32"])
    ordered = sorted(measured.results, key=lambda r: r.first_chunk_s or 0.0)
    first, second = ordered[:32], ordered[32:]
    first_duration = statistics.fmean(r.total_s for r in first)
    second_ttft = statistics.fmean(r.first_chunk_s or 0.0 for r in second)
    checks.add(
        "max_num_seqs=32: second half's TTFT / first half's duration",
        abs(second_ttft / first_duration - 1),
        0.10,
        key="queueing_error",
    )
    return measured


def metrics_check(checks: Checks, streams: int, chars: int) -> None:
    """/metrics against the client, with spreads on (seeded)."""
    scenario = Scenario("metrics", streams, 0.02, chars=chars)
    command = [*ECHO, "--workers", "1"]
    body = echo_body(
        scenario,
        first_token_delay=0.2,
        ttft_spread=0.05,
        itl_spread=0.005,
        latency_seed=7,
    )
    with serve(command) as server:
        before = scrape(server)
        results, _, _ = run_streams(server.url + "/echo/stream", body, streams)
        after = scrape(server)
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    requests = delta.get("echo:requests_total", 0.0)
    checks.add("metrics: requests counted - streams sent", abs(requests - streams), 0)
    ttft = delta["vllm:time_to_first_token_seconds_sum"] / max(
        delta["vllm:time_to_first_token_seconds_count"], 1
    )
    itl = delta["vllm:inter_token_latency_seconds_sum"] / max(
        delta["vllm:inter_token_latency_seconds_count"], 1
    )
    client_ttft = statistics.fmean(r.first_chunk_s or 0.0 for r in results)
    gaps = [
        b - a
        for r in results
        for a, b in zip(r.event_times, r.event_times[1:chars], strict=False)
    ]
    client_itl = statistics.fmean(gaps)
    checks.add(
        "metrics: TTFT mean vs client's, relative",
        abs(ttft / client_ttft - 1),
        0.1,
        key="metrics_ttft_error",
    )
    checks.add(
        "metrics: ITL mean vs client's, relative",
        abs(itl / client_itl - 1),
        0.1,
        key="metrics_itl_error",
    )


def invoke_check(checks: Checks, seconds: float) -> None:
    """/echo/invoke with a per-request option against the guide model and the floor."""
    if shutil.which("wrk") is None:
        checks.lines.append("  [  skip] invoke: wrk is not installed")
        return
    body = {"input": "hello", "config": {"configurable": {"n": 5}}}
    with serve([*ECHO]) as server:
        ours = wrk_invoke(server.url + "/echo/invoke", body, seconds, 2, 32)
    with serve([*UVICORN, *FAST, "benchmarks.apps:guide_app"]) as server:
        peer = wrk_invoke(
            server.url + "/echo/invoke", {"input": "hello"}, seconds, 2, 32
        )
    # LangServe serving a canned AIMessage (no model): the most any chat model
    # served through LangServe's invoke handler can reach.
    with serve([*UVICORN, *FAST, "benchmarks.apps:floor_app"]) as server:
        floor = wrk_invoke(
            server.url + "/echo/invoke", {"input": "hello"}, seconds, 2, 32
        )
    checks.add(
        f"invoke req/s vs guide ({ours.requests_per_second:.0f} vs"
        f" {peer.requests_per_second:.0f})",
        ours.requests_per_second / peer.requests_per_second,
        1.0,
        at_least=True,
        key="invoke_option_vs_guide",
    )
    checks.add(
        f"invoke req/s vs floor ({ours.requests_per_second:.0f} vs"
        f" {floor.requests_per_second:.0f})",
        ours.requests_per_second / floor.requests_per_second,
        0.95,
        at_least=True,
        key="invoke_option_vs_floor",
    )


def plot(measured: list[Measured], path: Path) -> None:
    """Draw measured against asked latency: gaps and durations, as CDFs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (gaps_axis, duration_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for run in measured:
        label = f"{run.server}, {run.scenario.name}"
        style = "-" if run.server == "echo-model" else "--"
        gaps = sorted(g / run.scenario.delay for g in run.gaps_s())
        ratios = sorted(run.ratios())
        if gaps:
            gaps_axis.plot(
                gaps, [i / len(gaps) for i in range(len(gaps))], style, label=label
            )
        duration_axis.plot(
            ratios, [i / len(ratios) for i in range(len(ratios))], style, label=label
        )
    gaps_axis.axvline(1.0, color="black", linewidth=0.8)
    gaps_axis.set_xlim(0, 4)
    gaps_axis.set_xlabel("inter-chunk gap / asked token delay")
    gaps_axis.set_ylabel("share of gaps")
    gaps_axis.set_title("Gaps between chunks (asked: 1.0)")
    duration_axis.axvline(1.0, color="black", linewidth=0.8)
    duration_axis.set_xlabel("stream duration / ideal duration")
    duration_axis.set_ylabel("share of streams")
    duration_axis.set_title("Stream durations (ideal: 1.0)")
    duration_axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


SCENARIOS = [
    Scenario("64 x 20 ms", 64, 0.020),
    Scenario("256 x 20 ms", 256, 0.020),
    Scenario("1024 x 50 ms, 2 workers", 1024, 0.050, workers=2),
]
#: Targets per scenario: (p99 duration / ideal, p99 gap in ms or None).
TARGETS = {"64 x 20 ms": (1.02, 25.0), "256 x 20 ms": (1.05, None)}
TARGETS["1024 x 50 ms, 2 workers"] = (1.10, None)


def run(
    scenarios: Sequence[Scenario] = SCENARIOS,
    *,
    extras: bool = True,
    invoke_seconds: float = 10.0,
    plot_path: Path | None = PLOT,
) -> tuple[list[Measured], Checks]:
    """Run every scenario on both servers, then the checks; print the report."""
    measured: list[Measured] = []
    checks = Checks()
    for scenario in scenarios:
        print(
            f"\n== {scenario.name}: {scenario.streams} streams, {scenario.chars}"
            f" chars, {scenario.delay * 1e3:.0f} ms, {scenario.workers} worker(s) =="
        )
        print(HEADER)
        ours, _ = measure_echo(scenario)
        peer = measure_peer(scenario)
        for row in (report_row(ours), report_row(peer), ideal_row(scenario)):
            print(row)
        sys.stdout.flush()
        measured += [ours, peer]
        checks.add(
            f"{scenario.name}: all streams complete (missing)",
            len(ours.results) - ours.completed,
            0,
        )
        if scenario.name in TARGETS:
            ratio, gap_ms = TARGETS[scenario.name]
            checks.add(
                f"{scenario.name}: p99 duration/ideal", p99(ours.ratios()), ratio
            )
            if gap_ms is not None:
                checks.add(
                    f"{scenario.name}: gap p99 ms", p99(ours.gaps_s()) * 1e3, gap_ms
                )
    if extras:
        chars = scenarios[0].chars
        measured.append(queueing_check(checks, 0.020, chars))
        metrics_check(checks, 64, chars)
        invoke_check(checks, invoke_seconds)
    print("\n== targets ==")
    print("\n".join(checks.lines))
    if plot_path is not None:
        plot(measured, plot_path)
        print(f"\nplot: {plot_path.relative_to(ROOT)}")
    return measured, checks


def parser() -> argparse.ArgumentParser:
    """The command line's flags."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-extras", action="store_true", help="scenarios only")
    parser.add_argument("--no-plot", action="store_true", help="draw no PNG")
    parser.add_argument("--invoke-seconds", type=float, default=10.0)
    sizing_flags = parser.add_argument_group(
        "sizing", "with --streams or --url: one paced /v1 case only"
    )
    sizing_flags.add_argument("--streams", type=int, help="streams at once")
    sizing_flags.add_argument(
        "--first-token-delay", type=float, default=0.3, help="seconds (default 0.3)"
    )
    sizing_flags.add_argument(
        "--token-delay", type=float, default=0.03, help="seconds (default 0.03)"
    )
    sizing_flags.add_argument(
        "--chars", type=int, default=100, help="tokens per reply (default 100)"
    )
    sizing_flags.add_argument(
        "--url", help="a running server (default: start one; its CPU is then known)"
    )
    return parser


def pace_from(args: argparse.Namespace) -> Pace | None:
    """The one sizing case the flags ask for, or None for the full run."""
    if args.streams is None and args.url is None:
        return None
    return Pace(
        args.streams or SIZING[0].streams,
        args.first_token_delay,
        args.token_delay,
        args.chars,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    pace = pace_from(args)
    if pace is not None:
        sizing([pace], args.url.rstrip("/") if args.url else None)
        return
    run(
        extras=not args.no_extras,
        invoke_seconds=args.invoke_seconds,
        plot_path=None if args.no_plot else PLOT,
    )
    sizing()


if __name__ == "__main__":
    main()
