"""Run the real echo server in a child process, for tests.

The server is ``echo-server`` itself (``echo_model.serving.cli``) started by
the running Python on a free 127.0.0.1 port, in its own process group so that
stopping it stops every worker too; its output goes to a log file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from echo_model.testing.metrics import Metrics, read_metrics

#: How often a test server checks that the test session that started it lives.
PARENT_POLL_SECONDS = 0.5

#: Flags every test server gets before the user's own (which win, coming later):
#: the access log shows a failing test its requests, and a short drain keeps the
#: end of a session quick even if a test left a stream open.
DEFAULT_ARGS = ("--access-log", "--graceful-timeout", "2")

#: The server's flags have ``ECHO_*`` equivalents; a test server takes none of
#: them from the shell, so a session behaves the same on every machine.
ENV_PREFIX = "ECHO_"

#: Seconds the server gets to answer ``/health`` after it is started.
STARTUP_TIMEOUT = 60.0

#: What uvicorn logs when the port was taken between choosing and binding it.
PORT_TAKEN = re.compile(r"address already in use", re.IGNORECASE)


@dataclass(frozen=True)
class EchoServer:
    """A running echo server and how to reach it.

    Attributes:
        process: The server process (leader of its own process group).
        port: The TCP port it listens on, on 127.0.0.1.
        api_key: The key it requires on model routes (``None`` for none).
        log_path: The file its standard output and error go to.
    """

    process: subprocess.Popen[bytes]
    port: int
    api_key: str | None
    log_path: Path

    @property
    def url(self) -> str:
        """The server's root URL, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def langserve_url(self) -> str:
        """The LangServe route of the model, for ``RemoteRunnable``."""
        return self.url + "/echo/"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` of OpenAI's SDK and ``ChatOpenAI`` (``/v1``)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The ``base_url`` of Anthropic's SDK and ``ChatAnthropic`` (the root)."""
        return self.url

    @property
    def auth_headers(self) -> dict[str, str]:
        """The header that authenticates a request (none if the server is open)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def log(self, start: int = 0) -> str:
        """Return what the server has written to its log, from byte ``start`` on."""
        with self.log_path.open("rb") as log:
            log.seek(start)
            return log.read().decode(errors="replace")

    def log_size(self) -> int:
        """Return the log's length in bytes (a mark to read from later)."""
        return self.log_path.stat().st_size

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the server's ``/admin`` API; return the reply's JSON.

        Raises:
            AdminError: The server refused (a fixture it cannot use: 400, with
                the file, fixture and field named).
        """
        response = httpx.request(
            method,
            f"{self.url}/admin/{path}",
            headers=self.auth_headers,
            timeout=30.0,
            **kwargs,
        )
        if response.status_code >= 400:
            raise AdminError(response.status_code, response.text)
        return response.json()

    def add_fixtures(self, fixtures: Sequence[Mapping[str, Any]]) -> list[str]:
        """Add fixtures (aimock's format) at run time; return their labels."""
        reply = self.admin("POST", "fixtures", json=list(fixtures))
        return list(reply["added"])

    def remove_fixtures(self, context: str | None = None) -> None:
        """Forget the fixtures added at run time (of ``context`` only, if given)."""
        params = {"context": context} if context is not None else {}
        self.admin("DELETE", "fixtures", params=params)

    def requests(
        self, context: str | None = None, path: str | None = None
    ) -> list[dict[str, Any]]:
        """Return the server's journal, oldest first (of ``context``, ``path``).

        Each entry holds the ``path``, ``protocol``, ``body`` as the client
        sent it, ``status``, ``reply`` (``text``, ``tool_calls``, ``error``),
        the ``fixture`` that answered (``None``: the echo), ``context`` and
        ``timings`` (docs/fixtures.md).
        """
        params = {k: v for k, v in (("context", context), ("path", path)) if v}
        entries: list[dict[str, Any]] = self.admin("GET", "requests", params=params)
        return entries

    def metrics(self) -> Metrics:
        """Read the server's metrics: ``/metrics``, or ``/stats`` where there is none.

        Counters are totals since the server started (it serves the whole
        session): compare two readings to see what one test did.
        """
        return read_metrics(self.url, self.auth_headers)


class AdminError(RuntimeError):
    """The server's ``/admin`` API refused a call."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"echo-server /admin answered {status}: {detail}")
        self.status = status
        self.detail = detail


def server_args(options: Mapping[str, Any]) -> list[str]:
    """Turn ``{"token_delay": 0.01, "access_log": False}`` into server flags.

    Each key is a setting of ``echo-server --help`` with underscores; ``True``
    and ``False`` give ``--flag`` and ``--no-flag``, ``None`` leaves the setting
    at its default, anything else is the flag's value.
    """
    args = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, str(value)]
    return args


def new_api_key() -> str:
    """Return a random API key, so a test proves its client authenticates."""
    return "sk-echo-" + secrets.token_urlsafe(16)


@contextmanager
def run_echo_server(
    log_dir: Path,
    args: Sequence[str] = (),
    api_key: str | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> Iterator[EchoServer]:
    """Run the echo server until the block exits.

    Args:
        log_dir: Directory for the server's log file.
        args: Extra ``echo-server`` flags (after ``DEFAULT_ARGS``, so they win).
        api_key: The key the server requires; ``None`` serves it open.
        startup_timeout: Seconds to wait for ``/health``.

    Raises:
        RuntimeError: The server exited or did not become healthy; the
            message holds its log.
    """
    for attempt in range(3):
        server = _start(log_dir, args, api_key, attempt)
        try:
            wait_until_healthy(server.process, server.url, startup_timeout, server.log)
        except RuntimeError:
            stop_process_group(server.process)
            if PORT_TAKEN.search(server.log()) and attempt < 2:
                continue  # another process took the port first: pick a new one
            raise
        break
    try:
        yield server
    finally:
        stop_process_group(server.process)


def _start(
    log_dir: Path, args: Sequence[str], api_key: str | None, attempt: int
) -> EchoServer:
    port = free_port()
    log_path = log_dir / f"echo-server-{port}-{attempt}.log"
    key_args = ["--api-key", api_key] if api_key else []
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (our own command, no shell)
            [
                *server_command(os.getpid()),
                *("--host", "127.0.0.1", "--port", str(port)),
                *DEFAULT_ARGS,
                *args,
                *key_args,
            ],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return EchoServer(process=process, port=port, api_key=api_key, log_path=log_path)


def server_command(parent: int) -> list[str]:
    """Return the command that runs ``echo-server`` for the test session ``parent``.

    The running Python starts it (the ``echo-server`` script may not be on
    PATH: a virtualenv used without activating it), through ``serve``, which
    stops the server if the session dies without stopping it.
    """
    code = f"from echo_model.testing.server import serve; serve(parent={parent})"
    return [sys.executable, "-c", code]


def serve(parent: int) -> None:
    """Run ``echo-server`` with ``sys.argv``'s flags while process ``parent`` lives.

    A session killed outright (SIGKILL, a timeout's kill) runs no teardown;
    its server, in a process group of its own, would serve on. So a thread
    watches for the parent to go, then stops the server as SIGTERM does.
    """
    from echo_model.serving.cli import main

    watcher = threading.Thread(target=_exit_with, args=(parent,), daemon=True)
    watcher.start()
    main()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(
    process: subprocess.Popen[Any],
    url: str,
    timeout: float,
    describe: Callable[[], str] = str,
) -> None:
    """Wait until ``url``/health answers 200.

    Args:
        process: The server's process: its exit fails the wait at once.
        url: The server's root URL.
        timeout: Seconds to wait.
        describe: What a failure shows of the server: its log, or its command.

    Raises:
        RuntimeError: The process exited first, or the time ran out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = (
                f"server exited with {process.returncode} before it was ready;"
                f" it says:\n{describe()}"
            )
            raise RuntimeError(msg)
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    msg = f"server not healthy after {timeout}s; it says:\n{describe()}"
    raise RuntimeError(msg)


def stop_process_group(process: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """Stop ``process`` and its process group: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):  # leave no worker behind
        os.killpg(process.pid, signal.SIGKILL)
