"""The marker's fault reaches the server as X-Echo-Fault, from every client."""

from __future__ import annotations

import pytest

from tests.plugin.support import SESSION_TIMEOUT

pytest_plugins = ["pytester"]

SAMPLE = """
import anthropic
import httpx
import openai
import pytest

RATE_LIMITED = "status=429; retry_after=0"
FIRST_ATTEMPT_ONLY = "status=429; retry_after=0; attempts=1"


def injected(server, protocol):
    return server.metrics().value(
        "echo:injected_faults_total", kind="status", protocol=protocol
    )


@pytest.mark.echo(fault=RATE_LIMITED)
def test_openai_surfaces_a_lasting_429(echo_chat_openai):
    with pytest.raises(openai.RateLimitError):
        echo_chat_openai.invoke("hello")


@pytest.mark.echo(fault=FIRST_ATTEMPT_ONLY)
def test_openai_retries_past_one_429(echo_server, echo_chat_openai):
    before = injected(echo_server, "openai")
    assert echo_chat_openai.invoke("hello").content == "hello"
    assert injected(echo_server, "openai") == before + 1


@pytest.mark.echo(fault=RATE_LIMITED)
def test_anthropic_surfaces_a_lasting_429(echo_chat_anthropic):
    with pytest.raises(anthropic.RateLimitError):
        echo_chat_anthropic.invoke("hello")


@pytest.mark.echo(fault=FIRST_ATTEMPT_ONLY)
def test_anthropic_retries_past_one_429(echo_server, echo_chat_anthropic):
    before = injected(echo_server, "anthropic")
    assert echo_chat_anthropic.invoke("hello").content == "hello"
    assert injected(echo_server, "anthropic") == before + 1


@pytest.mark.echo(fault="status=503", n=2)
def test_remote_runnable(echo_remote_runnable):
    with pytest.raises(httpx.HTTPStatusError) as error:
        echo_remote_runnable.invoke("hello")
    assert error.value.response.status_code == 503


@pytest.mark.echo(fault="error; after=2")
def test_http_client_stream_breaks_after_two_chunks(echo_http_client):
    body = {"input": "hello"}
    with echo_http_client.stream("POST", "/echo/stream", json=body) as reply:
        events = reply.read().decode()
    assert events.count("event: data") == 2
    assert "event: error" in events


@pytest.mark.asyncio
@pytest.mark.echo(fault=RATE_LIMITED)
async def test_async_http_client(echo_async_http_client):
    reply = await echo_async_http_client.post("/echo/invoke", json={"input": "hi"})
    assert reply.status_code == 429


def test_no_fault_in_the_next_test(
    echo_chat_openai, echo_chat_anthropic, echo_remote_runnable, echo_http_client
):
    assert echo_chat_openai.invoke("hello").content == "hello"
    assert echo_chat_anthropic.invoke("hello").content == "hello"
    assert echo_remote_runnable.invoke("hello").content == "hello"
    assert echo_http_client.post("/echo/invoke", json={"input": "x"}).status_code == 200
"""


def test_the_marker_s_fault_reaches_only_its_test_on_every_client(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_faults=SAMPLE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", timeout=SESSION_TIMEOUT
    )
    result.assert_outcomes(passed=8)
