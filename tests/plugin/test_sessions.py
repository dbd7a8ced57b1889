"""Sample test sessions using the plugin, each run by pytest in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests.plugin.support import (
    SESSION_TIMEOUT,
    nothing_listens,
    process_gone,
    section,
    server_logs,
)

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""

# Every fixture, and the marker on some tests only: each marked test is followed
# by an unmarked one that must see the server's defaults again.
SAMPLE = """
import httpx
import pytest

RECORD = {record!r}


def record(server):
    with open(RECORD, "a") as out:
        out.write(f"{{server.process.pid}} {{server.port}}\\n")


def test_server_requires_the_key_it_was_started_with(echo_server):
    record(echo_server)
    assert echo_server.api_key.startswith("sk-echo-")
    assert echo_server.openai_base_url == echo_server.url + "/v1"
    assert echo_server.anthropic_base_url == echo_server.url
    assert echo_server.langserve_url == echo_server.url + "/echo/"
    invoke, body = echo_server.langserve_url + "invoke", {{"input": "hi"}}
    assert httpx.post(invoke, json=body).status_code == 401
    reply = httpx.post(invoke, json=body, headers=echo_server.auth_headers)
    assert reply.json()["output"]["content"] == "hi"


@pytest.mark.echo(n=3)
def test_marked_openai(echo_chat_openai):
    assert echo_chat_openai.invoke("hello").content == "hel"


def test_unmarked_openai(echo_chat_openai):
    assert echo_chat_openai.invoke("hello").content == "hello"


@pytest.mark.echo(n=3)
def test_marked_anthropic(echo_chat_anthropic):
    assert echo_chat_anthropic.invoke("hello").content == "hel"


def test_unmarked_anthropic(echo_chat_anthropic):
    assert echo_chat_anthropic.invoke("hello").content == "hello"


@pytest.mark.echo(n=3)
def test_marked_remote_runnable(echo_remote_runnable):
    assert echo_remote_runnable.invoke("hello").content == "hel"
    assert [c.content for c in echo_remote_runnable.stream("hello")][:3] == list("hel")


def test_unmarked_remote_runnable(echo_remote_runnable):
    assert echo_remote_runnable.invoke("hello").content == "hello"


@pytest.mark.echo(n=3)
def test_marked_model(echo_model):
    assert echo_model.invoke("hello").content == "hel"


def test_unmarked_model(echo_model):
    assert echo_model.invoke("hello").content == "hello"


@pytest.mark.echo(n=3)
def test_marked_http_client(echo_http_client, echo_options):
    # Raw HTTP carries the options the protocol's way: here OpenAI's echo field.
    reply = echo_http_client.post(
        "/v1/chat/completions",
        json={{"model": "m", "messages": [{{"role": "user", "content": "hello"}}],
              **echo_options.body}},
    )
    assert reply.json()["choices"][0]["message"]["content"] == "hel"


@pytest.mark.asyncio
async def test_async_http_client(echo_async_http_client, echo_options):
    assert echo_options.body == {{}}
    reply = await echo_async_http_client.post("/echo/invoke", json={{"input": "hello"}})
    assert reply.json()["output"]["content"] == "hello"
    reply = await echo_async_http_client.post("/echo/invoke", json={{"input": "again"}})
    assert reply.json()["output"]["content"] == "again"


def test_metrics_count_this_test_s_requests(echo_server, echo_chat_openai):
    before = echo_server.metrics()
    echo_chat_openai.invoke("hi")
    echo_chat_openai.invoke("hi")
    after = echo_server.metrics()
    assert after.source == "/metrics"
    # vLLM's name, as the server exports it; summed over finished_reason.
    finished = after.value("vllm:request_success_total", model_name="echo")
    assert finished == before.value("vllm:request_success_total", model_name="echo") + 2
"""

# A second module: the same server, and module-wide options under a test's own.
SAMPLE_MODULE_MARK = """
import pytest

pytestmark = pytest.mark.echo(n=4)

RECORD = {record!r}


def test_same_server(echo_server):
    with open(RECORD, "a") as out:
        out.write(f"{{echo_server.process.pid}} {{echo_server.port}}\\n")


def test_module_options(echo_chat_openai):
    assert echo_chat_openai.invoke("hello").content == "hell"


@pytest.mark.echo(n=2)
def test_own_options_win(echo_chat_openai, echo_remote_runnable):
    assert echo_chat_openai.invoke("hello").content == "he"
    assert echo_remote_runnable.invoke("hello").content == "he"
"""


# Faults by the marker, on every client; the next test has none.
SAMPLE_FAULTS = """
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


def test_sample_suite_runs_green_on_one_server_gone_afterwards(
    pytester: pytest.Pytester,
) -> None:
    record = pytester.path / "servers.txt"
    pytester.makeini(INI)
    pytester.makepyfile(
        test_app=SAMPLE.format(record=str(record)),
        test_module_mark=SAMPLE_MODULE_MARK.format(record=str(record)),
        test_faults=SAMPLE_FAULTS,
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", timeout=SESSION_TIMEOUT
    )
    result.assert_outcomes(passed=23)
    servers = set(record.read_text().splitlines())
    assert len(servers) == 1, servers  # one server for the whole session
    assert len(server_logs(pytester)) == 1
    pid, port = (int(part) for part in servers.pop().split())
    assert process_gone(pid)
    assert nothing_listens(port)


def test_a_failing_test_s_report_shows_the_server_log_of_that_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_fails="""
        def test_earlier(echo_http_client):
            echo_http_client.get("/health?from=earlier-test")

        def test_fails_on_purpose(echo_http_client):
            echo_http_client.get("/health?from=failing-test")
            assert False

        def test_fails_without_the_server():
            assert False
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", timeout=SESSION_TIMEOUT
    )
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    failure = section(output, "test_fails_on_purpose")
    assert re.search(
        r"-+ echo-server log \(echo-server-\d+-0\.log, since this", failure
    )
    assert '"GET /health?from=failing-test HTTP/1.1" 200' in failure
    assert "earlier-test" not in failure
    assert "echo-server log" not in section(output, "test_fails_without_the_server")


def test_server_options_from_the_ini_file_and_the_fixture(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(
        """
        [pytest]
        echo_server_args = --n 4 --model-name from-ini
        """
    )
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def echo_server_options():
            return {"n": 5, "api_key": "sk-from-the-fixture", "access_log": False}
        """
    )
    pytester.makepyfile(
        test_options="""
        def test_options(echo_server, echo_remote_runnable):
            assert echo_server.api_key == "sk-from-the-fixture"
            reply = echo_remote_runnable.invoke("hello world")
            assert reply.content == "hello"  # the fixture's n wins over the ini's
            assert reply.response_metadata["model_name"] == "from-ini"
            assert "GET" not in echo_server.log()  # no access log
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", timeout=SESSION_TIMEOUT
    )
    result.assert_outcomes(passed=1)


def test_a_session_killed_outright_leaves_no_server_behind(
    pytester: pytest.Pytester,
) -> None:
    record = pytester.path / "server.txt"
    pytester.makepyfile(
        test_hangs=f"""
        import pathlib, time

        def test_hangs(echo_server):
            pathlib.Path({str(record)!r}).write_text(
                f"{{echo_server.process.pid}} {{echo_server.port}}"
            )
            time.sleep(120)
        """
    )
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_hangs.py"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + SESSION_TIMEOUT
        while not record.exists() and session.poll() is None:
            assert time.monotonic() < deadline, "the sample session never started"
            time.sleep(0.1)
    finally:
        session.kill()  # no teardown runs
        session.wait()
    pid, port = (int(part) for part in record.read_text().split())
    assert process_gone(pid, wait=15.0)  # it notices within a second, then drains
    assert nothing_listens(port)
