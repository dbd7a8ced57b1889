"""Starting servers for a benchmark, and reading what they cost.

Finding a port, waiting for ``/health`` and stopping a process group are the
pytest plugin's (``echo_model.testing.server``); the tests use them from here.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from echo_model.testing.server import (
    free_port,
    stop_process_group,
    wait_until_healthy,
)

__all__ = [
    "ROOT",
    "ProcessEntry",
    "Server",
    "free_port",
    "process_table",
    "serve",
    "stop_process_group",
    "wait_until_healthy",
]

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    """A server process under benchmark."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """Resident memory of the server and all its descendants (workers)."""
        return sum(_rss(pid) for pid in _tree(self.process.pid))


@contextmanager
def serve(command: Sequence[str], timeout: float = 60.0) -> Iterator[Server]:
    """Run ``command`` (with ``{port}`` filled in) until the block exits."""
    port = free_port()
    argv = [part.format(port=port, python=sys.executable) for part in command]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server(process, port)
    try:
        wait_until_healthy(process, server.url, timeout, lambda: str(argv))
        yield server
    finally:
        stop_process_group(process)


@dataclass(frozen=True)
class ProcessEntry:
    """One line of the process table: a process, its state, parent and group."""

    pid: int
    state: str
    parent: int
    group: int


def process_table() -> list[ProcessEntry]:
    """Read every process's state, parent and group from /proc."""
    entries = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            entries.append(
                ProcessEntry(
                    pid=int(stat.parent.name),
                    state=fields[0],
                    parent=int(fields[1]),
                    group=int(fields[2]),
                )
            )
        except (OSError, IndexError, ValueError):
            continue
    return entries


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in process_table():
        children.setdefault(entry.parent, []).append(entry.pid)
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
