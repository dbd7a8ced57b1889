"""The echo-model server: EchoChatModel over HTTP with LangServe.

Run ``python server.py`` (or ``echo-server``) and open
http://127.0.0.1:8000/echo/playground/. Every flag has an environment variable
equivalent; ``python server.py --help`` lists them.
"""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline
from langserve import add_routes

from echo_model import __version__
from echo_model.request_config import config_validator
from echo_model.runnables import chat_chain, configurable_model

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
    n: int = field(default=1000, metadata={"help": "default echo length"})
    model_name: str = field(default="echo", metadata={"help": "reported model name"})
    first_token_delay: float = field(
        default=0.0, metadata={"help": "default seconds before the first chunk"}
    )
    token_delay: float = field(
        default=0.0, metadata={"help": "default seconds between chunks"}
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
            help=f"{setting.metadata['help']} (env {env_name}, default %(default)s)",
        )
    return Settings(**vars(parser.parse_args(argv)))


def _field_type(annotation: Any) -> Callable[[str], Any]:
    # Annotations are strings under `from __future__ import annotations`.
    return {"int": int, "float": float, "str": str, "bool": _parse_bool}[
        str(annotation)
    ]


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(text)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the FastAPI app serving the echo model.

    Routes: ``/echo`` (the model: invoke, batch, stream, stream_log,
    stream_events, schemas, playground), ``/chat`` (the chat playground),
    ``/health`` and ``/`` (links to the playgrounds and the docs).

    Args:
        settings: Server settings; read from ``ECHO_*`` variables when ``None``.
    """
    settings = settings or parse_settings([])
    # The docs page loads Swagger UI from the package, not a CDN, so it works
    # offline like the playgrounds. No ReDoc: its bundle fetches a logo from a CDN.
    app = FastAPIOffline(
        redoc_url=None,
        title="echo-model",
        version=__version__,
        description="A deterministic LangChain chat model that echoes.",
    )
    model = configurable_model(**settings.model_defaults())
    check_config = config_validator(model)
    add_routes(app, model, path="/echo", per_req_config_modifier=check_config)
    add_routes(
        app,
        chat_chain(model),
        path="/chat",
        playground_type="chat",
        per_req_config_modifier=check_config,
    )

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

    return app


app = create_app()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the server: ``python server.py --help`` for the flags."""
    settings = parse_settings(argv)
    # Worker processes build their own app from the environment: hand them the
    # settings that way, so flags and variables mean the same everywhere.
    for setting in fields(Settings):
        os.environ[ENV_PREFIX + setting.name.upper()] = str(
            getattr(settings, setting.name)
        )
    base = f"http://{settings.host}:{settings.port}"
    print(f"echo-model {__version__}: playground at {base}/echo/playground/")
    print(f"  chat playground at {base}/chat/playground/, API docs at {base}/docs")
    print(f"  model defaults: {settings.model_defaults()}", flush=True)
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
        loop="uvloop",
        http="httptools",
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
