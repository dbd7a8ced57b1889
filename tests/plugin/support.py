"""Helpers for running sample test sessions that use the plugin, and checking after."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from tests.support.live_server import live_group_members

#: Seconds a sample session may take (it starts a server of its own).
SESSION_TIMEOUT = 120.0


def server_logs(pytester: pytest.Pytester) -> list[Path]:
    """Return the server logs a sample session left in its temporary directory."""
    logs = pytester.path.glob("runpytest-*/echo_server*/echo-server-*.log")
    return sorted({log.resolve() for log in logs})  # pytest links "-current" dirs


def nothing_listens(port: int) -> bool:
    """Whether a connection to 127.0.0.1:``port`` is refused."""
    with socket.socket() as sock:
        sock.settimeout(2.0)
        code = sock.connect_ex(("127.0.0.1", port))
    return code == errno.ECONNREFUSED


def process_gone(pid: int, wait: float = 5.0) -> bool:
    """Whether process ``pid``'s group has exited within ``wait`` s (zombies have)."""
    return live_group_members(pid, wait) == []


def section(output: str, test_name: str) -> str:
    """Return the part of a pytest report about the failure of ``test_name``."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip("_ ") == test_name)
    end = next(
        (
            i
            for i in range(header + 1, len(lines))
            if lines[i].startswith("____") or lines[i].startswith("====")
        ),
        len(lines),
    )
    return "\n".join(lines[header:end])
