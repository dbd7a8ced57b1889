"""The pytest plugin: test a LangChain app against the real echo server.

Installed with echo-model (entry point ``pytest11``, name ``echo_model``);
``pytest -p no:echo_model`` turns it off. It starts nothing until a test asks
for one of its fixtures, and imports only the standard library and pytest
until then.

Fixtures:

- ``echo_server`` (session): the server on a free 127.0.0.1 port, with a
  random API key; ``.url``, ``.openai_base_url``, ``.anthropic_base_url``,
  ``.langserve_url``, ``.api_key``, ``.metrics()``, ``.log()``.
- ``echo_chat_openai``, ``echo_chat_anthropic``, ``echo_remote_runnable``,
  ``echo_http_client``, ``echo_async_http_client``: clients built for each
  test, carrying its ``@pytest.mark.echo(...)`` options.
- ``echo_model``: an in-process ``EchoChatModel`` with the test's options.
- ``echo_options``: the test's options, for requests made any other way.
- ``echo_fixtures``: the test's own scripted replies (``.add([...])``; the
  marker's ``fixtures=[...]`` are added for it) and its journal
  (``.requests()``), both scoped by the test's context (``echo_context``),
  which every client fixture sends as ``X-Echo-Context``.
- ``echo_requests``: ``echo_fixtures.requests``: what this test sent.
- ``echo_server_options`` (session): override it to return server flags.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from echo_model.testing.options import FAULT_HEADER, EchoOptions

if TYPE_CHECKING:
    import httpx
    from langchain_anthropic import ChatAnthropic
    from langchain_core.runnables import Runnable
    from langchain_openai import ChatOpenAI

    from echo_model.chat_models import EchoChatModel
    from echo_model.testing.scripted import EchoFixtures
    from echo_model.testing.server import EchoServer

#: The running server, once a test has asked for it (its log outlives it).
SERVER = pytest.StashKey["EchoServer"]()
#: Where the server log stood when a test started.
LOG_START = pytest.StashKey[int]()
#: Whether a test used the server (directly or through a client fixture).
USES_SERVER = pytest.StashKey[bool]()

#: The most of a server log a failing test's report shows (its end).
MAX_LOG_CHARS = 20_000


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ``echo_server_args`` ini option."""
    parser.addini(
        "echo_server_args",
        type="args",
        default=[],
        help="echo-server flags for the echo_server fixture, e.g."
        " '--token-delay 0.01 --max-n 100' (echo-server --help lists them)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``echo`` marker."""
    config.addinivalue_line(
        "markers",
        "echo(**options): per-request echo-server options for this test's client"
        " fixtures: n, stop, first_token_delay, token_delay, fail_after_chunks,"
        f" error_rate, seed, and fault (the {FAULT_HEADER} header's value).",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Mark where the server log stands, so a failure shows this test's part."""
    server = item.config.stash.get(SERVER, None)
    item.stash[LOG_START] = server.log_size() if server else 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the server's log to the report of a failing test that used it."""
    report = yield
    server = item.config.stash.get(SERVER, None)
    used = item.stash.get(USES_SERVER, False) or "echo_server" in getattr(
        item, "fixturenames", ()
    )
    if report.failed and server is not None and used:
        log = server.log(item.stash.get(LOG_START, 0))
        if len(log) > MAX_LOG_CHARS:
            log = "[...]\n" + log[-MAX_LOG_CHARS:]
        report.sections.append(
            (
                f"echo-server log ({server.log_path.name}, since this test started)",
                log or "(the server logged nothing during this test)",
            )
        )
    return report


@pytest.fixture(scope="session")
def echo_server_options() -> dict[str, Any]:
    """Server flags for ``echo_server``: override this fixture to set them.

    Keys are ``echo-server`` settings with underscores (``token_delay``,
    ``max_n``, ``workers``, ...; ``True``/``False`` for switches);
    ``api_key`` sets the key (``None``: no key). They come after the
    ``echo_server_args`` ini option, so they win.
    """
    return {}


@pytest.fixture(scope="session")
def echo_server(
    request: pytest.FixtureRequest,
    echo_server_options: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EchoServer]:
    """The echo server, started once for the session and stopped at its end."""
    from echo_model.testing.server import new_api_key, run_echo_server, server_args

    options = dict(echo_server_options)
    api_key = options.pop("api_key") if "api_key" in options else new_api_key()
    args = [*request.config.getini("echo_server_args"), *server_args(options)]
    log_dir = tmp_path_factory.mktemp("echo_server")
    with run_echo_server(log_dir, args, api_key=api_key) as server:
        request.config.stash[SERVER] = server
        yield server


@pytest.fixture
def echo_context(request: pytest.FixtureRequest) -> str:
    """This test's context: the ``X-Echo-Context`` its client fixtures send."""
    from echo_model.testing.scripted import test_context

    return test_context(request.node.nodeid)


@pytest.fixture
def echo_options(request: pytest.FixtureRequest, echo_context: str) -> EchoOptions:
    """This test's ``@pytest.mark.echo(...)`` options (the closest marker wins)."""
    try:
        options = EchoOptions.from_markers(request.node.iter_markers("echo"))
        options = replace(options, context=echo_context)
        options.scoped_fixtures()  # a fixture naming another context fails here
    except ValueError as error:
        pytest.fail(str(error), pytrace=False)
    return options


@pytest.fixture
def echo_fixtures(
    request: pytest.FixtureRequest, echo_options: EchoOptions
) -> Iterator[EchoFixtures]:
    """This test's scripted replies and journal on the server (its context's).

    The marker's ``fixtures=[...]`` are added first; ``.add([...])`` adds
    more; ``.requests()`` returns what the test sent. The test's fixtures are
    removed when it ends.
    """
    from echo_model.testing.scripted import EchoFixtures
    from echo_model.testing.server import AdminError

    request.node.stash[USES_SERVER] = True
    server: EchoServer = request.getfixturevalue("echo_server")
    assert echo_options.context is not None  # noqa: S101 - echo_options sets it
    fixtures = EchoFixtures(server, echo_options.context)
    if echo_options.fixtures:
        try:
            fixtures.add(echo_options.fixtures)
        except AdminError as error:
            pytest.fail(f"@pytest.mark.echo(fixtures=...): {error}", pytrace=False)
    yield fixtures
    fixtures.clear()


@pytest.fixture
def echo_requests(
    echo_fixtures: EchoFixtures,
) -> Callable[..., list[dict[str, Any]]]:
    """``echo_requests(path=None)``: this test's journal entries, oldest first."""
    return echo_fixtures.requests


@pytest.fixture
def echo_chat_openai(
    request: pytest.FixtureRequest, echo_options: EchoOptions
) -> ChatOpenAI:
    """A ``ChatOpenAI`` on the server's ``/v1``, with this test's options."""
    from echo_model.testing import clients

    clients.require("langchain_openai", "langchain-openai", "echo_chat_openai")
    return clients.chat_openai(_server(request), echo_options)


@pytest.fixture
def echo_chat_anthropic(
    request: pytest.FixtureRequest, echo_options: EchoOptions
) -> ChatAnthropic:
    """A ``ChatAnthropic`` on the server's ``/v1/messages``, with the test's options."""
    from echo_model.testing import clients

    clients.require("langchain_anthropic", "langchain-anthropic", "echo_chat_anthropic")
    return clients.chat_anthropic(_server(request), echo_options)


@pytest.fixture
def echo_remote_runnable(
    request: pytest.FixtureRequest, echo_options: EchoOptions
) -> Runnable:
    """A LangServe ``RemoteRunnable`` on ``/echo/``, with this test's options."""
    from echo_model.testing import clients

    return clients.remote_runnable(_server(request), echo_options)


@pytest.fixture
def echo_http_client(
    request: pytest.FixtureRequest, echo_options: EchoOptions
) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` on the server's root, with the key and the fault header."""
    from echo_model.testing import clients

    with clients.http_client(_server(request), echo_options) as client:
        yield client


@pytest.fixture
def echo_async_http_client(
    request: pytest.FixtureRequest, echo_options: EchoOptions
) -> Iterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` on the server's root, with the key and the fault.

    A plain fixture, so it works with any async test runner; it is closed
    after the test.
    """
    from echo_model.testing import clients

    client = clients.async_http_client(_server(request), echo_options)
    yield client
    _close_async(client)


@pytest.fixture
def echo_model(echo_options: EchoOptions) -> EchoChatModel:
    """An in-process ``EchoChatModel`` with this test's simulation options.

    No server, no HTTP: the marker's ``fault`` (an HTTP header) does not apply;
    its ``fixtures`` do (in the test's context).
    """
    from echo_model.chat_models import EchoChatModel

    return EchoChatModel(
        **echo_options.simulation,
        fixtures=echo_options.scoped_fixtures() or None,
        fixture_context=echo_options.context,
    )


def _server(request: pytest.FixtureRequest) -> EchoServer:
    # Asked for only now, so a test skipped for a missing package starts
    # nothing; through echo_fixtures, so the marker's fixtures are in place.
    fixtures: EchoFixtures = request.getfixturevalue("echo_fixtures")
    return fixtures.server


def _close_async(client: httpx.AsyncClient) -> None:
    # The test's event loop is gone by now, and another may be running in this
    # thread: close on a loop of our own, in a thread of our own.
    import asyncio

    closer = threading.Thread(target=asyncio.run, args=(client.aclose(),))
    closer.start()
    closer.join()
