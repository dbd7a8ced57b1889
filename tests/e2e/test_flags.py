"""Over a real ``python server.py``: the latency and engine flags and their
variables, and what the command line does at start (bad values, a taken port,
the banner, the model's API key variable).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live_server import LiveServer, run_server
from tests.support.processes import ROOT, free_port, stop_process_group

#: Latency defaults given to the server, checked in the served model.
LATENCY = {
    "first_token_delay": "0.2",
    "token_delay": "0.02",
    "ttft_spread": "0.05",
    "itl_spread": "0.005",
    "prefill_per_token": "0.001",
    "latency_seed": "1",
}


def as_flags(values: dict[str, str]) -> list[str]:
    return [f"--{name.replace('_', '-')}={value}" for name, value in values.items()]


def as_variables(values: dict[str, str]) -> dict[str, str]:
    return {f"ECHO_{name.upper()}": value for name, value in values.items()}


def served(
    tmp_path_factory: pytest.TempPathFactory, source: str, values: dict[str, str]
) -> Iterator[LiveServer]:
    """A server given ``values`` as flags or as variables."""
    args, env = (
        (as_flags(values), {}) if source == "flag" else ([], as_variables(values))
    )
    with run_server(tmp_path_factory.mktemp("flags"), args, env) as server:
        yield server


@pytest.fixture(scope="module", params=["flag", "variable"])
def latency_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    yield from served(tmp_path_factory, request.param, {**LATENCY, "step_growth": "1"})


@pytest.fixture(scope="module", params=["flag", "variable"])
def queueing_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    yield from served(tmp_path_factory, request.param, {"max_num_seqs": "1"})


def scrape(server: LiveServer) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "le" not in sample.labels and "finished_reason" not in sample.labels
    }


async def streams_at_once(
    server: LiveServer, count: int, echo: dict[str, float]
) -> None:
    """Stream ``count`` 5-character /v1 replies at once, each to its end."""
    body = {
        "model": "echo",
        "messages": [{"role": "user", "content": "abcde"}],
        "stream": True,
        "echo": echo,
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

        async def one() -> None:
            async with client.stream("POST", "/v1/chat/completions", json=body) as r:
                assert r.status_code == 200
                async for _ in r.aiter_lines():
                    pass

        await asyncio.gather(*(one() for _ in range(count)))


def test_latency_defaults_reach_the_served_model(latency_server: LiveServer) -> None:
    schema = httpx.get(latency_server.url + "/echo/config_schema").json()
    defaults = schema["$defs"]["Configurable"]["properties"]
    for name, text in LATENCY.items():
        assert defaults[name]["default"] == pytest.approx(float(text)), name


def test_first_token_delay_shows_in_the_time_to_first_token(
    latency_server: LiveServer,
) -> None:
    before = scrape(latency_server)
    asyncio.run(streams_at_once(latency_server, 1, {}))
    after = scrape(latency_server)
    ttft = after["vllm:time_to_first_token_seconds_sum"] - before.get(
        "vllm:time_to_first_token_seconds_sum", 0
    )
    # 0.2 s, moved by the seeded spread (0.05) and the prefill (a few ms).
    assert 0.1 <= ttft <= 0.4


def test_step_growth_stretches_the_gaps_of_concurrent_streams(
    latency_server: LiveServer,
) -> None:
    before = scrape(latency_server)
    asyncio.run(streams_at_once(latency_server, 2, {"token_delay": 0.05}))
    after = scrape(latency_server)
    itl = after["vllm:inter_token_latency_seconds_sum"] - before.get(
        "vllm:inter_token_latency_seconds_sum", 0
    )
    # Eight gaps of 0.05 s would be 0.4 s; doubled while both run.
    assert itl >= 0.55


def test_max_num_seqs_makes_a_second_stream_wait(queueing_server: LiveServer) -> None:
    before = scrape(queueing_server)
    asyncio.run(streams_at_once(queueing_server, 2, {"token_delay": 0.05}))
    after = scrape(queueing_server)
    queued = after["vllm:request_queue_time_seconds_sum"] - before.get(
        "vllm:request_queue_time_seconds_sum", 0
    )
    assert queued >= 0.1  # the second waited for the first's four gaps


# --- Start-up -------------------------------------------------------------------


def start(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "server.py", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_model_s_key_alone_stops_the_start() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ECHO_")}
    result = subprocess.run(
        [sys.executable, "server.py", "--port", str(free_port())],
        cwd=ROOT,
        env={**clean, "ECHO_API_KEY": "meant-for-the-server"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert "ECHO_SERVER_API_KEY" in line
    assert "meant-for-the-server" not in line


def test_the_model_s_key_with_a_server_key_starts(tmp_path: Path) -> None:
    env = {"ECHO_API_KEY": "model-key", "ECHO_SERVER_API_KEY": "server-key"}
    with run_server(tmp_path, env=env) as server:
        assert httpx.get(server.url + "/v1/models").status_code == 401


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_taken_port_is_one_line_and_exit_2(workers: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start(["--port", str(port), "--workers", workers])
    assert result.returncode == 2
    assert result.stdout == ""  # no banner
    assert result.stderr.splitlines() == [
        f"echo-server: port {port} on 127.0.0.1 is already in use (Address already"
        " in use); choose another with --port or ECHO_PORT"
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_banner_comes_once_the_port_is_bound(tmp_path: Path, workers: str) -> None:
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "server.py", "--port", str(port), "--workers", workers],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "playground at" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        # The moment the banner is out, the port is ours and takes connections.
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        assert (
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=60).status_code == 200
        )
    finally:
        stop_process_group(process)
