"""Run every benchmark and write the figures the docs quote: ``python -m benchmarks``.

One run, on this machine, in turn: the server benchmark (``server_bench``:
LangServe's ``/echo/invoke`` beside bare FastAPI, LangServe's floor, the
guide's model, one and two workers, with the server's own CPU read from
/proc), the vendor routes beside aimock (``openai_bench``, no PyPI peers),
the same apps on uvicorn and on Granian (``granian_trial``), pacing under load
(``pacing_bench``) and sizing for paced ``/v1`` streams, memory per stream
(``memory_bench``), NVIDIA's aiperf when it is installed (``aiperf_run``:
``$AIPERF`` or ``aiperf`` on PATH, else skipped, saying so), the model in
process (``model_async``), the in-process profiles (``profile_invoke``,
``profile_routes``) and embeddings (``embeddings_bench``). It writes every
figure to
``docs/figures.json`` with the date, machine, load average before and after,
library versions and git commit, then rewrites each figure the docs quote
(``benchmarks.results``). About 7 minutes; ``--quick`` is a smoke run of a
few seconds per part that writes elsewhere (``--out``) unless told otherwise.
Needs ``wrk`` (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import (
    aiperf_run,
    embeddings_bench,
    granian_trial,
    memory_bench,
    model_async,
    openai_bench,
    pacing_bench,
    profile_invoke,
    profile_routes,
    results,
    server_bench,
)

#: The autoscaler's target CPU (deploy/kubernetes/hpa.yaml): size replicas for it.
HPA_TARGET = 0.70


def _slug(name: str) -> str:
    return name.replace(" ", "_").replace("/", "").replace("-", "_")


def run_server_bench(figures: results.Figures, seconds: float, streams: int) -> None:
    """LangServe's invoke and stream beside the limit and the peers."""
    measured: dict[str, server_bench.Measured] = {}
    for target in server_bench.TARGETS:
        print(f"server_bench: {target.name} ...", file=sys.stderr, flush=True)
        measured[target.name] = server_bench.measure(target, seconds, streams)
    bare = measured["bare"].invoke.requests_per_second
    for name, m in measured.items():
        key = f"server.{_slug(name)}"
        figures.add(f"{key}.rps", m.invoke.requests_per_second)
        figures.add(f"{key}.x_bare", m.invoke.requests_per_second / bare, ".2f")
        figures.add(f"{key}.p50_ms", m.invoke.p50_ms, ".1f")
        figures.add(f"{key}.p99_ms", m.invoke.p99_ms, ".1f")
        figures.add(f"{key}.wrk_cores", m.invoke.loadgen_cpu, ".2f")
        figures.add(f"{key}.server_cores", m.server_cores, ".2f")
        figures.add(f"{key}.cpu_ms_per_request", m.server_cpu_ms_per_request, ".3f")
        figures.add(f"{key}.idle_rss_mib", m.idle_rss_mib)
        if m.stream_chunks_per_second is not None:
            figures.add(f"{key}.stream_chunks_per_s", m.stream_chunks_per_second)
        if m.concurrent is not None:
            c = m.concurrent
            figures.add(f"{key}.streams_completed", c.completed)
            figures.add(f"{key}.streams", c.streams)
            figures.add(f"{key}.ttfc_p50_ms", c.ttfc_p50_ms)
            figures.add(f"{key}.ttfc_p99_ms", c.ttfc_p99_ms)
            figures.add(f"{key}.concurrent_chunks_per_s", c.chunks_per_second)
            figures.add(f"{key}.rss_per_stream_mib", m.rss_per_stream_mib, ".2f")
        if m.held_rss_mib is not None:
            figures.add(
                f"{key}.rss_per_open_stream_mib",
                m.rss_per_open_stream_mib(streams),
                ".2f",
            )
    ours, two = measured["echo-model"], measured["echo-model x2"]
    rps = ours.invoke.requests_per_second
    for key, other in (("echo_vs_guide", "guide"), ("echo_vs_floor", "floor")):
        ratio = rps / measured[other].invoke.requests_per_second
        figures.add(f"server.{key}", ratio, ".2f")
    floor = measured["floor"].invoke.requests_per_second
    figures.add("server.floor_x_bare", floor / bare, ".2f")
    two_rps = two.invoke.requests_per_second
    figures.add("server.two_workers_rps_ratio", two_rps / rps, ".2f")
    figures.add(
        "server.bare_two_workers_rps_ratio",
        measured["bare x2"].invoke.requests_per_second / bare,
        ".2f",
    )
    figures.add(
        "server.stream_vs_guide",
        (ours.stream_chunks_per_second or 0)
        / (measured["guide"].stream_chunks_per_second or 1),
        ".2f",
    )
    # Sizing: one replica is one worker (at most one core), loaded to the
    # autoscaler's CPU target.
    per_core_rps = rps
    per_core_chunks = ours.concurrent.chunks_per_second if ours.concurrent else 0.0
    figures.add("deploy.invoke_per_replica", per_core_rps * HPA_TARGET)
    figures.add("deploy.chunks_per_replica", per_core_chunks * HPA_TARGET)
    for target in (1_000, 5_000, 10_000, 50_000):
        figures.add(
            f"deploy.replicas_invoke_{target}",
            math.ceil(target / (per_core_rps * HPA_TARGET)),
        )
    for chunks in (20_000, 50_000):
        figures.add(
            f"deploy.replicas_chunks_{chunks}",
            math.ceil(chunks / max(per_core_chunks * HPA_TARGET, 1)),
        )


def run_openai_bench(
    figures: results.Figures, seconds: float, streams: int, chars: int
) -> None:
    """Every vendor route beside bare FastAPI and aimock (no PyPI peers)."""
    rows = openai_bench.run(seconds, streams, chars, peers=False, aimock=True)
    by_name = {row.name: row for row in rows}
    bare = by_name["bare"].rate
    assert bare is not None
    for row in rows:
        if row.rate is None:  # a peer that could not start: its figures are missing
            print(f"openai_bench: skipped {row.name}: {row.skipped}", file=sys.stderr)
            continue
        key = f"openai.{_slug(row.name)}"
        figures.add(f"{key}.rps", row.rate.requests_per_second)
        figures.add(
            f"{key}.x_bare",
            row.rate.requests_per_second / bare.requests_per_second,
            ".2f",
        )
        figures.add(f"{key}.p50_ms", row.rate.p50_ms, ".1f")
        figures.add(f"{key}.p99_ms", row.rate.p99_ms, ".1f")
        figures.add(f"{key}.wrk_cores", row.rate.loadgen_cpu, ".2f")
        if row.stream_chunks_per_s is not None:
            figures.add(f"{key}.stream_chunks_per_s", row.stream_chunks_per_s)
        if row.stream_client_cpu is not None:
            figures.add(f"{key}.stream_client_cores", row.stream_client_cpu, ".2f")
        if row.streams is not None:
            figures.add(f"{key}.streams_completed", row.streams.completed)
            figures.add(f"{key}.ttfc_p50_ms", row.streams.ttfc_p50_ms, ".1f")
            figures.add(f"{key}.ttfc_p99_ms", row.streams.ttfc_p99_ms, ".1f")
    langserve = by_name["echo langserve"].stream_chunks_per_s or 1
    for route in openai_bench.ROUTES:
        row = by_name[f"echo {route.label}"]
        if row.stream_chunks_per_s is not None:
            figures.add(
                f"openai.{_slug(row.name)}.stream_vs_langserve",
                row.stream_chunks_per_s / langserve,
                ".2f",
            )
    # This server over aimock on the same route: above 1, ours was faster.
    for label, (rps_x, chunks_x) in openai_bench.versus_aimock(rows).items():
        key = f"openai.{_slug('echo ' + label)}"
        if rps_x is not None:
            figures.add(f"{key}.x_aimock", rps_x, ".2f")
        if chunks_x is not None:
            figures.add(f"{key}.stream_x_aimock", chunks_x, ".2f")


def run_granian_trial(figures: results.Figures, seconds: float, chars: int) -> None:
    """The same apps on uvicorn and on Granian (``granian_trial``, no probe)."""
    try:
        trials, _ = granian_trial.run(seconds, chars, probe_idle_s=None)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        # Granian comes from PyPI on first use: offline, its figures are missing.
        print(f"granian_trial: skipped: {error}", file=sys.stderr)
        return
    for name, value in granian_trial.figures(trials).items():
        spec = ".2f" if name.endswith(("_x_uvicorn", "_cores")) else ",.0f"
        figures.add(f"granian.{name}", value, spec)


def run_pacing_bench(
    figures: results.Figures, scenarios: Sequence[pacing_bench.Scenario], invoke: float
) -> None:
    """Measured against asked latency, this server beside FakeListChatModel."""
    measured, checks = pacing_bench.run(
        scenarios, extras=True, invoke_seconds=invoke, plot_path=None
    )
    for m in measured:
        if m.scenario.name not in {s.name for s in scenarios}:
            continue
        server = "echo" if m.server == "echo-model" else "fake_list"
        key = f"pacing.{_slug(m.scenario.name.split(',')[0])}.{server}"
        figures.add(f"{key}.completed", m.completed)
        figures.add(f"{key}.duration_ratio_p99", pacing_bench.p99(m.ratios()), ".3f")
        figures.add(f"{key}.first_p99_ms", pacing_bench.p99(m.first_chunks_s()) * 1e3)
        figures.add(f"{key}.gap_p99_ms", pacing_bench.p99(m.gaps_s()) * 1e3, ".1f")
        figures.add(f"{key}.client_cores", m.client_cpu, ".2f")
    for name, value in checks.values.items():
        spec = ".2f" if name.startswith("invoke") else ".3f"
        figures.add(f"pacing.{name}", value, spec)


def run_sizing(figures: results.Figures, paces: Sequence[pacing_bench.Pace]) -> None:
    """Paced ``/v1`` streams: streams x token rate -> TTFT, stretch, CPU a chunk."""
    for sized in pacing_bench.sizing(paces):
        key = f"pacing.v1.{sized.pace.key}"
        figures.add(f"{key}.streams", sized.pace.streams)
        figures.add(f"{key}.token_rate", sized.pace.token_rate)
        figures.add(f"{key}.completed", sized.completed)
        figures.add(f"{key}.ttft_p99_ms", sized.ttft_p99_ms())
        figures.add(f"{key}.stretch_p99", sized.stretch_p99(), ".3f")
        cpu, cores = sized.cpu_us_per_chunk(), sized.server_cores()
        if cpu is not None and cores is not None:
            figures.add(f"{key}.cpu_us_per_chunk", cpu)
            figures.add(f"{key}.server_cores", cores, ".2f")
            # Chunks a second one core could send at this pace's cost a chunk.
            figures.add(f"{key}.chunks_per_core", 1e6 / cpu)


def run_memory_bench(figures: results.Figures, quick: bool) -> None:
    """RSS per idle stream and per 1000-chunk stream, on ``/v1`` and LangServe."""
    idle, held = (20, 4) if quick else (200, 32)
    figures.add("memory.idle_streams", idle)
    figures.add("memory.long_streams", held)
    for m in memory_bench.run(idle, held):
        key = f"memory.{m.route}"
        figures.add(f"{key}.idle_mib", m.idle_mib)
        figures.add(f"{key}.idle_open", m.idle_open)
        figures.add(f"{key}.per_idle_stream_kib", m.per_idle_stream_kib)
        figures.add(f"{key}.one_stream_growth_mib", m.one_stream_growth_mib, ".2f")
        figures.add(f"{key}.per_1000_chunk_stream_mib", m.per_long_stream_mib, ".2f")
        figures.add(f"{key}.retained_mib", m.retained_mib)


def run_aiperf(figures: results.Figures, quick: bool) -> None:
    """NVIDIA's aiperf against ``/v1/chat/completions``, if it is installed."""
    aiperf = aiperf_run.find_aiperf()
    if aiperf is None:
        print(
            f"aiperf: skipped, not installed (pip install aiperf in a venv of its"
            f" own, then set ${aiperf_run.AIPERF_ENV}); its figures are missing",
            flush=True,
        )
        return
    plan = aiperf_run.Plan(requests=40) if quick else aiperf_run.Plan()
    result = aiperf_run.run(aiperf, plan)
    aiperf_run.print_report(result, aiperf_run.checks(result, plan))
    figures.add("aiperf.requests", result.requests)
    figures.add("aiperf.errors", result.errors)
    figures.add("aiperf.request_throughput", result.request_throughput, ".1f")
    for name, d in (
        ("ttft", result.ttft),
        ("ttst", result.ttst),
        ("itl", result.itl),
    ):
        for stat in ("min", "p5", "p50", "p99"):
            figures.add(f"aiperf.{name}_ms_{stat}", getattr(d, stat), ".1f")
    figures.add("aiperf.osl_min", result.output_length.min)
    figures.add("aiperf.osl_max", result.output_length.max)
    figures.add(
        "aiperf.ttst_p5_x_itl", result.ttst.p5 / (plan.token_delay * 1e3), ".2f"
    )
    server = result.server
    for metric, name in (
        ("vllm:time_to_first_token_seconds", "server_ttft_ms_avg"),
        ("vllm:inter_token_latency_seconds", "server_itl_ms_avg"),
    ):
        if "avg" in server.get(metric, {}):
            figures.add(f"aiperf.{name}", server[metric]["avg"] * 1e3, ".2f")
    if "max" in server.get("vllm:num_requests_running", {}):
        figures.add(
            "aiperf.server_running_max", server["vllm:num_requests_running"]["max"]
        )


def run_in_process(figures: results.Figures, quick: bool) -> None:
    """The model, the LangServe layers and the routes, in process."""
    rounds, seconds = (1, 0.1) if quick else (5, 0.5)
    model = asyncio.run(model_async.run(rounds, seconds))
    figures.add("model.ainvoke_ratio", model["ainvoke (calls/s)"]["ratio"], ".2f")
    figures.add(
        "model.astream_ratio", model["astream 1000 chars (chunks/s)"]["ratio"], ".2f"
    )
    requests = 300 if quick else 1500
    steps = profile_invoke.compare_steps(requests // 3, 1 if quick else 3)
    peer = steps[profile_invoke.STEPS[1][0]]
    for index, (label, _) in enumerate(profile_invoke.STEPS):
        figures.add(f"profile.invoke.step{index}_us", steps[label] * 1e6)
        figures.add(f"profile.invoke.step{index}_x_peer", peer / steps[label], ".2f")
    _, shares = profile_invoke.layer_shares(requests)
    for index, (label, _, _) in enumerate(profile_invoke.LAYERS):
        figures.add(f"profile.invoke.layer{index}_share", 100 * shares[label])
    routes = profile_routes.main(
        ["--requests", "300" if quick else "2000", "--rounds", "1" if quick else "3"]
    )
    for name, value in routes.items():
        figures.add(
            f"profile.routes.{name}",
            value,
            ".1f" if "chunk" in name or name.startswith("layers.") else ",.0f",
        )


def run_embeddings_bench(figures: results.Figures, quick: bool) -> None:
    """EchoEmbeddings in process and ``/v1/embeddings`` over HTTP."""
    measured = embeddings_bench.main(
        ["--seconds", "1" if quick else "3", "--rounds", "1" if quick else "3"]
    )
    for key, value in measured.items():
        spec = ".2f" if key in ("ratio", "batch64_x_chat") else ",.0f"
        figures.add(f"embeddings.{key}", value, spec)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run everything, write the results file, update the docs' quotes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: seconds, not minutes"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results file (default: docs/figures.json; --quick: none)",
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="leave the docs' quotes alone"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    figures = results.Figures(quick=args.quick)
    if args.quick:
        run_server_bench(figures, seconds=1, streams=8)
        run_openai_bench(figures, seconds=1, streams=4, chars=100)
        run_granian_trial(figures, seconds=1, chars=100)
        scenarios = [pacing_bench.Scenario("8 x 5 ms", 8, 0.005, chars=20)]
        run_pacing_bench(figures, scenarios, invoke=1)
        run_sizing(figures, [pacing_bench.Pace(8, 0.05, 0.01, chars=20)])
    else:
        run_server_bench(figures, seconds=4, streams=64)
        run_openai_bench(figures, seconds=4, streams=64, chars=1000)
        run_granian_trial(figures, seconds=4, chars=1000)
        run_pacing_bench(figures, pacing_bench.SCENARIOS, invoke=4)
        run_sizing(figures, pacing_bench.SIZING)
    run_memory_bench(figures, args.quick)
    run_aiperf(figures, args.quick)
    run_in_process(figures, args.quick)
    run_embeddings_bench(figures, args.quick)
    report = figures.report("python -m benchmarks" + (" --quick" if args.quick else ""))
    out = args.out or (None if args.quick else results.FIGURES)
    if out is not None:
        results.write(report, out)
        print(f"\nwrote {out}")
        if not args.no_docs and out == results.FIGURES:
            unknown = results.update_documents(report["figures"])
            if unknown:
                print(f"the docs quote figures this run has not: {sorted(unknown)}")
    return report


if __name__ == "__main__":
    main()
