"""The real server, started as the README says, used over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langserve import RemoteRunnable

from echo_model import EchoChatModel
from tests.support.live_server import ROOT, LiveServer, live_group_members, run_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_startup_prints_where_the_playground_is(live_server: LiveServer) -> None:
    log = live_server.log()
    assert f"playground at {live_server.url}/echo/playground/" in log
    assert f"{live_server.url}/chat/playground/" in log


def test_health_and_index_over_http(live_server: LiveServer) -> None:
    assert httpx.get(live_server.url + "/health").json()["status"] == "ok"
    assert httpx.get(live_server.url + "/").json()["playground"] == "/echo/playground/"


# --- RemoteRunnable behaves like the local model -----------------------------


@pytest.fixture
def remote(live_server: LiveServer) -> Iterator[RemoteRunnable]:
    runnable = RemoteRunnable(live_server.url + "/echo/")
    yield runnable
    runnable.sync_client.close()


@pytest.fixture
async def aremote(live_server: LiveServer) -> AsyncIterator[RemoteRunnable]:
    # Closed on the loop that used it: RemoteRunnable would otherwise close it
    # at garbage collection, on a loop that no longer exists.
    runnable = RemoteRunnable(live_server.url + "/echo/")
    yield runnable
    await runnable.async_client.aclose()


LOCAL = EchoChatModel()


def same_message(remote_msg: Any, local_msg: Any) -> None:
    assert type(remote_msg) is type(local_msg)
    assert remote_msg.content == local_msg.content
    assert remote_msg.usage_metadata == local_msg.usage_metadata
    assert remote_msg.response_metadata == local_msg.response_metadata


def same_chunks(remote_chunks: list[Any], local_chunks: list[Any]) -> None:
    assert [type(c) for c in remote_chunks] == [type(c) for c in local_chunks]
    assert [c.content for c in remote_chunks] == [c.content for c in local_chunks]
    assert [c.chunk_position for c in remote_chunks] == [
        c.chunk_position for c in local_chunks
    ]
    assert [c.usage_metadata for c in remote_chunks] == [
        c.usage_metadata for c in local_chunks
    ]
    assert [c.response_metadata for c in remote_chunks] == [
        c.response_metadata for c in local_chunks
    ]


INPUTS = ["hello", "", "héllo 🦜 wörld"]


@pytest.mark.parametrize("value", INPUTS)
def test_remote_invoke(remote: RemoteRunnable, value: str) -> None:
    result = remote.invoke(value)
    assert isinstance(result, AIMessage)
    same_message(result, LOCAL.invoke(value))


async def test_remote_ainvoke(aremote: RemoteRunnable) -> None:
    same_message(await aremote.ainvoke("hello"), await LOCAL.ainvoke("hello"))


def test_remote_batch(remote: RemoteRunnable) -> None:
    pairs = zip(remote.batch(INPUTS), LOCAL.batch(INPUTS), strict=True)
    for remote_msg, local_msg in pairs:
        same_message(remote_msg, local_msg)


async def test_remote_abatch(aremote: RemoteRunnable) -> None:
    pairs = zip(await aremote.abatch(INPUTS), await LOCAL.abatch(INPUTS), strict=True)
    for remote_msg, local_msg in pairs:
        same_message(remote_msg, local_msg)


@pytest.mark.parametrize("value", INPUTS)
def test_remote_stream(remote: RemoteRunnable, value: str) -> None:
    remote_chunks = list(remote.stream(value))
    assert all(isinstance(c, AIMessageChunk) for c in remote_chunks)
    same_chunks(remote_chunks, list(LOCAL.stream(value)))


async def test_remote_astream(aremote: RemoteRunnable) -> None:
    remote_chunks = [c async for c in aremote.astream("cat")]
    same_chunks(remote_chunks, [c async for c in LOCAL.astream("cat")])


async def test_remote_astream_events(aremote: RemoteRunnable) -> None:
    remote_events = [e async for e in aremote.astream_events("cat", version="v2")]
    local_events = [e async for e in LOCAL.astream_events("cat", version="v2")]
    assert [e["event"] for e in remote_events] == [e["event"] for e in local_events]
    remote_chunks = [e["data"]["chunk"] for e in remote_events[1:-1]]
    local_chunks = [e["data"]["chunk"] for e in local_events[1:-1]]
    same_chunks(remote_chunks, local_chunks)
    remote_out, local_out = (
        remote_events[-1]["data"]["output"],
        local_events[-1]["data"]["output"],
    )
    assert remote_out.content == local_out.content == "cat"
    assert remote_out.usage_metadata == local_out.usage_metadata
    assert set(remote_out.response_metadata) == set(local_out.response_metadata)


@pytest.mark.parametrize(
    ("configurable", "kwargs"),
    [
        ({"n": 3}, {"n": 3}),
        ({"stop": ["l"]}, {"stop": ["l"]}),
        ({"n": 2, "stop": ["zz"]}, {"n": 2, "stop": ["zz"]}),
    ],
)
def test_remote_configurable_matches_local_fields(
    remote: RemoteRunnable, configurable: dict, kwargs: dict
) -> None:
    configured = remote.with_config(configurable=configurable)
    local = EchoChatModel(**kwargs)
    same_message(configured.invoke("hello"), local.invoke("hello"))
    same_chunks(list(configured.stream("hello")), list(local.stream("hello")))


def test_remote_invalid_configurable_raises_a_clear_error(
    remote: RemoteRunnable,
) -> None:
    with pytest.raises(httpx.HTTPStatusError) as excinfo:
        remote.with_config(configurable={"n": -1}).invoke("hello")
    assert excinfo.value.response.status_code == 422
    assert "greater than or equal to 0" in excinfo.value.response.text


# --- Starting and stopping ---------------------------------------------------


def test_flags_and_environment_set_the_defaults(tmp_path: Path) -> None:
    env = {"ECHO_N": "2", "ECHO_MODEL_NAME": "from-env"}
    with run_server(tmp_path, args=["--model-name", "from-flag"], env=env) as server:
        output = httpx.post(server.url + "/echo/invoke", json={"input": "hello"}).json()
    assert output["output"]["content"] == "he"  # ECHO_N
    assert output["output"]["response_metadata"]["model_name"] == "from-flag"


def test_the_model_s_api_key_variable_does_not_lock_the_server(
    tmp_path: Path,
) -> None:
    # The model's docstring says `export ECHO_API_KEY=...`: it never locks the
    # server (whose key is ECHO_SERVER_API_KEY); set alone, the server refuses
    # to start open (tests/e2e/test_flags.py), so here it comes with a key.
    env = {"ECHO_API_KEY": "optional", "ECHO_SERVER_API_KEY": "k"}
    with run_server(tmp_path, env=env) as server:
        response = httpx.post(
            server.url + "/echo/invoke",
            json={"input": "hi"},
            headers={"Authorization": "Bearer optional"},
        )
    assert response.status_code == 401
    with run_server(tmp_path, env={"ECHO_SERVER_API_KEY": "k"}) as server:
        response = httpx.post(server.url + "/echo/invoke", json={"input": "hi"})
    assert response.status_code == 401


@pytest.mark.parametrize("workers", [1, 2])
def test_the_app_is_built_once_per_process(tmp_path: Path, workers: int) -> None:
    marker = "echo-model app created in process"
    with run_server(tmp_path, args=["--workers", str(workers)]) as server:
        assert httpx.get(server.url + "/health").status_code == 200
        # The first worker up answers /health; give the others time to start.
        deadline = time.monotonic() + 20
        while server.log().count(marker) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a second build in any process would show by now
        log = server.log()
    assert log.count(marker) == workers
    pids = {line.rsplit(" ", 1)[-1] for line in log.splitlines() if marker in line}
    assert len(pids) == workers  # one build in each worker, none in the parent


def test_bad_environment_value_is_a_clear_startup_error() -> None:
    result = subprocess.run(
        [sys.executable, "server.py", "--help"],
        cwd=ROOT,
        env={**os.environ, "ECHO_PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "ECHO_PORT='eighty': must be an integer 1..65535" in result.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "echo-server"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Serve EchoChatModel over HTTP" in result.stdout


def test_help_lists_every_flag_with_its_variable() -> None:
    result = subprocess.run(
        [sys.executable, "server.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for flag, env in [
        ("--port", "ECHO_PORT"),
        ("--n", "ECHO_N"),
        ("--workers", "ECHO_WORKERS"),
    ]:
        assert flag in result.stdout
        assert env in result.stdout


@pytest.mark.parametrize("workers", [1, 2])
def test_server_stops_cleanly_on_sigterm(tmp_path: Path, workers: int) -> None:
    with run_server(tmp_path, args=["--workers", str(workers)]) as server:
        assert httpx.get(server.url + "/health").status_code == 200
        os.killpg(server.process.pid, signal.SIGTERM)
        assert server.process.wait(30) == 0
        assert live_group_members(server.process.pid) == []  # workers gone too
