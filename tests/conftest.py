"""Fixtures shared by every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sse_starlette.sse import AppStatus


@pytest.fixture(autouse=True)
def _fresh_sse_exit_event() -> Iterator[None]:
    # sse-starlette 1.x keeps one exit event for the whole process, bound to the
    # first event loop that used it; each test runs on its own loop.
    AppStatus.should_exit_event = None
    yield
    AppStatus.should_exit_event = None
