"""What the runtime store costs a request: MemoryStore beside the SQLite store.

``python -m benchmarks.store_cost``: in process, no server. Per operation a
model request makes (``fixtures_version`` on every request, a ``claim`` when a
fixture has a ``sequenceIndex``, one journal ``append_entry`` per request) and
a whole request's share (version + append, and + claim), in microseconds, the
median of several rounds. The SQLite store is the one ``--workers N`` (N > 1)
uses: a WAL database in a temporary directory, as the CLI makes it.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from echo_model.serving.core.sqlite_store import SqliteStore
from echo_model.serving.core.store import MemoryStore, RuntimeStore

#: A journal entry the size of a small chat request's.
ENTRY: dict[str, Any] = {
    "request_id": "req_0123456789abcdef",
    "worker": 1234,
    "method": "POST",
    "path": "/v1/chat/completions",
    "protocol": "openai",
    "headers": {"content-type": "application/json", "user-agent": "OpenAI/Python"},
    "body": {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "What is the capital of Japan?"}],
    },
    "body_truncated": False,
    "status": 200,
    "context": "test_app.py::test_x#abc",
    "fixture": "<admin>#0",
    "reply": {"text": "Tokyo.", "tool_calls": [], "error": None},
    "timings": {"arrival": 1.7e9, "first_token": None, "end": 0.0012},
}


def per_call_us(call: Callable[[int], object], calls: int, rounds: int = 5) -> float:
    """Return the median over ``rounds`` of the microseconds ``call(i)`` takes."""
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(calls):
            call(i)
        results.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(results)


def measure(store: RuntimeStore, calls: int) -> dict[str, float]:
    """Return each operation's cost on ``store``, in microseconds."""
    store.add_fixtures([{"match": {"userMessage": "x"}, "response": {"content": "y"}}])
    claims = iter(range(10**9))
    version = per_call_us(lambda i: store.fixtures_version(), calls)
    append = per_call_us(lambda i: store.append_entry(ENTRY), calls)
    claim = per_call_us(lambda i: store.claim("ctx", "p", next(claims)), calls)
    return {
        "fixtures_version": version,
        "append_entry": append,
        "claim": claim,
        "request (version + append)": version + append,
        "request with sequenceIndex (+ claim)": version + append + claim,
    }


def main(calls: int = 2000) -> None:
    """Print the table."""
    memory = measure(MemoryStore(), calls)
    with tempfile.TemporaryDirectory() as directory:
        sqlite = measure(SqliteStore(Path(directory) / "runtime.sqlite3"), calls)
    print(f"{'operation (µs per call)':40} {'memory':>8} {'sqlite':>8} {'extra':>8}")
    for name, value in memory.items():
        print(f"{name:40} {value:8.1f} {sqlite[name]:8.1f} {sqlite[name] - value:8.1f}")


if __name__ == "__main__":
    main()
