"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.clients import API_KEY
from tests.support.live_server import LiveServer, run_server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """A server of the module's own: it wants ``API_KEY``, echoes 50 characters.

    Modules that need another server (test_faults_clients.py's, keyless)
    define their own ``server``.
    """
    module = request.module.__name__.rpartition(".")[2]
    with run_server(
        tmp_path_factory.mktemp(module), ["--api-key", API_KEY, "--n", "50"]
    ) as live:
        yield live
