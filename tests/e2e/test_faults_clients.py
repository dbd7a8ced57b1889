"""What real clients do on each injected fault, over HTTP against python server.py.

The table here is docs/faults.md's: each client (RemoteRunnable, the openai SDK,
ChatOpenAI, the anthropic SDK, ChatAnthropic, the ollama client, ChatOllama),
each fault kind, the error the client raises. Attempts are counted by the
server (its /metrics).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from langserve import RemoteRunnable

from tests.support.live_server import ROOT, LiveServer, run_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HELLO: Any = [{"role": "user", "content": "hello"}]
TIMEOUT = 0.5  # the clients' timeout against stalls


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with run_server(tmp_path_factory.mktemp("faults")) as live:
        yield live


def injected(server: LiveServer, kind: str, protocol: str) -> int:
    """The server's count of injected faults of ``kind`` on ``protocol``."""
    text = httpx.get(server.url + "/metrics").text
    pattern = (
        rf'echo:injected_faults_total{{kind="{kind}",protocol="{protocol}"}} (\S+)'
    )
    match = re.search(pattern, text)
    return int(float(match.group(1))) if match else 0


def assert_still_serving(server: LiveServer) -> None:
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    reply = httpx.post(
        server.url + "/v1/chat/completions", json={"model": "m", "messages": HELLO}
    )
    assert reply.json()["choices"][0]["message"]["content"] == "hello"


def client_for(kind: str, server: LiveServer, **options: Any) -> Any:
    """``kind``'s client on ``server``, with ``options`` (retries, timeout, headers).

    ``kind`` is "openai" or "anthropic" (the SDKs), "ChatOpenAI" or
    "ChatAnthropic". The server wants no key; the clients want one, any.
    """
    if kind == "openai":
        return openai.OpenAI(base_url=server.url + "/v1", api_key="k", **options)
    if kind == "anthropic":
        return anthropic.Anthropic(base_url=server.url, api_key="k", **options)
    if kind == "ChatOpenAI":
        return ChatOpenAI(
            base_url=server.url + "/v1", api_key="k", model="m", **options
        )
    assert kind == "ChatAnthropic", kind
    return ChatAnthropic(base_url=server.url, api_key="k", model="m", **options)


# --- Clients, each called once, with the fault in a header -------------------------


def call(client: str, server: LiveServer, fault: str, *, stream: bool) -> Any:
    """Call ``client`` once with ``X-Echo-Fault: fault``; return its reply text."""
    headers = {"X-Echo-Fault": fault}
    if client in ("ollama", "ChatOllama"):
        return call_ollama(client, server, stream=stream, headers=headers)
    if client == "openai":
        sdk = client_for(
            client, server, max_retries=0, timeout=TIMEOUT, default_headers=headers
        )
        if stream:
            chunks = sdk.chat.completions.create(model="m", messages=HELLO, stream=True)
            return "".join(
                c.choices[0].delta.content or "" for c in chunks if c.choices
            )
        return (
            sdk.chat.completions.create(model="m", messages=HELLO)
            .choices[0]
            .message.content
        )
    if client == "anthropic":
        asdk = client_for(
            client, server, max_retries=0, timeout=TIMEOUT, default_headers=headers
        )
        if stream:
            with asdk.messages.stream(
                model="m", max_tokens=50, messages=HELLO
            ) as events:
                return events.get_final_text()
        return asdk.messages.create(model="m", max_tokens=50, messages=HELLO).content
    model: Any
    if client == "ChatOpenAI":
        model = client_for(
            client, server, max_retries=0, timeout=TIMEOUT, default_headers=headers
        )
    elif client == "ChatAnthropic":
        model = client_for(
            client,
            server,
            max_retries=0,
            default_request_timeout=TIMEOUT,
            default_headers=headers,
        )
    else:
        model = RemoteRunnable(server.url + "/echo/", headers=headers, timeout=TIMEOUT)
    if stream:
        return "".join(str(chunk.content) for chunk in model.stream("hello"))
    return model.invoke("hello").content


def call_ollama(
    client: str,
    server: LiveServer,
    *,
    stream: bool,
    headers: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> Any:
    """Call the ollama client or ChatOllama once (ChatOllama always streams)."""
    if client == "ChatOllama":
        model = ChatOllama(
            model="m",
            base_url=server.url,
            client_kwargs={"headers": headers or {}, "timeout": TIMEOUT},
        )
        if options:
            return model.invoke("hello", options=options).content
        if stream:
            return "".join(str(chunk.content) for chunk in model.stream("hello"))
        return model.invoke("hello").content
    sdk = ollama.Client(host=server.url, headers=headers, timeout=TIMEOUT)
    if stream:
        parts = sdk.chat(model="m", messages=HELLO, stream=True, options=options)
        return "".join(part.message.content or "" for part in parts)
    return sdk.chat(model="m", messages=HELLO, options=options).message.content


CLIENTS = [
    "RemoteRunnable",
    "openai",
    "ChatOpenAI",
    "anthropic",
    "ChatAnthropic",
    "ollama",
    "ChatOllama",
]

#: (client, fault, streamed) -> what the client raises: the table of docs/faults.md.
TABLE: dict[tuple[str, str, bool], type[BaseException]] = {}
for _stream in (False, True):
    TABLE |= {
        ("RemoteRunnable", "status=429; retry_after=0", _stream): httpx.HTTPStatusError,
        ("openai", "status=429; retry_after=0", _stream): openai.RateLimitError,
        ("ChatOpenAI", "status=429; retry_after=0", _stream): openai.RateLimitError,
        ("anthropic", "status=429; retry_after=0", _stream): anthropic.RateLimitError,
        (
            "ChatAnthropic",
            "status=429; retry_after=0",
            _stream,
        ): anthropic.RateLimitError,
        ("RemoteRunnable", "status=503", _stream): httpx.HTTPStatusError,
        ("openai", "status=503", _stream): openai.InternalServerError,
        ("ChatOpenAI", "status=503", _stream): openai.InternalServerError,
        ("anthropic", "status=529", _stream): anthropic.OverloadedError,
        ("ChatAnthropic", "status=529", _stream): anthropic.OverloadedError,
        ("RemoteRunnable", "context_length", _stream): httpx.HTTPStatusError,
        ("openai", "context_length", _stream): openai.BadRequestError,
        ("ChatOpenAI", "context_length", _stream): openai.BadRequestError,
        ("anthropic", "context_length", _stream): anthropic.BadRequestError,
        ("ChatAnthropic", "context_length", _stream): anthropic.BadRequestError,
        ("RemoteRunnable", "stall; after=2; seconds=30", _stream): httpx.ReadTimeout,
        ("openai", "stall; after=2; seconds=30", _stream): openai.APITimeoutError,
        ("ChatOpenAI", "stall; after=2; seconds=30", _stream): openai.APITimeoutError,
    }
    # The ollama client (under ChatOllama too, which always streams) raises
    # ResponseError for every error reply and error line, and lets httpx's
    # transport errors out.
    for _client in ("ollama", "ChatOllama"):
        TABLE |= {
            (_client, "status=429; retry_after=0", _stream): ollama.ResponseError,
            (_client, "status=503", _stream): ollama.ResponseError,
            (_client, "context_length", _stream): ollama.ResponseError,
            (_client, "stall; after=2; seconds=30", _stream): httpx.ReadTimeout,
            (_client, "error; after=2", _stream): ollama.ResponseError,
            (_client, "disconnect; after=2", _stream): httpx.RemoteProtocolError,
        }
TABLE |= {
    # Not streamed: "error" is a 500, "disconnect" the headers then a closed socket.
    ("RemoteRunnable", "error; after=2", False): httpx.HTTPStatusError,
    ("openai", "error; after=2", False): openai.InternalServerError,
    ("ChatOpenAI", "error; after=2", False): openai.InternalServerError,
    ("anthropic", "error; after=2", False): anthropic.InternalServerError,
    ("ChatAnthropic", "error; after=2", False): anthropic.InternalServerError,
    ("RemoteRunnable", "disconnect; after=2", False): httpx.RemoteProtocolError,
    ("openai", "disconnect; after=2", False): openai.APIConnectionError,
    ("ChatOpenAI", "disconnect; after=2", False): openai.APIConnectionError,
    ("anthropic", "disconnect; after=2", False): anthropic.APIConnectionError,
    ("ChatAnthropic", "disconnect; after=2", False): anthropic.APIConnectionError,
    ("anthropic", "stall; after=2; seconds=30", False): anthropic.APITimeoutError,
    ("ChatAnthropic", "stall; after=2; seconds=30", False): anthropic.APITimeoutError,
    # Streamed: each protocol's mid-stream error; the transport's own errors.
    ("RemoteRunnable", "error; after=2", True): httpx.HTTPStatusError,
    ("openai", "error; after=2", True): openai.APIError,
    ("ChatOpenAI", "error; after=2", True): openai.APIError,
    ("anthropic", "error; after=2", True): anthropic.APIStatusError,
    ("ChatAnthropic", "error; after=2", True): anthropic.APIStatusError,
    ("RemoteRunnable", "disconnect; after=2", True): httpx.RemoteProtocolError,
    ("openai", "disconnect; after=2", True): openai.APIConnectionError,
    ("ChatOpenAI", "disconnect; after=2", True): openai.APIConnectionError,
    # The anthropic SDK lets its HTTP library's errors out of a stream.
    ("anthropic", "disconnect; after=2", True): httpx.RemoteProtocolError,
    ("ChatAnthropic", "disconnect; after=2", True): httpx.RemoteProtocolError,
    ("anthropic", "stall; after=2; seconds=30", True): httpx.ReadTimeout,
    ("ChatAnthropic", "stall; after=2; seconds=30", True): httpx.ReadTimeout,
}


def _raised(
    client: str, expected: type[BaseException]
) -> tuple[type[BaseException], ...]:
    # The SDKs' HTTP library is httpx2 (openai, anthropic) or httpx (LangServe):
    # the table names httpx's classes; httpx2's have the same names.
    if expected.__module__.startswith("httpx") and client in (
        "anthropic",
        "ChatAnthropic",
    ):
        import httpx2

        return (getattr(httpx2, expected.__name__),)
    return (expected,)


@pytest.mark.parametrize(
    ("client", "fault", "stream"),
    sorted(TABLE, key=repr),
    ids=lambda v: str(v),
)
def test_each_client_raises_its_own_error_for_each_fault(
    server: LiveServer, client: str, fault: str, stream: bool
) -> None:
    expected = TABLE[client, fault, stream]
    with pytest.raises(_raised(client, expected)) as raised:
        call(client, server, fault, stream=stream)
    if fault.startswith("status="):
        status = int(fault.split("=")[1].split(";")[0])
        assert getattr(raised.value, "status_code", None) in (status, None)
        if client == "RemoteRunnable":
            assert raised.value.response.status_code == status  # type: ignore[attr-defined]
    assert_still_serving(server)


def test_without_a_fault_every_client_gets_its_reply(server: LiveServer) -> None:
    for client in CLIENTS:
        for stream in (False, True):
            reply = call(client, server, "none", stream=stream)
            assert "hello" in str(reply)


# --- Retries, attempts, fallbacks ---------------------------------------------------


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_two_retries_on_a_429_make_exactly_three_attempts(
    server: LiveServer, sdk: str
) -> None:
    protocol = sdk
    before = injected(server, "status", protocol)
    headers = {"X-Echo-Fault": "status=429; retry_after=0"}
    client = client_for(sdk, server, max_retries=2, default_headers=headers)
    if sdk == "openai":
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=HELLO)
    else:
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(model="m", max_tokens=5, messages=HELLO)
    assert injected(server, "status", protocol) - before == 3


@pytest.mark.parametrize("sdk", ["openai", "anthropic", "ChatOpenAI", "ChatAnthropic"])
def test_a_fault_on_the_first_attempt_only_lets_the_retry_succeed(
    server: LiveServer, sdk: str
) -> None:
    protocol = "anthropic" if "nthropic" in sdk else "openai"
    before = injected(server, "status", protocol)
    headers = {"X-Echo-Fault": "status=503; attempts=1; retry_after=0.01"}
    client = client_for(sdk, server, max_retries=1, default_headers=headers)
    reply: Any
    if sdk == "openai":
        reply = client.chat.completions.create(model="m", messages=HELLO)
        reply = reply.choices[0].message.content
    elif sdk == "anthropic":
        reply = client.messages.create(model="m", max_tokens=50, messages=HELLO)
        reply = reply.content[0].text
    else:
        reply = client.invoke("hello").content
    assert reply == "hello"
    assert injected(server, "status", protocol) - before == 1


def test_chat_openai_falls_back_on_a_503(server: LiveServer) -> None:
    def chat(**headers: str) -> ChatOpenAI:
        return client_for("ChatOpenAI", server, max_retries=0, default_headers=headers)

    primary = chat(**{"X-Echo-Fault": "status=503"})
    fallback = chat(**{"X-Echo-Fault": "none"})
    before = injected(server, "status", "openai")
    assert primary.with_fallbacks([fallback]).invoke("hello").content == "hello"
    assert injected(server, "status", "openai") - before == 1


# --- The server under stalls and disconnects -----------------------------------------


def test_other_clients_are_served_during_a_stall_and_after_disconnects(
    server: LiveServer,
) -> None:
    errors: list[BaseException] = []
    stalled = threading.Event()

    def stall() -> None:
        client = client_for(
            "openai",
            server,
            max_retries=0,
            timeout=5,
            default_headers={"X-Echo-Fault": "stall; after=1; seconds=30"},
        )
        try:
            for chunk in client.chat.completions.create(
                model="m", messages=HELLO, stream=True
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    stalled.set()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=stall)
    thread.start()
    assert stalled.wait(5)
    for _ in range(3):
        assert_still_serving(server)
    thread.join(10)
    assert len(errors) == 1
    assert isinstance(errors[0], openai.APITimeoutError)
    for _ in range(3):
        with pytest.raises(openai.APIConnectionError):
            call("openai", server, "disconnect; after=1", stream=True)
    assert_still_serving(server)
    log = server.log()
    assert "Exception in ASGI application" not in log
    assert "unhandled error" not in log
    assert (
        "injected fault: connection closed on /v1/chat/completions after 1 chunks"
        in log
    )


def test_the_server_counts_faults_by_kind(server: LiveServer) -> None:
    before = {k: injected(server, k, "langserve") for k in ("error", "disconnect")}
    with pytest.raises(httpx.HTTPStatusError):
        call("RemoteRunnable", server, "error; after=1", stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        call("RemoteRunnable", server, "disconnect", stream=True)
    assert injected(server, "error", "langserve") == before["error"] + 1
    assert injected(server, "disconnect", "langserve") == before["disconnect"] + 1


# --- The same faults as a per-request option in the body -------------------------


def call_with_option(
    client: str, server: LiveServer, fault: str, *, stream: bool
) -> Any:
    """Call ``client`` once with ``fault`` in its per-request options, no header."""
    if client in ("ollama", "ChatOllama"):
        options = {"echo": {"fault": fault}}
        return call_ollama(client, server, stream=stream, options=options)
    if client == "openai":
        sdk = client_for(client, server, max_retries=0, timeout=TIMEOUT)
        extra = {"echo": {"fault": fault}}
        if stream:
            chunks = sdk.chat.completions.create(
                model="m", messages=HELLO, stream=True, extra_body=extra
            )
            return "".join(
                c.choices[0].delta.content or "" for c in chunks if c.choices
            )
        reply = sdk.chat.completions.create(model="m", messages=HELLO, extra_body=extra)
        return reply.choices[0].message.content
    if client == "anthropic":
        asdk = client_for(client, server, max_retries=0, timeout=TIMEOUT)
        extra = {"echo": {"fault": fault}}
        if stream:
            with asdk.messages.stream(
                model="m", max_tokens=50, messages=HELLO, extra_body=extra
            ) as events:
                return events.get_final_text()
        return asdk.messages.create(
            model="m", max_tokens=50, messages=HELLO, extra_body=extra
        ).content
    model = RemoteRunnable(server.url + "/echo/", timeout=TIMEOUT).with_config(
        configurable={"fault": fault}
    )
    if stream:
        return "".join(str(chunk.content) for chunk in model.stream("hello"))
    return model.invoke("hello").content


@pytest.mark.parametrize(
    ("client", "fault", "stream"),
    sorted(
        (
            key
            for key in TABLE
            if key[0] in ("RemoteRunnable", "openai", "anthropic", "ollama")
        ),
        key=repr,
    ),
    ids=lambda v: str(v),
)
def test_the_body_option_makes_each_client_raise_as_the_header_does(
    server: LiveServer, client: str, fault: str, stream: bool
) -> None:
    with pytest.raises(_raised(client, TABLE[client, fault, stream])):
        call_with_option(client, server, fault, stream=stream)
    assert_still_serving(server)


@pytest.mark.parametrize(
    "client", ["RemoteRunnable", "openai", "anthropic", "ollama", "ChatOllama"]
)
def test_the_body_option_none_is_no_fault(server: LiveServer, client: str) -> None:
    for stream in (False, True):
        assert "hello" in str(call_with_option(client, server, "none", stream=stream))


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_two_retries_on_a_429_option_make_exactly_three_attempts(
    server: LiveServer, sdk: str
) -> None:
    before = injected(server, "status", sdk)
    extra = {"echo": {"fault": "status=429; retry_after=0"}}
    client = client_for(sdk, server, max_retries=2)
    if sdk == "openai":
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=HELLO, extra_body=extra)
    else:
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(
                model="m", max_tokens=5, messages=HELLO, extra_body=extra
            )
    assert injected(server, "status", sdk) - before == 3


def test_remote_runnable_retries_nothing_and_sees_the_429(server: LiveServer) -> None:
    before = injected(server, "status", "langserve")
    model = RemoteRunnable(server.url + "/echo/").with_config(
        configurable={"fault": "status=429; retry_after=0"}
    )
    with pytest.raises(httpx.HTTPStatusError) as raised:
        model.invoke("hello")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["retry-after"] == "0"
    assert injected(server, "status", "langserve") - before == 1


# --- Abandoned streams finish cleanly -----------------------------------------------


def test_abandoned_streams_are_closed_without_errors_in_the_log(
    server: LiveServer,
) -> None:
    # A stream cut by a disconnect, or left by its client during a stall, is
    # closed by the server; LangServe's stream generator answers a bare close
    # (GeneratorExit) with one more event, which asyncio logs as "Task
    # exception was never retrieved ... async generator ignored GeneratorExit".
    for client in ("RemoteRunnable", "openai", "anthropic"):
        for fault in ("disconnect; after=2", "stall; after=2; seconds=30"):
            with pytest.raises(Exception):  # noqa: B017, PT011 - the table's errors
                call_with_option(client, server, fault, stream=True)
    for _ in range(3):
        assert_still_serving(server)  # the collector runs between requests too
    log = server.log()
    assert "injected fault: connection closed on /echo/stream after 2 chunks" in log
    assert "stalled client went away" in log
    assert "Task exception was never retrieved" not in log
    assert "ignored GeneratorExit" not in log


def readme_rows() -> list[str]:
    """The README's client table as ``TABLE`` says it must read, row by row."""

    def cell(error: type[BaseException] | None) -> str:
        if error is None:
            return "—"
        package = error.__module__.split(".")[0]
        return (
            f"`{'httpx' if package.startswith('httpx') else package}.{error.__name__}`"
        )

    rows = ["| fault | " + " | ".join(f"`{c}`" for c in CLIENTS) + " |"]
    faults = list(dict.fromkeys(fault for _, fault, _ in TABLE))
    for fault in faults:
        cells = {
            streamed: [cell(TABLE.get((c, fault, streamed))) for c in CLIENTS]
            for streamed in (False, True)
        }
        variants = (
            [(f"`{fault}`", cells[False])]
            if cells[False] == cells[True]
            else [
                (f"`{fault}`, not streamed", cells[False]),
                (f"`{fault}`, streamed", cells[True]),
            ]
        )
        rows += [f"| {label} | " + " | ".join(row) + " |" for label, row in variants]
    return rows


def test_the_readme_table_is_the_tested_table() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    header = readme_rows()[0]
    assert header in lines, "the README has no client table"
    start = lines.index(header)
    table = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    assert [row for row in table if not row.startswith("| ---")] == readme_rows()
