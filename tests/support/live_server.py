"""Start the real server the documented way (``python server.py``) on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from echo_model.testing.server import (
    free_port,
    stop_process_group,
    wait_until_healthy,
)
from tests.support.processes import ROOT, process_table


@dataclass
class LiveServer:
    """A running server process and where to reach it."""

    process: subprocess.Popen[str]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_server(
    tmp_dir: Path,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[LiveServer]:
    """Run ``python server.py --port <free> *args`` until the block exits.

    The server runs in its own process group so that stopping it also stops any
    worker processes; the block fails if the server does not come up.
    """
    port = free_port()
    log_path = tmp_dir / f"server-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "server.py", "--port", str(port), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    server = LiveServer(process=process, port=port, log_path=log_path)
    try:
        wait_until_healthy(process, server.url, startup_timeout, server.log)
        yield server
    finally:
        stop_process_group(process)


def live_group_members(pgid: int, wait: float = 5.0) -> list[int]:
    """Return the pids of processes in group ``pgid`` still running after ``wait`` s.

    Zombies do not count: they have exited, and on machines whose init does
    not reap orphans they linger as entries only. Helpers such as
    multiprocessing's resource tracker may take a moment to follow their parent
    out, hence the wait.
    """
    deadline = time.monotonic() + wait
    while (members := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


def _group_members(pgid: int) -> list[int]:
    return [p.pid for p in process_table() if p.group == pgid and p.state != "Z"]
