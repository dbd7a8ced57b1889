"""The echo-model server: EchoChatModel over HTTP with LangServe.

Run ``python server.py`` (or ``echo-server``) and open
http://127.0.0.1:8000/echo/playground/. Every flag has an environment variable
equivalent; ``python server.py --help`` lists them.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline
from langserve import add_routes
from langserve.callbacks import AsyncEventAggregatorCallback
from pydantic import SecretStr
from sse_starlette.sse import unpatch_uvicorn_signal_handler

from echo_model import __version__
from echo_model.guards import (
    BodySizeLimit,
    ErrorReplies,
    Limits,
    check_request_body,
    require_api_key,
)
from echo_model.openapi import document_event_streams
from echo_model.request_config import config_validator
from echo_model.runnables import chat_chain, configurable_model
from echo_model.stats import StatsHandler

# sse-starlette 1.x hooks uvicorn's exit handler to cut every open stream at
# the first SIGTERM; undo that, so in-flight streams finish within
# --graceful-timeout while the server refuses new connections.
unpatch_uvicorn_signal_handler()

# LangServe attaches an AsyncEventAggregatorCallback to every run. Its methods
# only append to a list, yet LangChain runs an async handler that is not
# `run_inline` in a new task for every event, one per streamed token. Inline,
# as LangChain runs its own tracer: the same events, in place; a third less
# server time per streamed chunk and a tenth less per invoke.
AsyncEventAggregatorCallback.run_inline = True

ENV_PREFIX = "ECHO_"

#: What the index page points to.
LINKS = {
    "playground": "/echo/playground/",
    "chat playground": "/chat/playground/",
    "API docs": "/docs",
    "health": "/health",
}


@dataclass(frozen=True)
class Settings:
    """Server settings; each has a ``--flag`` and an ``ECHO_*`` environment variable.

    Attributes:
        host: Interface to bind.
        port: TCP port to listen on.
        workers: Number of uvicorn worker processes.
        log_level: uvicorn log level.
        access_log: Whether uvicorn logs every request.
        graceful_timeout: Seconds in-flight requests get to finish on shutdown.
        api_key: When set, every model route requires this key.
        max_body_bytes, max_n, max_messages, max_batch, max_delay: Request limits
            (see ``echo_model.guards.Limits``).
        n: Default echo length (clients may override it per request).
        model_name: Model name reported in response metadata.
        first_token_delay: Default simulated seconds before the first chunk.
        token_delay: Default simulated seconds between chunks.
    """

    host: str = field(default="127.0.0.1", metadata={"help": "interface to bind"})
    port: int = field(default=8000, metadata={"help": "TCP port"})
    workers: int = field(default=1, metadata={"help": "uvicorn worker processes"})
    log_level: str = field(
        default="info",
        metadata={
            "help": "uvicorn log level",
            "choices": ["critical", "error", "warning", "info", "debug", "trace"],
        },
    )
    access_log: bool = field(
        default=False, metadata={"help": "log every request (costs ~10%% of req/s)"}
    )
    graceful_timeout: float = field(
        default=30.0,
        metadata={"help": "seconds in-flight streams get to finish on SIGTERM"},
    )
    api_key: SecretStr | None = field(
        default=None,
        metadata={"help": "require this key on every model route (default: none)"},
    )
    max_body_bytes: int = field(
        default=Limits.max_body_bytes, metadata={"help": "largest request body"}
    )
    max_n: int = field(
        default=Limits.max_n, metadata={"help": "largest n a request may set"}
    )
    max_messages: int = field(
        default=Limits.max_messages, metadata={"help": "most messages in one input"}
    )
    max_batch: int = field(
        default=Limits.max_batch, metadata={"help": "most inputs in one batch"}
    )
    max_delay: float = field(
        default=Limits.max_delay,
        metadata={"help": "largest first_token_delay or token_delay a request may set"},
    )
    n: int = field(default=1000, metadata={"help": "default echo length"})
    model_name: str = field(default="echo", metadata={"help": "reported model name"})
    first_token_delay: float = field(
        default=0.0, metadata={"help": "default seconds before the first chunk"}
    )
    token_delay: float = field(
        default=0.0, metadata={"help": "default seconds between chunks"}
    )

    def limits(self) -> Limits:
        """Return the request limits these settings fix."""
        return Limits(
            max_body_bytes=self.max_body_bytes,
            max_n=self.max_n,
            max_messages=self.max_messages,
            max_batch=self.max_batch,
            max_delay=self.max_delay,
        )

    def model_defaults(self) -> dict[str, Any]:
        """Return the EchoChatModel fields these settings fix."""
        return {
            "n": self.n,
            "model_name": self.model_name,
            "first_token_delay": self.first_token_delay,
            "token_delay": self.token_delay,
        }


def parse_settings(
    argv: Sequence[str] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Build Settings from flags, falling back to ``ECHO_*`` variables, then defaults.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when ``None``).
        environ: Environment variables (``os.environ`` when ``None``).
    """
    environ = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(
        prog="echo-server", description="Serve EchoChatModel with LangServe."
    )
    for setting in fields(Settings):
        env_name = ENV_PREFIX + setting.name.upper()
        kind = _field_type(setting.type)
        default = setting.default
        if env_name in environ:
            try:
                default = kind(environ[env_name])
            except ValueError:
                parser.error(
                    f"{env_name}={environ[env_name]!r} is not a valid {setting.type}"
                )
        parser.add_argument(
            "--" + setting.name.replace("_", "-"),
            **(
                {"action": argparse.BooleanOptionalAction}
                if kind is _parse_bool
                else {"type": kind}
            ),
            default=default,
            choices=setting.metadata.get("choices"),
            help=f"{setting.metadata['help']} (env {env_name}"
            + (")" if kind is SecretStr else ", default %(default)s)"),
        )
    return Settings(**vars(parser.parse_args(argv)))


def _field_type(annotation: Any) -> Callable[[str], Any]:
    # Annotations are strings under `from __future__ import annotations`.
    return {
        "int": int,
        "float": float,
        "str": str,
        "bool": _parse_bool,
        "SecretStr | None": SecretStr,
    }[str(annotation)]


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(text)


@asynccontextmanager
async def freeze_start_up_objects(app: FastAPI) -> AsyncIterator[None]:
    """At start-up, hide everything built so far from Python's garbage collector.

    The app, LangServe's models and schemas and the libraries they import are
    some 130,000 objects that live as long as the process, yet each full
    collection walks them all, stalling requests (wrk, one worker: p99 50-80
    ms). Frozen, they are skipped: p99 about 15 ms and 10-15 % more requests
    per second. Objects made by requests are collected as before.
    """
    gc.collect()
    gc.freeze()
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the FastAPI app serving the echo model.

    Routes: ``/echo`` (the model: invoke, batch, stream, stream_log,
    stream_events, schemas, playground), ``/chat`` (the chat playground),
    ``/health`` and ``/`` (links to the playgrounds and the docs).

    Args:
        settings: Server settings; read from ``ECHO_*`` variables when ``None``.
    """
    settings = settings or parse_settings([])
    limits = settings.limits()
    # The docs page loads Swagger UI from the package, not a CDN, so it works
    # offline like the playgrounds. No ReDoc: its bundle fetches a logo from a CDN.
    app = FastAPIOffline(
        lifespan=freeze_start_up_objects,
        redoc_url=None,
        title="echo-model",
        version=__version__,
        description="A deterministic LangChain chat model that echoes.",
    )
    secrets = [settings.api_key] if settings.api_key else []
    app.add_middleware(ErrorReplies, secrets=secrets)
    app.add_middleware(BodySizeLimit, max_body_bytes=limits.max_body_bytes)
    guards = [Depends(require_api_key(key)) for key in secrets]

    stats = StatsHandler()

    # Registered before LangServe's ~60 routes: a request walks the routes in
    # order, and health checks come often.
    @app.get("/stats", tags=["meta"], dependencies=guards)
    async def run_stats() -> dict[str, int]:
        """Count this process's model runs (active ones too) and streamed tokens."""
        return stats.counts.as_dict()

    @app.get("/health", tags=["meta"])
    async def health() -> dict[str, str]:
        """Report that the server is up, and its version."""
        return {"status": "ok", "version": __version__}

    @app.get("/", tags=["meta"], response_model=None)
    async def index(request: Request) -> dict[str, str] | HTMLResponse:
        """Point a person to the playgrounds and the API docs."""
        if "text/html" in request.headers.get("accept", ""):
            items = "".join(
                f'<li><a href="{url}">{name}</a></li>' for name, url in LINKS.items()
            )
            return HTMLResponse(f"<h1>echo-model {__version__}</h1><ul>{items}</ul>")
        return LINKS

    model = configurable_model(**settings.model_defaults(), callbacks=[stats])
    chat = chat_chain(model)
    check_config = config_validator(model, limits)
    add_routes(
        app,
        model,
        path="/echo",
        per_req_config_modifier=check_config,
        dependencies=[*guards, Depends(check_request_body(limits, model.input_schema))],
    )
    add_routes(
        app,
        chat,
        path="/chat",
        playground_type="chat",
        per_req_config_modifier=check_config,
        dependencies=[*guards, Depends(check_request_body(limits, chat.input_schema))],
    )

    document_event_streams(app)
    return app


app = create_app()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server: ``python server.py --help`` for the flags."""
    settings = parse_settings(argv)
    # Worker processes build their own app from the environment: hand them the
    # settings that way, so flags and variables mean the same everywhere.
    for setting in fields(Settings):
        value = getattr(settings, setting.name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            os.environ[ENV_PREFIX + setting.name.upper()] = str(value)
    base = f"http://{settings.host}:{settings.port}"
    print(f"echo-model {__version__}: playground at {base}/echo/playground/")
    print(f"  chat playground at {base}/chat/playground/, API docs at {base}/docs")
    print(f"  model defaults: {settings.model_defaults()}")
    if settings.api_key:
        print("  API key required on model routes (Bearer, X-API-Key or Basic)")
    elif settings.host in ("127.0.0.1", "localhost", "::1"):
        print("  no API key set: open to anyone on this machine, and only to them")
    else:
        print(f"  WARNING: no API key set and bound to {settings.host}: open to all")
    print(flush=True)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it with the handler
    # that was there before: make that a clean exit, so a requested stop is a 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "server:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_timeout,
        loop="uvloop",
        http="httptools",
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
