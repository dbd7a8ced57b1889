"""Watching what runs on the event loop, for tests of the async paths."""

from __future__ import annotations

import concurrent.futures
from typing import Any


class NoThreadsExecutor(concurrent.futures.ThreadPoolExecutor):
    """A default executor that fails any attempt to run work off the event loop."""

    def submit(
        self, fn: Any, /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future:
        msg = f"work was sent to a thread pool: {fn!r}"
        raise AssertionError(msg)
