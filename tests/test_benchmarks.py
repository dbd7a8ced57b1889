"""Smoke tests of the benchmark tools, so they keep working; no timing asserted."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks import soak
from benchmarks.embedding_dimensions import corpus, queries, recall_at_1
from benchmarks.guide_model import GuideEchoModel
from benchmarks.load import (
    RateResult,
    StreamError,
    concurrent_streams,
    held_streams_rss,
    read_stream,
    wrk_invoke,
)
from tests.support.live_server import LiveServer
from tests.support.processes import Server


@pytest.fixture
def server(live_server: LiveServer) -> Server:
    return Server(process=live_server.process, port=live_server.port)


def require_wrk() -> None:
    """Skip without wrk, but fail under CI, which installs it (.ci/run)."""
    if shutil.which("wrk") is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("CI must run the benchmark smoke tests: install wrk")
        pytest.skip("wrk is not installed (apt-get install -y wrk)")


def test_wrk_report_is_parsed(server: Server) -> None:
    require_wrk()
    result = wrk_invoke(
        server.url + "/echo/invoke", {"input": "hi"}, 1, threads=1, connections=2
    )
    assert result.requests_per_second > 0
    assert 0 < result.p50_ms <= result.p99_ms
    assert result.errors == 0


def test_sse_client_sees_every_chunk_of_every_stream(server: Server) -> None:
    result = concurrent_streams(server, "/echo/stream", {"input": "x" * 50}, 4)
    assert result.completed == 4
    assert [r.chunks for r in result.results] == [51] * 4
    assert result.peak_rss_bytes > 0


async def _serve_bytes(response: bytes) -> tuple[asyncio.Server, int]:
    """A loopback server that answers any request with ``response``, byte by byte."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await reader.readuntil(b"\r\n\r\n")
        for byte in response:
            writer.write(bytes([byte]))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_sse_client_counts_markers_split_across_reads() -> None:
    events = "".join(
        f'event: data\r\ndata: {{"content": "{c}"}}\r\n\r\n' for c in "abc"
    )
    response = (
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
        f"{events}event: end\r\n\r\n"
    ).encode()
    server, port = await _serve_bytes(response)
    async with server:
        result = await read_stream(f"http://127.0.0.1:{port}/echo/stream", {})
    assert result.chunks == 3
    assert result.completed
    assert result.first_chunk_s is not None


async def test_sse_client_refuses_an_error_status() -> None:
    server, port = await _serve_bytes(b"HTTP/1.1 422 Unprocessable\r\n\r\n{}")
    async with server:
        with pytest.raises(StreamError, match="422"):
            await read_stream(f"http://127.0.0.1:{port}/echo/stream", {})


def test_held_streams_are_open_when_sampled(server: Server) -> None:
    body = {"input": "x", "config": {"configurable": {"first_token_delay": 0.5}}}
    assert held_streams_rss(server, "/echo/stream", body, 2, 0.1) > 0


def test_soak_short_variant() -> None:
    # The CI variant of `python -m benchmarks.soak` (64 streams for 30 s).
    result = soak.run(seconds=4, streams=8)
    assert result.errors == 0
    assert result.completed >= 8
    assert result.growth_mib <= 20  # a 4-second run only catches gross leaks


def test_the_peer_model_has_the_guide_s_flaws() -> None:
    # The baseline must stay the guide's model: sync hooks only, no stop support.
    model = GuideEchoModel(parrot_buffer_length=3)
    assert type(model)._agenerate.__qualname__.startswith("BaseChatModel")
    assert type(model)._astream.__qualname__.startswith("BaseChatModel")
    assert model.invoke("hello", stop=["e"]).content == "hel"


def test_profile_invoke_reports_every_step_and_layer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks import profile_invoke

    profile_invoke.main(requests=192, rounds=1)
    report = capsys.readouterr().out
    for label, _ in profile_invoke.STEPS:
        assert label in report
    for label, _, _ in profile_invoke.LAYERS:
        assert label in report
    assert "100%" in report


def test_openai_bench_tiny_run_without_peers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `python -m benchmarks.openai_bench` in miniature: the bare limit and this
    # server only (the peers install from PyPI, never in a test run).
    from benchmarks import openai_bench

    require_wrk()
    rows = openai_bench.main(
        ["--seconds", "1", "--streams", "4", "--chars", "20", "--no-peers"]
    )
    by_name = {row.name: row for row in rows}
    assert set(by_name) == {
        "bare",
        "echo /v1",
        "echo /v1/messages",
        "echo /v1/responses",
        "echo /v1/embeddings",
        "echo /api/chat",
        "echo /api/generate",
        "echo langserve",
    }
    for name in ("echo /v1/responses", "echo /api/generate", "echo /v1/embeddings"):
        row = by_name[name]
        assert row.rate is not None
        assert row.rate.errors == 0
        if name == "echo /v1/embeddings":
            assert row.streams is None  # embeddings do not stream
        else:
            assert row.streams is not None
            assert (row.streams.completed, row.streams.chunks) == (4, 4 * 20)
    ollama = by_name["echo /api/chat"]
    assert ollama.rate is not None
    assert ollama.rate.errors == 0
    assert ollama.streams is not None
    assert (ollama.streams.completed, ollama.streams.chunks) == (4, 4 * 20)
    messages = by_name["echo /v1/messages"]
    assert messages.rate is not None
    assert messages.rate.errors == 0
    assert messages.streams is not None
    assert (messages.streams.completed, messages.streams.chunks) == (4, 4 * 20)
    v1 = by_name["echo /v1"]
    assert v1.rate is not None
    assert v1.rate.errors == 0
    assert v1.streams is not None
    assert (v1.streams.completed, v1.streams.chunks) == (4, 4 * 20)
    checks = openai_bench.checks(rows)
    assert [c.name for c in checks] == [
        "/v1 req/s vs bare",
        "/api/chat req/s vs /v1",
        "/api/chat chunks/s vs /v1",
        "stream chunks/s vs langserve",
        "4 streams completed",
        "first chunk p99 (ms)",
    ]
    bare = by_name["bare"].rate
    assert bare is not None
    assert checks[0].value == v1.rate.requests_per_second / bare.requests_per_second
    assert checks[1].value == (
        ollama.rate.requests_per_second / v1.rate.requests_per_second
    )
    assert checks[4].value == 4
    assert checks[4].met
    assert checks[5].value == v1.streams.ttfc_p99_ms
    report = capsys.readouterr().out
    for check in checks:
        assert f"{check.name:<30}{check.value:>10.2f}" in report
    for label in (
        "/v1 req/s vs bare",
        "stream chunks/s vs langserve",
        "/api/chat req/s vs /v1",
        "bare",
    ):
        assert label in report


def test_pacing_bench_tiny_run() -> None:
    # `python -m benchmarks.pacing_bench` on 4 short streams, both servers.
    from benchmarks import pacing_bench

    scenario = pacing_bench.Scenario("tiny", streams=4, delay=0.005, chars=10)
    measured, checks = pacing_bench.run([scenario], extras=False, plot_path=None)
    ours, peer = measured
    assert (ours.completed, peer.completed) == (4, 4)
    assert [r.chunks for r in ours.results] == [11] * 4  # and the final chunk
    assert [r.chunks for r in peer.results] == [10] * 4
    assert len(ours.gaps_s()) == 4 * 10
    # One target for a scenario with no timing goal: every stream completed.
    assert checks.lines == [
        "  [    ok] tiny: all streams complete (missing): 0.000 (<= 0)"
    ]
    assert checks.values == {}


def test_profile_routes_reports_each_route_s_costs() -> None:
    from benchmarks import profile_routes

    costs = profile_routes.main(["--requests", "64", "--rounds", "1"])
    layers = {key for key in costs if key.startswith("layers.")}
    assert set(costs) - layers == {
        "bare_us",
        "v1_us",
        "langserve_stream_setup_us",
        "v1_stream_setup_us",
        "langserve_stream_chunk_us",
        "v1_stream_chunk_us",
    }
    assert all(value > 0 for key, value in costs.items() if key in ("bare_us", "v1_us"))
    # Both routes get every layer: the outer middleware, ours but the fast
    # path, the route's five steps and the rest (timed, so noisy: any number).
    for route in ("v1_chat_completions", "v1_messages"):
        mine = {k for k in layers if k.startswith(f"layers.{route}.")}
        assert len(mine) == 1 + (len(profile_routes.MIDDLEWARE) - 1) + 5 + 1
        assert all(math.isfinite(costs[k]) for k in mine)


def test_server_cpu_is_read_from_proc(server: Server) -> None:
    from benchmarks.load import server_cpu_seconds

    before = server_cpu_seconds(server)
    concurrent_streams(server, "/echo/stream", {"input": "x" * 200}, 4)
    assert server_cpu_seconds(server) > before


def test_embedding_dimensions_harness_scores_a_small_corpus() -> None:
    documents = corpus()[:20]
    asked = queries(documents, seed=0, rounds=1)
    assert len(asked) == 20
    assert recall_at_1(documents, asked, 65536) >= 0.5
    assert recall_at_1(documents, asked, 1) < 0.5  # all collide: ties, no hits


def test_embeddings_bench_measures_both_parts() -> None:
    from benchmarks import embeddings_bench

    figures = embeddings_bench.main(["--seconds", "0.6", "--rounds", "1"])
    assert set(figures) == {
        "echo_texts_per_s",
        "fake_texts_per_s",
        "ratio",
        "chat_rps",
        "batch1_rps",
        "batch64_rps",
        "batch64_x_chat",
    }
    assert figures["ratio"] == pytest.approx(
        figures["echo_texts_per_s"] / figures["fake_texts_per_s"]
    )
    assert figures["batch64_x_chat"] == pytest.approx(
        figures["chat_rps"] / figures["batch64_rps"]
    )
    assert all(value > 0 for value in figures.values())


# --- aimock, the Node peer of openai_bench ------------------------------------------


def require_node() -> None:
    """Skip without Node and npm (aimock is installed with npm on first use)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")


def test_committed_aimock_fixtures_are_the_generated_ones() -> None:
    # The file aimock serves is aimock_fixtures(STREAM_CHARS), written out: it
    # must follow the code (and our embedding of "hello") when either changes.
    from benchmarks import openai_bench

    committed = json.loads((openai_bench.AIMOCK_FIXTURES / "bench.json").read_text())
    assert committed == openai_bench.aimock_fixtures(openai_bench.STREAM_CHARS)
    assert [p.name for p in openai_bench.AIMOCK_FIXTURES.iterdir()] == ["bench.json"]


def _reply_text(path: str, body: dict[str, Any]) -> Any:
    """The answer's payload, whichever protocol: the text, or the vector."""
    if path == "/v1/chat/completions":
        return body["choices"][0]["message"]["content"]
    if path == "/v1/messages":
        return body["content"][0]["text"]
    if path == "/v1/responses":
        return body["output"][0]["content"][0]["text"]
    if path == "/v1/embeddings":
        return body["data"][0]["embedding"]
    if path == "/api/chat":
        return body["message"]["content"]
    assert path == "/api/generate"
    return body["response"]


def test_aimock_answers_what_this_server_answers(server: Server) -> None:
    # The peer must do the same work as ours: the same text (and vector) for
    # the benchmark's request on every route, and a stream of the same number
    # of content events, one character each.
    from benchmarks import openai_bench

    require_node()
    chars = openai_bench.STREAM_CHARS
    with openai_bench.serve_aimock(chars) as aimock:
        for route in openai_bench.ROUTES:
            ours = httpx.post(server.url + route.path, json=route.body, timeout=10)
            theirs = httpx.post(aimock.url + route.path, json=route.body, timeout=10)
            assert ours.status_code == theirs.status_code == 200, route.path
            assert _reply_text(route.path, ours.json()) == _reply_text(
                route.path, theirs.json()
            ), route.path
            if route.stream_body is None or route.marks is None:
                continue
            body = route.stream_body("x" * chars)
            for url in (server.url, aimock.url):
                result = asyncio.run(
                    read_stream(url + route.path, body, route.marks, until_end=True)
                )
                assert (result.chunks, result.completed) == (chars, True), url


def test_another_stream_length_gets_its_own_aimock_fixtures() -> None:
    from benchmarks import openai_bench

    directory = openai_bench.aimock_fixture_dir(7)
    assert directory != openai_bench.AIMOCK_FIXTURES
    written = json.loads((directory / "bench.json").read_text())
    assert written == openai_bench.aimock_fixtures(7)
    assert openai_bench.aimock_fixture_dir(openai_bench.STREAM_CHARS) == (
        openai_bench.AIMOCK_FIXTURES
    )


def _rate(rps: float) -> RateResult:
    return RateResult(rps, 1.0, 2.0, 0, 0.5)


def test_ours_against_aimock_route_by_route() -> None:
    from benchmarks.openai_bench import Row, versus_aimock

    rows = [
        Row("echo /v1", _rate(300), stream_chunks_per_s=50.0),
        Row("aimock /v1", _rate(100), stream_chunks_per_s=100.0),
        Row("echo /v1/embeddings", _rate(200)),
        Row("aimock /v1/embeddings", _rate(400)),
        Row("echo /api/chat", _rate(200)),  # aimock skipped: left out
        Row("aimock", skipped="RuntimeError: no node"),
    ]
    assert versus_aimock(rows) == {"/v1": (3.0, 0.5), "/v1/embeddings": (0.5, None)}


def test_the_figures_run_names_aimock_s_rows_and_ratios(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # benchmarks/__main__.py turns the rows into figure keys (no run here).
    from benchmarks import __main__ as run_all
    from benchmarks import openai_bench, results
    from benchmarks.openai_bench import Row

    rows = [Row("bare", _rate(1000)), Row("echo langserve", _rate(100), 10.0)]
    for route in openai_bench.ROUTES:
        streams = 20.0 if route.stream_body else None
        rows.append(Row(f"echo {route.label}", _rate(400), streams))
        rows.append(Row(f"aimock {route.label}", _rate(800), streams and 2 * streams))
    monkeypatch.setattr(openai_bench, "run", lambda *args, **kwargs: rows)
    figures = results.Figures()
    run_all.run_openai_bench(figures, seconds=1, streams=4, chars=20)
    assert figures.values["openai.aimock_v1.rps"]["text"] == "800"
    assert figures.values["openai.aimock_v1messages.wrk_cores"]["text"] == "0.50"
    assert figures.values["openai.echo_v1.x_aimock"]["value"] == 0.5
    assert figures.values["openai.echo_v1responses.stream_x_aimock"]["value"] == 0.5
    assert figures.values["openai.echo_apigenerate.stream_vs_langserve"]["value"] == 2
    assert "openai.echo_v1embeddings.stream_x_aimock" not in figures.values
    assert figures.values["openai.echo_v1embeddings.x_aimock"]["text"] == "0.50"


# --- granian_trial -------------------------------------------------------------------


async def test_the_trial_s_bare_app_streams_one_event_a_character() -> None:
    from benchmarks.granian_trial import bare_app
    from benchmarks.openai_bench import BARE_COMPLETION, CHAT, _chat

    transport = httpx.ASGITransport(app=bare_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        reply = await client.post("/v1/chat/completions", json=CHAT)
        assert reply.json() == BARE_COMPLETION
        streamed = await client.post(
            "/v1/chat/completions", json=_chat("abc", stream=True)
        )
        invoke = await client.post("/echo/invoke", json={"input": "hello"})
    events = [e for e in streamed.text.split("\n\n") if e]
    assert len(events) == 4
    assert events[-1] == "data: [DONE]"
    assert all('"delta":{"content":"x"}' in event for event in events[:3])
    assert invoke.json()["output"]["content"] == "hello"


def test_both_servers_serve_the_same_factory_with_one_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks import granian_trial

    monkeypatch.setattr(granian_trial, "install_granian", lambda: "/venv/bin/python")
    factory = granian_trial.FACTORIES["echo"]
    uvicorn = granian_trial.command("uvicorn", factory)
    granian = granian_trial.command("granian", factory)
    assert uvicorn[-1] == granian[-1] == "echo_model.serving.app:create_app"
    assert {"--factory", "uvloop", "httptools"} <= set(uvicorn)
    assert granian[:3] == ["/venv/bin/python", "-m", "granian"]
    assert {"--factory", "asgi", "uvloop"} <= set(granian)
    assert granian[granian.index("--workers") + 1] == "1"


def test_granian_trial_ratios_are_granian_over_uvicorn() -> None:
    from benchmarks.granian_trial import Trial, figures

    trials = [
        Trial("echo", "uvicorn", _rate(100), _rate(50), 1000.0, 0.1),
        Trial("echo", "granian", _rate(200), _rate(25), 500.0, 0.1),
    ]
    found = figures(trials)
    assert found["echo.v1_x_uvicorn"] == 2.0
    assert found["echo.invoke_x_uvicorn"] == 0.5
    assert found["echo.stream_x_uvicorn"] == 0.5
    assert found["echo.granian.v1_rps"] == 200
    assert "bare.v1_x_uvicorn" not in found  # bare was not measured


def test_keep_alive_probe_reuses_a_connection(server: Server) -> None:
    from benchmarks.granian_trial import keep_alive

    reused, closed_after = keep_alive(server, idle_s=0.2)
    assert reused
    assert closed_after is None  # the server keeps idle connections 75 s


# --- aiperf, memory and sizing ---------------------------------------------

AIPERF_SAMPLE = Path(__file__).parent / "data" / "aiperf"


def _aiperf_sample() -> dict[str, Any]:
    return json.loads((AIPERF_SAMPLE / "profile_export_aiperf.json").read_text())


def test_aiperf_summary_export_is_parsed() -> None:
    # A run of 200 streamed requests, 16 at a time, 10 ms a token (trimmed).
    from benchmarks import aiperf_run

    result = aiperf_run.parse_profile(_aiperf_sample())
    assert (result.requests, result.errors) == (200, 0)
    assert result.request_throughput == pytest.approx(13.0897)
    assert result.itl.unit == "ms"
    assert result.itl.p50 == pytest.approx(10.1535)
    assert result.ttft.min <= result.ttft.p5 <= result.ttft.p50 <= result.ttft.p99
    assert result.ttst.p5 == 0.0  # two tokens in one read: the second at once
    assert (result.output_length.min, result.output_length.max) == (100, 100)
    assert result.output_length.count == 200
    assert result.input_length.p50 == 120


def test_aiperf_errors_are_counted_from_its_error_summary() -> None:
    from benchmarks import aiperf_run

    sample = _aiperf_sample()
    sample["error_summary"] = [
        {"error_details": {"code": 500, "type": "Internal"}, "count": 3},
        {"error_details": {"code": None, "type": "ReadError"}, "count": 2},
    ]
    assert aiperf_run.parse_profile(sample).errors == 5


def test_aiperf_server_metrics_export_keeps_the_vllm_series() -> None:
    from benchmarks import aiperf_run

    data = json.loads((AIPERF_SAMPLE / "server_metrics_export.json").read_text())
    # A counter's series (one per finished_reason) are summed.
    reasons = data["metrics"]["vllm:request_success"]["series"]
    length = reasons[0]["stats"]["total"]
    reasons.append(
        {
            "labels": {"finished_reason": "stop", "model_name": "echo"},
            "stats": {"total": 3.0, "rate": 0.2},
        }
    )
    server = aiperf_run.parse_server_metrics(data)
    assert set(server) == {
        "vllm:generation_tokens",
        "vllm:inter_token_latency_seconds",
        "vllm:num_requests_running",
        "vllm:request_success",
        "vllm:time_to_first_token_seconds",
    }
    assert server["vllm:request_success"]["total"] == length + 3
    itl = server["vllm:inter_token_latency_seconds"]
    assert itl["avg"] == pytest.approx(itl["sum"] / itl["count"])
    assert itl["avg"] == pytest.approx(0.010, rel=0.05)
    assert server["vllm:num_requests_running"]["max"] == 16


def test_aiperf_checks_say_which_acceptance_targets_were_met() -> None:
    from benchmarks import aiperf_run

    plan = aiperf_run.Plan()
    result = aiperf_run.parse_profile(_aiperf_sample())
    data = json.loads((AIPERF_SAMPLE / "server_metrics_export.json").read_text())
    result.server = aiperf_run.parse_server_metrics(data)
    checks = {c.name: c for c in aiperf_run.checks(result, plan)}
    assert checks["requests completed"].met
    assert checks["request errors"].met
    assert checks["ITL p50 vs asked, relative"].value == pytest.approx(
        abs(10.1535 / 10 - 1)
    )
    assert checks["ITL p50 vs asked, relative"].met
    assert checks["output length min = max (tokens)"].met
    assert checks["server's ITL mean vs asked, relative"].met
    ttst = checks["time to 2nd token p5 / asked ITL"]
    assert (ttst.value, ttst.met) == (0.0, False)
    # One output shorter than asked: the lengths are no longer exact.
    short = dataclasses.replace(
        result, output_length=dataclasses.replace(result.output_length, min=99.0)
    )
    lengths = {c.name: c for c in aiperf_run.checks(short, plan)}
    assert not lengths["output length min = max (tokens)"].met


def test_aiperf_command_asks_for_the_issue_s_run(tmp_path: Path) -> None:
    from benchmarks import aiperf_run

    plan = aiperf_run.Plan()
    command = aiperf_run.aiperf_command(
        tmp_path / "aiperf",
        "http://127.0.0.1:9",
        tmp_path / "tok",
        tmp_path / "out",
        plan,
    )

    def value(flag: str) -> str:
        return command[command.index(flag) + 1]

    assert command[1] == "profile"
    assert "--streaming" in command
    assert value("--endpoint-type") == "chat"
    assert (value("--request-count"), value("--concurrency")) == ("200", "16")
    assert value("--tokenizer") == str(tmp_path / "tok")
    assert json.loads(value("--extra-inputs")) == {
        "echo": {"first_token_delay": 0.05, "token_delay": 0.01}
    }
    assert int(value("--synthetic-input-tokens-mean")) > int(
        value("--output-tokens-mean")
    )  # the echo is cut at max_tokens: every reply exactly as long


def test_aiperf_is_found_from_its_variable_or_path(tmp_path: Path) -> None:
    from benchmarks import aiperf_run

    executable = tmp_path / "aiperf"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    empty = str(tmp_path / "nowhere")
    assert aiperf_run.find_aiperf({"AIPERF": str(executable)}) == executable
    assert aiperf_run.find_aiperf({"PATH": str(tmp_path)}) == executable
    assert aiperf_run.find_aiperf({"PATH": empty}) is None
    assert aiperf_run.find_aiperf({"AIPERF": empty, "PATH": empty}) is None


def test_aiperf_against_the_server_when_installed() -> None:
    from benchmarks import aiperf_run

    aiperf = aiperf_run.find_aiperf()
    if aiperf is None:
        pytest.skip("aiperf is not installed (its own venv; set $AIPERF)")
    plan = aiperf_run.Plan(requests=16, concurrency=4)
    result = aiperf_run.run(aiperf, plan)
    assert (result.requests, result.errors) == (16, 0)
    assert result.output_length.min == result.output_length.max == 100
    assert "vllm:inter_token_latency_seconds" in result.server


def test_rss_per_stream_arithmetic() -> None:
    from benchmarks import memory_bench

    mib = memory_bench.MIB
    assert memory_bench.per_stream_mib(100 * mib, 110 * mib, 10) == 1.0
    assert memory_bench.per_stream_mib(100 * mib, 99 * mib, 10) == 0.0
    with pytest.raises(ValueError, match="at least 1"):
        memory_bench.per_stream_mib(0, mib, 0)
    memory = memory_bench.Memory(
        route="v1",
        idle_rss=100 * mib,
        idle_streams=200,
        idle_open=200,
        idle_streams_rss=110 * mib,
        one_stream_before=104 * mib,
        one_stream_peak=105 * mib,
        long_streams=32,
        long_streams_peak=116 * mib,
        after_rss=98 * mib,
    )
    assert memory.idle_mib == 100
    assert memory.per_idle_stream_kib == pytest.approx(10 * 1024 / 200)
    assert memory.one_stream_growth_mib == 1.0
    assert memory.per_long_stream_mib == 0.5
    assert memory.retained_mib == -2.0
    assert memory_bench.row(memory).split() == [
        "v1", "100.0", "200/200", "51.2", "1.00", "0.500", "-2.0"
    ]  # fmt: skip


@pytest.mark.slow
def test_memory_bench_tiny_run() -> None:
    from benchmarks import memory_bench

    memory = memory_bench.measure(memory_bench.ROUTES[0], 4, 2, chars=100, hold=3.0)
    assert memory.idle_open == 4  # the server held every idle stream open
    assert memory.idle_rss > 0
    assert memory.long_streams_peak >= memory.idle_rss


def test_pacing_sizing_flags_make_one_case() -> None:
    from benchmarks import pacing_bench

    def parse(*argv: str) -> pacing_bench.Pace | None:
        return pacing_bench.pace_from(pacing_bench.parser().parse_args(argv))

    assert parse() is None  # the full run
    assert parse("--no-plot") is None
    assert parse("--streams", "100") == pacing_bench.Pace(100, 0.3, 0.03, 100)
    pace = parse(
        "--streams", "64", "--first-token-delay", "0.02", "--token-delay", "0.02",
        "--chars", "50",
    )  # fmt: skip
    assert pace == pacing_bench.Pace(64, 0.02, 0.02, 50)
    # --url alone: the first default case, on that server.
    assert parse("--url", "http://127.0.0.1:8000") == pacing_bench.SIZING[0]


def test_pace_names_rates_and_ideal() -> None:
    from benchmarks import pacing_bench

    pace = pacing_bench.Pace(40, 0.3, 0.03)
    assert (pace.name, pace.key) == ("40 x 300/30 ms", "40x300_30ms")
    assert pace.token_rate == pytest.approx(40 / 0.03)
    assert pace.ideal_s == pytest.approx(0.3 + 99 * 0.03)
    body = pace.body()
    assert body["stream"] is True
    assert body["echo"] == {"first_token_delay": 0.3, "token_delay": 0.03}
    assert len(body["messages"][0]["content"]) == 100


def test_sized_arithmetic_and_unknown_cpu() -> None:
    from benchmarks import pacing_bench
    from benchmarks.load import StreamResult

    pace = pacing_bench.Pace(2, 0.1, 0.01, chars=10)  # ideal 0.19 s
    results = [
        StreamResult(chunks=10, first_chunk_s=0.1, total_s=0.19, completed=True),
        StreamResult(chunks=10, first_chunk_s=0.2, total_s=0.38, completed=True),
    ]
    known = pacing_bench.Sized(pace, results, wall_s=0.4, server_cpu_s=0.002)
    assert (known.completed, known.chunks) == (2, 20)
    assert known.cpu_us_per_chunk() == pytest.approx(100)
    assert known.server_cores() == pytest.approx(0.005)
    assert 1.0 <= known.stretch_p99() <= 2.0
    assert 100 <= known.ttft_p99_ms() <= 200
    unknown = pacing_bench.Sized(pace, results, wall_s=0.4, server_cpu_s=None)
    assert unknown.cpu_us_per_chunk() is None
    assert unknown.server_cores() is None
    assert pacing_bench.sizing_row(unknown).split()[-2:] == ["unknown", "unknown"]


@pytest.mark.slow
def test_sizing_on_a_started_server_and_on_a_running_one(server: Server) -> None:
    from benchmarks import pacing_bench

    pace = pacing_bench.Pace(4, 0.01, 0.005, chars=10)
    ours = pacing_bench.measure_pace(pace)
    assert (ours.completed, ours.chunks) == (4, 40)
    assert ours.cpu_us_per_chunk() is not None
    theirs = pacing_bench.measure_pace(pace, server.url)
    assert (theirs.completed, theirs.chunks) == (4, 40)
    assert theirs.cpu_us_per_chunk() is None
