"""Smoke tests of the benchmark tools, so they keep working; no timing asserted."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
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
    assert set(costs) == {
        "bare_us",
        "v1_us",
        "langserve_stream_setup_us",
        "v1_stream_setup_us",
        "langserve_stream_chunk_us",
        "v1_stream_chunk_us",
    }
    assert all(value > 0 for key, value in costs.items() if "chunk" not in key)


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
