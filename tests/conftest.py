"""Fixtures shared by every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings
from sse_starlette.sse import AppStatus

from tests.support.live_server import LiveServer, run_server

# Property tests check behaviour, not speed: on a shared, loaded machine an
# example may take longer than hypothesis's default 200 ms deadline, which
# would fail a correct test as "flaky".
settings.register_profile("echo-model", deadline=None)
settings.load_profile("echo-model")

#: Tiers that start a server process, a browser or a container, or fuzz the
#: API: ``pytest -m "not slow"`` leaves them out.
SLOW_TIERS = ("e2e", "browser", "plugin", "deploy", "integration_tests")
SLOW_FILES = ("schemathesis", "test_docs_examples", "test_benchmarks")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tiers ``slow``."""
    for item in items:
        parts = item.path.parts
        tier = parts[parts.index("tests") + 1] if "tests" in parts else ""
        if tier in SLOW_TIERS or any(name in item.path.stem for name in SLOW_FILES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fresh_sse_exit_event() -> Iterator[None]:
    # sse-starlette 1.x keeps one exit event for the whole process, bound to the
    # first event loop that used it; each test runs on its own loop.
    AppStatus.should_exit_event = None
    yield
    AppStatus.should_exit_event = None


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server, started once for the session on a free 127.0.0.1 port."""
    with run_server(tmp_path_factory.mktemp("server")) as server:
        yield server
