"""Over real HTTP, what the manifests count on: start, readiness, drain, bind rule.

The server runs the way the pod runs it (the image's and the Deployment's
variables), bound to 127.0.0.1 where the pod binds 0.0.0.0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from echo_model.serving.cli import unsafe_bind
from echo_model.serving.settings import Settings, parse_settings
from tests.deploy.files import pod_environment, read_manifests, server_container
from tests.support.live_server import run_server
from tests.support.processes import ROOT, free_port, stop_process_group

KEY = "deploy-test-key-7f3a"  # a test value
MANIFESTS = read_manifests()
CONTAINER = server_container(MANIFESTS)
POD = MANIFESTS["Deployment"]["spec"]["template"]["spec"]


# --- Bind safety -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--host", "0.0.0.0"], {}),
        (["--host", "::"], {}),
        (["--host", "echo.example"], {}),
        ([], {"ECHO_HOST": "0.0.0.0"}),
        (["--host", "0.0.0.0", "--no-allow-unauthenticated"], {}),
    ],
)
def test_non_loopback_host_without_a_key_refuses_to_start(
    args: list[str], env: dict[str, str]
) -> None:
    result = subprocess.run(
        [sys.executable, "server.py", "--port", str(free_port()), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2  # a refused start, as a bad flag's
    assert "refusing to serve --host" in result.stderr
    assert "ECHO_SERVER_API_KEY" in result.stderr
    assert "--allow-unauthenticated" in result.stderr
    assert "Uvicorn running" not in result.stdout + result.stderr


def test_all_interfaces_with_a_key_start_and_require_it(tmp_path: Path) -> None:
    args = ["--host", "0.0.0.0"]
    with run_server(tmp_path, args=args, env={"ECHO_SERVER_API_KEY": KEY}) as server:
        url = server.url + "/echo/invoke"
        assert httpx.post(url, json={"input": "hi"}).status_code == 401
        authorized = {"Authorization": f"Bearer {KEY}"}
        reply = httpx.post(url, json={"input": "hi"}, headers=authorized)
        assert reply.json()["output"]["content"] == "hi"


@pytest.mark.parametrize(
    "settings",
    [
        Settings(host="0.0.0.0", allow_unauthenticated=True),
        Settings(host="::", allow_unauthenticated=True),
        Settings(host="localhost"),
        Settings(host="::1"),
    ],
    ids=["opt-out", "opt-out v6", "localhost", "::1"],
)
def test_an_opt_out_or_a_loopback_host_needs_no_key(settings: Settings) -> None:
    assert unsafe_bind(settings) is None


@given(st.ip_addresses(v=4, network="127.0.0.0/8"))
def test_every_ipv4_loopback_address_needs_no_key(address: Any) -> None:
    assert unsafe_bind(Settings(host=str(address))) is None


@given(st.ip_addresses().filter(lambda address: not address.is_loopback))
def test_every_other_address_needs_a_key(address: Any) -> None:
    assert unsafe_bind(Settings(host=str(address))) is not None


# --- Start, readiness and drain ------------------------------------------------


def test_ready_means_ready_health_answers_only_once_the_model_does(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **pod_environment(CONTAINER, KEY), "ECHO_HOST": "127.0.0.1"}
    with (tmp_path / "server.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "server.py", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        statuses = []
        deadline = time.monotonic() + 60
        while not statuses or statuses[-1] != 200:
            assert time.monotonic() < deadline, "never became ready"
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                statuses.append(httpx.get(url + "/health", timeout=2).status_code)
            except httpx.TransportError:
                time.sleep(0.01)
        # The first 200 comes only when the model answers: never an error first.
        assert statuses == [200]
        reply = httpx.post(
            url + "/echo/invoke",
            json={"input": "ready"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert reply.json()["output"]["content"] == "ready"
    finally:
        stop_process_group(process)


async def test_sigterm_drains_streams_and_health_answers_until_the_listener_closes(
    tmp_path: Path,
) -> None:
    env = {**pod_environment(CONTAINER, KEY), "ECHO_HOST": "127.0.0.1"}
    with run_server(tmp_path, env=env) as server:
        characters, delay = 40, 0.05
        body = {
            "input": "x" * characters,
            "config": {"configurable": {"token_delay": delay}},
        }
        probes: list[int | str] = []
        events: list[str] = []
        headers = {"Authorization": f"Bearer {KEY}"}
        # Like the kubelet: a new connection for every probe.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        async with (
            httpx.AsyncClient(timeout=30, headers=headers) as client,
            httpx.AsyncClient(timeout=2, limits=no_reuse) as prober,
        ):

            async def probe_until_refused() -> None:
                while True:
                    try:
                        response = await prober.get(server.url + "/health")
                    except httpx.TransportError:  # refused, or cut at the close
                        probes.append("down")
                        return
                    probes.append(response.status_code)
                    await asyncio.sleep(0.02)

            async with client.stream(
                "POST", server.url + "/echo/stream", json=body
            ) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("event:"):
                        continue
                    events.append(line.removeprefix("event: "))
                    if events.count("data") == 3 and events[-1] == "data":
                        prober_task = asyncio.create_task(probe_until_refused())
                        await asyncio.sleep(0.2)
                        stopped_at = time.monotonic()
                        os.killpg(server.process.pid, signal.SIGTERM)
            await asyncio.wait_for(prober_task, 10)
            code = await asyncio.to_thread(server.process.wait, 60)
            drained_in = time.monotonic() - stopped_at
    # Health said 200 until the listener closed; then connections were refused.
    assert probes[-1] == "down"
    assert set(probes[:-1]) == {200}
    assert len(probes) > 3  # probed before SIGTERM as well as after
    # The open stream finished in full, and the server then left at once, well
    # inside the drain limit and the pod's grace period.
    assert events.count("data") == characters + 1
    assert events[-1] == "end"
    assert code == 0
    limit = parse_settings([], pod_environment(CONTAINER, KEY)).graceful_timeout
    assert drained_in < limit < POD["terminationGracePeriodSeconds"]
