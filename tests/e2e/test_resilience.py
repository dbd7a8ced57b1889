"""The real server under misbehaving clients, faults, keys and shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from langserve import RemoteRunnable

from tests.support.live_server import LiveServer, live_group_members, run_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

KEY = "resilience-test-key-52c0"  # a test value, checked for leaks


def stats(server: LiveServer, **headers: str) -> dict[str, int]:
    return httpx.get(server.url + "/stats", headers=headers).json()


def wait_until_idle(server: LiveServer, timeout: float = 10) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while (current := stats(server))["active"] and time.monotonic() < deadline:
        time.sleep(0.02)
    return current


# --- Authentication over HTTP ------------------------------------------------


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    env = {"ECHO_SERVER_API_KEY": KEY}
    with run_server(tmp_path_factory.mktemp("locked"), env=env) as server:
        yield server


def test_remote_runnable_with_the_key_in_headers(locked_server: LiveServer) -> None:
    remote = RemoteRunnable(
        locked_server.url + "/echo/", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert remote.invoke("hello").content == "hello"
    assert [c.content for c in remote.stream("ab")] == ["a", "b", ""]
    remote.sync_client.close()


def test_remote_runnable_without_the_key_gets_401(locked_server: LiveServer) -> None:
    remote = RemoteRunnable(locked_server.url + "/echo/")
    with pytest.raises(httpx.HTTPStatusError) as excinfo:
        remote.invoke("hello")
    assert excinfo.value.response.status_code == 401
    remote.sync_client.close()


def test_health_is_open_and_startup_says_a_key_is_required(
    locked_server: LiveServer,
) -> None:
    assert httpx.get(locked_server.url + "/health").status_code == 200
    log = locked_server.log()
    assert "API key required" in log
    assert KEY not in log


def test_without_a_key_startup_says_it_is_local_only(live_server: LiveServer) -> None:
    assert "no API key set: open to anyone on this machine" in live_server.log()


# --- Errors reach clients clearly --------------------------------------------


@pytest.fixture
def remote(live_server: LiveServer) -> RemoteRunnable:
    runnable = RemoteRunnable(live_server.url + "/echo/")
    yield runnable
    runnable.sync_client.close()


def test_remote_invoke_of_a_failing_model_raises_with_type_and_message(
    remote: RemoteRunnable,
) -> None:
    failing = remote.with_config(configurable={"fail_after_chunks": 0})
    with pytest.raises(httpx.HTTPStatusError) as excinfo:
        failing.invoke("hello")
    assert excinfo.value.response.status_code == 500
    assert excinfo.value.response.json()["type"] == "EchoFaultError"
    assert "injected failure" in excinfo.value.response.json()["detail"]


def test_remote_stream_of_a_failing_model_gives_chunks_then_raises(
    remote: RemoteRunnable,
) -> None:
    failing = remote.with_config(configurable={"fail_after_chunks": 2})
    received: list[str] = []

    def consume() -> None:
        for chunk in failing.stream("hello"):
            received.append(chunk.content)

    with pytest.raises(httpx.HTTPStatusError) as excinfo:
        consume()
    assert received == ["h", "e"]
    assert excinfo.value.response.status_code == 500


def test_seeded_error_rate_over_http_fails_the_same_inputs_every_time(
    remote: RemoteRunnable,
) -> None:
    flaky = remote.with_config(configurable={"error_rate": 0.5, "seed": 3})

    def outcomes() -> list[bool]:
        # True: the reply; False: the injected fault, a 500 naming EchoFaultError.
        # Any other error (an unexpected 500, a 4xx) is raised and fails the test.
        results = []
        for index in range(20):
            try:
                reply = flaky.invoke(f"request {index}")
            except httpx.HTTPStatusError as error:
                body = error.response.json()
                if (error.response.status_code, body.get("type")) != (
                    500,
                    "EchoFaultError",
                ):
                    raise
                assert "injected failure" in body["detail"]
                results.append(False)
            else:
                assert reply.content == f"request {index}"
                results.append(True)
        return results

    first = outcomes()
    assert 3 <= first.count(False) <= 17
    assert outcomes() == first


def test_server_keeps_serving_after_errors(remote: RemoteRunnable) -> None:
    failing = remote.with_config(configurable={"fail_after_chunks": 1})
    for _ in range(3):
        with pytest.raises(httpx.HTTPStatusError):
            list(failing.stream("hello"))
    assert remote.invoke("still here").content == "still here"


# --- Bad requests are refused before any work ---------------------------------

NO_MIME_TYPE = {"type": "image", "base64": "aGk="}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {"input": [{"type": "human", "content": [NO_MIME_TYPE]}]},
            ["body", "input", 0, "content", 0],
        ),
        (
            {"input": "hi", "config": {"configurable": {"seed": 2**64}}},
            ["body", "config", "configurable", "seed"],
        ),
        (
            {"input": "hi", "config": {"configurable": {"stop": ["s"] * 65}}},
            ["configurable", "stop"],
        ),
    ],
    ids=["image-without-mime-type", "integer-beyond-64-bits", "too-many-stops"],
)
@pytest.mark.parametrize("endpoint", ["invoke", "stream"])
def test_bad_requests_are_422_naming_where_before_any_run(
    live_server: LiveServer, endpoint: str, body: dict, loc: list
) -> None:
    before = wait_until_idle(live_server)["started"]
    response = httpx.post(f"{live_server.url}/echo/{endpoint}", json=body)
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [loc]
    assert stats(live_server)["started"] == before


# --- Disconnects -------------------------------------------------------------


async def test_generation_stops_when_the_client_disconnects(
    live_server: LiveServer,
) -> None:
    delay = 0.2
    before = wait_until_idle(live_server)
    body = {"input": "x" * 200, "config": {"configurable": {"token_delay": delay}}}
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", live_server.url + "/echo/stream", json=body) as response,
    ):
        chunks = 0
        async for line in response.aiter_lines():
            chunks += line.startswith("event: data")
            if chunks == 5:
                break  # leaving the block drops the connection mid-stream
    at_disconnect = stats(live_server)["tokens"] - before["tokens"]
    await asyncio.sleep(10 * delay)
    after = stats(live_server)
    produced_after = after["tokens"] - before["tokens"] - at_disconnect
    # Stopped within one token interval: at most the token already in flight.
    assert produced_after <= 1, f"{produced_after} tokens after the disconnect"
    assert at_disconnect < 10
    assert after["active"] == 0  # nothing keeps running for the lost client
    assert after["failed"] - before["failed"] == 1  # the run was cancelled


async def test_other_clients_are_served_while_one_stalls(
    live_server: LiveServer,
) -> None:
    slow = {"input": "x" * 100, "config": {"configurable": {"token_delay": 0.05}}}
    url = live_server.url
    async with (
        httpx.AsyncClient(timeout=30) as client,
        client.stream("POST", url + "/echo/stream", json=slow),
    ):
        # The slow stream is open and unread; others still get answers.
        started = time.monotonic()
        replies = await asyncio.gather(
            *(
                client.post(url + "/echo/invoke", json={"input": "hi"})
                for _ in range(20)
            )
        )
        elapsed = time.monotonic() - started
    assert all(r.status_code == 200 for r in replies)
    assert elapsed < 5  # a bound for a hang, not a speed measurement


# --- Graceful shutdown -------------------------------------------------------


async def test_sigterm_lets_in_flight_streams_finish_and_refuses_new_work(
    tmp_path: Path,
) -> None:
    with run_server(tmp_path, args=["--graceful-timeout", "20"]) as server:
        body = {"input": "x" * 60, "config": {"configurable": {"token_delay": 0.03}}}
        events: list[str] = []
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("POST", server.url + "/echo/stream", json=body) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    events.append(line.removeprefix("event: "))
                if events.count("data") == 3:
                    os.killpg(server.process.pid, signal.SIGTERM)
                    assert await refuses_connections(client, server.url)
        assert events.count("data") == 61  # every character and the final chunk
        assert events[-1] == "end"
        assert server.process.wait(20) == 0
        assert live_group_members(server.process.pid) == []


async def refuses_connections(client: httpx.AsyncClient, url: str) -> bool:
    """Whether the server stops accepting connections within 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            await client.get(url + "/health", timeout=1)
        except httpx.ConnectError:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_graceful_timeout_bounds_the_wait(tmp_path: Path) -> None:
    with run_server(tmp_path, args=["--graceful-timeout", "1"]) as server:
        body = {"input": "x" * 100, "config": {"configurable": {"token_delay": 0.2}}}
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("POST", server.url + "/echo/stream", json=body) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith("event: data"):
                    break
            started = time.monotonic()
            os.killpg(server.process.pid, signal.SIGTERM)
            code = await asyncio.to_thread(server.process.wait, 20)
        assert code == 0
        assert time.monotonic() - started < 10  # cut at ~1 s, not after 20 s
