"""What real clients do on each injected fault, over HTTP against python server.py.

The table here is the README's and docs/faults.md's (tests below compare them,
cell by cell): each client (RemoteRunnable, the openai SDK, ChatOpenAI, the
anthropic SDK, ChatAnthropic, the ollama client, ChatOllama), each fault
kind, the error the client raises. Attempts are counted by the server (its
/metrics).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import httpx2
import ollama
import openai
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_anthropic.chat_models import (
    AnthropicAPIError,
    AnthropicConnectionError,
    AnthropicContextOverflowError,
    AnthropicOverloadedError,
    AnthropicRateLimitError,
    AnthropicTimeoutError,
)
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models.base import (
    OpenAIAPIError,
    OpenAIConnectionError,
    OpenAIInvalidRequestError,
    OpenAIRateLimitError,
    OpenAITimeoutError,
)
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


STATUS_FAULTS = {"status=429; retry_after=0": 429, "status=503": 503, "status=529": 529}
CLIENTS = [
    "RemoteRunnable",
    "openai",
    "ChatOpenAI",
    "anthropic",
    "ChatAnthropic",
    "ollama",
    "ChatOllama",
]


@dataclass(frozen=True)
class Raised:
    """What a client raises for a fault: the exact class, and the HTTP status it holds.

    ``status`` is the error's ``status_code`` (the SDKs' status errors), its
    ``response.status_code`` (httpx's), or ``None`` for an error with no
    response (timeouts, closed connections, OpenAI's mid-stream error).
    """

    error: type[BaseException]
    status: int | None = None


#: (client, fault, streamed) -> what the client raises: the table of the README
#: and of docs/faults.md, every cell. The LangChain wrappers subclass the SDK's
#: class named after them (``OpenAIRateLimitError(openai.RateLimitError, ...)``).
TABLE: dict[tuple[str, str, bool], Raised] = {}
for _stream in (False, True):
    for _fault, _status in STATUS_FAULTS.items():
        TABLE[("RemoteRunnable", _fault, _stream)] = Raised(
            httpx.HTTPStatusError, _status
        )
        TABLE[("openai", _fault, _stream)] = Raised(
            openai.RateLimitError if _status == 429 else openai.InternalServerError,
            _status,
        )
        TABLE[("ChatOpenAI", _fault, _stream)] = Raised(
            OpenAIRateLimitError if _status == 429 else OpenAIAPIError, _status
        )
    TABLE |= {
        ("anthropic", "status=429; retry_after=0", _stream): Raised(
            anthropic.RateLimitError, 429
        ),
        ("ChatAnthropic", "status=429; retry_after=0", _stream): Raised(
            AnthropicRateLimitError, 429
        ),
        ("anthropic", "status=503", _stream): Raised(
            anthropic.ServiceUnavailableError, 503
        ),
        ("ChatAnthropic", "status=503", _stream): Raised(AnthropicAPIError, 503),
        ("anthropic", "status=529", _stream): Raised(anthropic.OverloadedError, 529),
        ("ChatAnthropic", "status=529", _stream): Raised(AnthropicOverloadedError, 529),
        ("RemoteRunnable", "context_length", _stream): Raised(
            httpx.HTTPStatusError, 400
        ),
        ("openai", "context_length", _stream): Raised(openai.BadRequestError, 400),
        ("ChatOpenAI", "context_length", _stream): Raised(
            OpenAIInvalidRequestError, 400
        ),
        ("anthropic", "context_length", _stream): Raised(
            anthropic.BadRequestError, 400
        ),
        ("ChatAnthropic", "context_length", _stream): Raised(
            AnthropicContextOverflowError, 400
        ),
        ("RemoteRunnable", "stall; after=2; seconds=30", _stream): Raised(
            httpx.ReadTimeout
        ),
        ("openai", "stall; after=2; seconds=30", _stream): Raised(
            openai.APITimeoutError
        ),
        ("ChatOpenAI", "stall; after=2; seconds=30", _stream): Raised(
            OpenAITimeoutError
        ),
    }
    # The ollama client (under ChatOllama too, which always streams) raises
    # ResponseError for every error reply and error line, and lets httpx's
    # transport errors out.
    for _client in ("ollama", "ChatOllama"):
        TABLE |= {
            (_client, _fault, _stream): Raised(ollama.ResponseError, _status)
            for _fault, _status in STATUS_FAULTS.items()
        }
        TABLE |= {
            (_client, "context_length", _stream): Raised(ollama.ResponseError, 400),
            (_client, "stall; after=2; seconds=30", _stream): Raised(httpx.ReadTimeout),
            (_client, "disconnect; after=2", _stream): Raised(
                httpx.RemoteProtocolError
            ),
        }
    # Not streamed, "error" is a 500; streamed, an error line inside the 200,
    # which the client raises with no status (its status_code is -1).
    # ChatOllama always streams.
    TABLE[("ollama", "error; after=2", _stream)] = Raised(
        ollama.ResponseError, -1 if _stream else 500
    )
    TABLE[("ChatOllama", "error; after=2", _stream)] = Raised(ollama.ResponseError, -1)
TABLE |= {
    # Not streamed: "error" is a 500, "disconnect" the headers then a closed socket.
    ("RemoteRunnable", "error; after=2", False): Raised(httpx.HTTPStatusError, 500),
    ("openai", "error; after=2", False): Raised(openai.InternalServerError, 500),
    ("ChatOpenAI", "error; after=2", False): Raised(OpenAIAPIError, 500),
    ("anthropic", "error; after=2", False): Raised(anthropic.InternalServerError, 500),
    ("ChatAnthropic", "error; after=2", False): Raised(AnthropicAPIError, 500),
    ("RemoteRunnable", "disconnect; after=2", False): Raised(httpx.RemoteProtocolError),
    ("openai", "disconnect; after=2", False): Raised(openai.APIConnectionError),
    ("ChatOpenAI", "disconnect; after=2", False): Raised(OpenAIConnectionError),
    ("anthropic", "disconnect; after=2", False): Raised(anthropic.APIConnectionError),
    ("ChatAnthropic", "disconnect; after=2", False): Raised(AnthropicConnectionError),
    ("anthropic", "stall; after=2; seconds=30", False): Raised(
        anthropic.APITimeoutError
    ),
    ("ChatAnthropic", "stall; after=2; seconds=30", False): Raised(
        AnthropicTimeoutError
    ),
    # Streamed: each protocol's mid-stream error (LangServe's error event names
    # 500; Anthropic's error event arrives on the 200 response); the transport's
    # own errors.
    ("RemoteRunnable", "error; after=2", True): Raised(httpx.HTTPStatusError, 500),
    ("openai", "error; after=2", True): Raised(openai.APIError),
    ("ChatOpenAI", "error; after=2", True): Raised(openai.APIError),
    ("anthropic", "error; after=2", True): Raised(anthropic.APIStatusError, 200),
    ("ChatAnthropic", "error; after=2", True): Raised(anthropic.APIStatusError, 200),
    ("RemoteRunnable", "disconnect; after=2", True): Raised(httpx.RemoteProtocolError),
    ("openai", "disconnect; after=2", True): Raised(openai.APIConnectionError),
    ("ChatOpenAI", "disconnect; after=2", True): Raised(OpenAIConnectionError),
    # The anthropic SDK lets its HTTP library's errors out of a stream: that
    # library is httpx2 (the SDK's fork of httpx), not httpx.
    ("anthropic", "disconnect; after=2", True): Raised(httpx2.RemoteProtocolError),
    ("ChatAnthropic", "disconnect; after=2", True): Raised(httpx2.RemoteProtocolError),
    ("anthropic", "stall; after=2; seconds=30", True): Raised(httpx2.ReadTimeout),
    ("ChatAnthropic", "stall; after=2; seconds=30", True): Raised(httpx2.ReadTimeout),
}


def status_of(error: BaseException) -> int | None:
    """The HTTP status an error holds (see ``Raised``), or ``None``."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def assert_raises_exactly(expected: Raised, action: Callable[[], Any]) -> None:
    """Run ``action``; it must raise ``expected.error`` itself (not a subclass)."""
    with pytest.raises(expected.error) as raised:
        action()
    assert (type(raised.value), status_of(raised.value)) == (
        expected.error,
        expected.status,
    )


@pytest.mark.parametrize(
    ("client", "fault", "stream"),
    sorted(TABLE, key=repr),
    ids=lambda v: str(v),
)
def test_each_client_raises_its_own_error_for_each_fault(
    server: LiveServer, client: str, fault: str, stream: bool
) -> None:
    assert_raises_exactly(
        TABLE[client, fault, stream], lambda: call(client, server, fault, stream=stream)
    )
    assert_still_serving(server)


def test_the_table_has_every_cell() -> None:
    faults = {fault for _, fault, _ in TABLE}
    assert len(faults) == 7
    assert set(TABLE) == set(itertools.product(CLIENTS, faults, (False, True)))


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
    assert_raises_exactly(
        TABLE[client, fault, stream],
        lambda: call_with_option(client, server, fault, stream=stream),
    )
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
            assert_raises_exactly(
                TABLE[client, fault, True],
                lambda c=client, f=fault: call_with_option(c, server, f, stream=True),
            )
    for _ in range(3):
        assert_still_serving(server)  # the collector runs between requests too
    log = server.log()
    assert "injected fault: connection closed on /echo/stream after 2 chunks" in log
    assert "stalled client went away" in log
    assert "Task exception was never retrieved" not in log
    assert "ignored GeneratorExit" not in log


def _sdk_class(error: type[BaseException]) -> type[BaseException]:
    """The SDK class a LangChain wrapper subclasses (``error`` if not a wrapper)."""
    if error.__module__.startswith("langchain_"):
        return next(
            base for base in error.__mro__[1:] if base.__module__.split(".")[0] in
            ("openai", "anthropic")
        )  # fmt: skip
    return error


def _name(error: type[BaseException]) -> str:
    return f"`{error.__module__.split('.')[0]}.{error.__name__}`"


def readme_cell(raised: Raised) -> str:
    """A README cell: the class to catch (a LangChain wrapper's SDK class)."""
    return _name(_sdk_class(raised.error))


def doc_cell(raised: Raised) -> str:
    """A docs/faults.md cell: the exact class (and its SDK class), the status."""
    error, sdk = raised.error, _sdk_class(raised.error)
    text = _name(error) if error is sdk else f"`{error.__name__}` ({_name(sdk)})"
    return text if raised.status is None else f"{text}, {raised.status}"


def table_rows(render: Callable[[Raised], str]) -> list[str]:
    """``TABLE`` as Markdown rows (header first), each cell made by ``render``."""
    rows = ["| fault | " + " | ".join(f"`{c}`" for c in CLIENTS) + " |"]
    for fault in dict.fromkeys(fault for _, fault, _ in TABLE):
        cells = {
            streamed: [render(TABLE[c, fault, streamed]) for c in CLIENTS]
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


def document_table(path: str, header: str) -> list[str]:
    """The Markdown table starting at ``header`` in ``path``, separator left out."""
    lines = (ROOT / path).read_text().splitlines()
    assert header in lines, f"{path} has no client table"
    start = lines.index(header)
    table = itertools.takewhile(lambda line: line.startswith("|"), lines[start:])
    return [row for row in table if not row.startswith("| ---")]


def test_the_readme_table_is_the_tested_table() -> None:
    rows = table_rows(readme_cell)
    assert document_table("README.md", rows[0]) == rows


def test_the_faults_document_s_table_is_the_tested_table() -> None:
    rows = table_rows(doc_cell)
    assert document_table("docs/faults.md", rows[0]) == rows
