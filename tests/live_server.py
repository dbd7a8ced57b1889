"""Start the real server the documented way (``python server.py``) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.processes import ROOT, free_port


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
        _wait_until_healthy(server, startup_timeout)
        yield server
    finally:
        stop_server(server)


def stop_server(server: LiveServer, timeout: float = 15.0) -> int:
    """Stop the server's process group (SIGTERM, then SIGKILL) and return its code."""
    process = server.process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):  # leave no worker behind
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode


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
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _wait_until_healthy(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            msg = f"server exited with {server.process.returncode}:\n{server.log()}"
            raise RuntimeError(msg)
        try:
            if httpx.get(server.url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    msg = f"server did not become healthy in {timeout}s:\n{server.log()}"
    raise RuntimeError(msg)
