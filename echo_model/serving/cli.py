"""The command line: ``echo-server`` (and ``python server.py``) runs uvicorn.

``echo-server validate PATH...`` checks fixture files offline instead: a
subcommand of the one command users already have (nothing more to learn or
install), dispatched before the server's flags are parsed.
"""

from __future__ import annotations

import copy
import errno
import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import uvicorn
from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG, STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from echo_model import __version__
from echo_model.fixtures import FixtureLoadError, load_fixtures, shadowed_fixtures
from echo_model.serving.core.metrics import multiprocess_directory
from echo_model.serving.core.sqlite_store import run_directory
from echo_model.serving.patches import apply_patches
from echo_model.serving.settings import (
    LOOPBACK_HOSTS,
    Settings,
    parse_settings,
    stop,
)

#: uvicorn builds the app in each worker process from this factory.
APP_FACTORY = "echo_model.serving.app:create_app"

#: Connections the kernel queues before a worker accepts them (uvicorn's default).
BACKLOG = 2048


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server: ``echo-server --help`` for the flags."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["validate"]:
        sys.exit(validate(args[1:]))
    settings = parse_settings(args)
    if problem := unsafe_bind(settings) or recording_problem(settings):
        stop(problem)
    if problem := model_key_only(settings, os.environ):
        stop(problem)
    if settings.fixtures:
        # Read once here, so a bad file stops the server before it starts, on
        # one line (every worker reads it again when it builds its app).
        try:
            load_fixtures(settings.fixtures)
        except FixtureLoadError as error:
            stop(f"--fixtures: {error}")
    # Before uvicorn imports the app module: importing LangServe imports
    # sse-starlette, which swaps uvicorn's exit handler, and uvicorn binds the
    # handler to the signals before it calls the app factory (which would be
    # too late to undo it). Workers start fresh and are covered by the factory.
    apply_patches()
    # Worker processes build their own app from the environment.
    os.environ.update(settings.environment())
    # Bound here, before the banner: the banner's address is then really ours,
    # and a taken port is one line. One socket serves one worker or many (each
    # worker accepts on it), as uvicorn's own supervisor does.
    listener = bind(settings.host, settings.port)
    print_banner(settings)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it with the handler
    # that was there before: make that a clean exit, so a requested stop is a 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),
        access_log=settings.access_log,
        timeout_keep_alive=settings.timeout_keep_alive,
        # uvicorn waits this long (its annotation says int, but any float works).
        timeout_graceful_shutdown=settings.graceful_timeout,  # type: ignore[arg-type]
        loop="uvloop",
        http="httptools",
    )
    # Several workers write their metrics to files in a directory of ours, so
    # that one scrape of any worker sums them all; it goes when the server stops.
    # Their runtime store (added fixtures, sequence counts, journal) is one
    # SQLite file in a run directory of ours, likewise.
    with multiprocess_directory(settings.workers), run_directory(settings.workers):
        serve(config, listener)


def serve(config: uvicorn.Config, listener: socket.socket) -> None:
    """Serve ``config``'s app on ``listener``: in this process, or in workers."""
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[listener]).run()
        else:
            server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    if config.workers == 1 and not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run: the app failed to start


def bind(host: str, port: int) -> socket.socket:
    """Return a socket bound to ``host:port`` and listening, or stop with one line.

    Set up as uvicorn binds its own (``SO_REUSEADDR``, inheritable, so worker
    processes can accept on it). Listening at once: a client that connects
    after the banner waits for the app rather than being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            stop(
                f"port {port} on {host} is already in use ({error.strerror});"
                " choose another with --port or ECHO_PORT"
            )
        stop(f"cannot listen on {host} port {port}: {error.strerror or error}")
    listener.listen(BACKLOG)
    listener.set_inheritable(True)
    return listener


def print_banner(settings: Settings) -> None:
    """Say where the server is, its model defaults and who may use it."""
    base = f"http://{settings.host}:{settings.port}"
    print(f"echo-model {__version__}: playground at {base}/echo/playground/")
    print(f"  chat playground at {base}/chat/playground/, API docs at {base}/docs")
    print(f"  model defaults: {settings.model_defaults()}")
    if settings.api_key:
        print("  API key required on model routes (Bearer, X-API-Key or Basic)")
    elif is_loopback(settings.host):
        print("  no API key set: open to anyone on this machine, and only to them")
    else:
        print(f"  WARNING: no API key set and bound to {settings.host}: open to all")
        print("  (--allow-unauthenticated was given)")
    print(flush=True)


def model_key_only(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """Say why starting would leave the server open by mistake, if it would.

    ``ECHO_API_KEY`` is the model's key, not the server's; someone who sets it
    alone most likely meant to lock the server, which would then serve anyone.
    """
    if settings.api_key or not environ.get("ECHO_API_KEY"):
        return None
    return (
        "ECHO_API_KEY is set but the server has no key: ECHO_API_KEY is the"
        " model's variable. Lock the server with ECHO_SERVER_API_KEY (or"
        " --api-key), or unset ECHO_API_KEY."
    )


def validate(paths: Sequence[str]) -> int:
    """Check fixture files or folders offline: ``echo-server validate PATH...``.

    Prints one line per file or folder (``ok: N fixtures`` or the error that
    would stop the server) and a warning per fixture a catch-all before it
    shadows. Returns the exit code: 0 when every path loads, 2 otherwise.
    """
    if not paths:
        print("usage: echo-server validate PATH...", file=sys.stderr)
        return 2
    code = 0
    for path in paths:
        try:
            fixtures = load_fixtures(path)
        except FixtureLoadError as error:
            print(f"error: {error}")
            code = 2
            continue
        print(f"ok: {path}: {len(fixtures)} fixtures")
        for warning in shadowed_fixtures(fixtures):
            print(f"warning: {warning}")
    return code


def unsafe_bind(settings: Settings) -> str | None:
    """Say why ``settings`` would expose the model to the network unguarded, if so.

    A non-loopback host without an API key serves anyone who can reach the
    machine (in a container, anyone who can reach its port), so it needs the
    explicit ``--allow-unauthenticated``.
    """
    if settings.api_key or settings.allow_unauthenticated:
        return None
    if is_loopback(settings.host):
        return None
    return (
        f"refusing to serve --host {settings.host} without an API key: anyone who"
        " can reach it could use the server. Set --api-key (or ECHO_SERVER_API_KEY),"
        " or pass --allow-unauthenticated (ECHO_ALLOW_UNAUTHENTICATED=1) to serve"
        " it open to all."
    )


def recording_problem(settings: Settings) -> str | None:
    """Say what ``--record`` / ``--proxy-only`` lack, if anything."""
    if not (settings.record or settings.proxy_only):
        return None
    if not settings.upstream:
        return "--record and --proxy-only need --upstream URL"
    if settings.record and not (settings.fixtures and os.path.isdir(settings.fixtures)):
        return "--record needs --fixtures DIR (a folder; recorded/ goes in it)"
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost`` or a loopback IP)."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def log_config(level: str) -> dict[str, Any]:
    """Return uvicorn's logging config with the server's own logger added.

    Without it, ``echo_model``'s messages (app start, unexpected errors) would
    reach only Python's last-resort handler, which drops everything below
    WARNING and formats nothing.
    """
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["echo_model"] = {
        "handlers": ["default"],
        "level": LOG_LEVELS[level],
        "propagate": False,
    }
    return config


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
