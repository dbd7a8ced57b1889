"""The app factory: settings in, a FastAPI app with every route and guard out."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi_offline import FastAPIOffline

from echo_model import __version__
from echo_model.chat_models import EchoChatModel
from echo_model.engine import Engine
from echo_model.serving.core.admin import admin_router
from echo_model.serving.core.auth import require_api_key
from echo_model.serving.core.error_shapes import ErrorShapes
from echo_model.serving.core.fast_path import FastPath
from echo_model.serving.core.fault_middleware import FaultInjection
from echo_model.serving.core.fixtures import ServedFixtures, load_file_fixtures
from echo_model.serving.core.journal import Exchanges
from echo_model.serving.core.metrics import ServingMetrics, metrics_route
from echo_model.serving.core.middleware import (
    ArrivalStamp,
    BodySizeLimit,
    ErrorReplies,
    RequestIds,
)
from echo_model.serving.core.openapi import document_event_streams
from echo_model.serving.core.protocol import ServingContext, WireProtocol
from echo_model.serving.core.recorder import Recording
from echo_model.serving.core.sqlite_store import SqliteStore, shared_store_path
from echo_model.serving.core.stats import stats_route
from echo_model.serving.core.store import MemoryStore, RuntimeStore
from echo_model.serving.inspector import Inspector
from echo_model.serving.patches import apply_patches
from echo_model.serving.protocols.anthropic import AnthropicProtocol
from echo_model.serving.protocols.langserve import LangServeProtocol
from echo_model.serving.protocols.ollama import OllamaProtocol
from echo_model.serving.protocols.openai import OpenAIProtocol
from echo_model.serving.protocols.responses import ResponsesProtocol
from echo_model.serving.settings import Settings, parse_settings

logger = logging.getLogger("echo_model.server")

#: The protocols served, in the order their paths are matched: Anthropic's
#: ``/v1/messages`` and OpenAI's Responses ``/v1/responses`` before OpenAI's
#: Chat Completions, which claims the rest of ``/v1``; Ollama's ``/api``; all
#: before LangServe's ~60 routes, which a request walks in order.
PROTOCOLS: tuple[type[WireProtocol], ...] = (
    AnthropicProtocol,
    ResponsesProtocol,
    OpenAIProtocol,
    OllamaProtocol,
    LangServeProtocol,
)

#: What the index page points to.
LINKS = {
    "playground": "/echo/playground/",
    "chat playground": "/chat/playground/",
    "API docs": "/docs",
    "inspector": "/ui/",
    "health": "/health",
}


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


def lifespan(inspector: Inspector) -> Callable[[FastAPI], AbstractAsyncContextManager]:
    """Return the app's lifespan: freeze the start-up objects, sample the counters."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        async with freeze_start_up_objects(app), inspector.sampling():
            yield

    return run


def runtime_store(settings: Settings) -> RuntimeStore:
    """Return the store of the runtime fixtures, sequence counts and journal.

    In memory for one worker; with several, the SQLite store in the run
    directory the CLI made for them all (``core.sqlite_store``).
    """
    path = shared_store_path() if settings.workers > 1 else None
    return SqliteStore(path) if path else MemoryStore()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the FastAPI app serving the echo model.

    Routes: ``/echo`` (the model: invoke, batch, stream, stream_log,
    stream_events, schemas, playground), ``/chat`` (the chat playground),
    ``/v1`` (OpenAI's Chat Completions and Responses, Anthropic's Messages),
    ``/api`` (Ollama's), ``/health``, ``/stats``, ``/metrics`` (Prometheus),
    ``/admin`` (fixtures, journal), ``/ui/`` (the inspector) and ``/`` (links
    to the playgrounds, the docs, the inspector).

    Args:
        settings: Server settings; read from ``ECHO_*`` variables when ``None``.

    Raises:
        FixtureLoadError: ``--fixtures`` names a file that cannot be used.
    """
    settings = settings or parse_settings([])
    apply_patches()
    limits = settings.limits()
    # The fixtures of --fixtures, then those added at run time (/admin), the
    # sequence counts and the journal, in a store the workers share.
    store = runtime_store(settings)
    fixtures = ServedFixtures(load_file_fixtures(settings.fixtures), store)
    # One engine per app (so per worker): it paces every protocol's replies
    # and tells the metrics their timings.
    metrics = ServingMetrics(settings.model_name)
    engine = Engine(**settings.engine_options())
    engine.listeners.append(metrics)
    secrets = [settings.api_key] if settings.api_key else []
    guards = [Depends(require_api_key(key)) for key in secrets]
    # The page at /ui/ reads the same journal and metrics as /admin, /metrics.
    inspector = Inspector(metrics, store, guards)
    # The docs page loads Swagger UI from the package, not a CDN, so it works
    # offline like the playgrounds. No ReDoc: its bundle fetches a logo from a CDN.
    app = FastAPIOffline(
        lifespan=lifespan(inspector),
        redoc_url=None,
        title="echo-model",
        version=__version__,
        description="A deterministic LangChain chat model that echoes.",
    )
    app.state.metrics = metrics  # for whoever holds the app (tests, embedders)
    protocols = [protocol() for protocol in PROTOCOLS]

    # Innermost: the vendor routes' usual requests skip FastAPI's routing and
    # dependency solving, and still pass every middleware below.
    app.add_middleware(FastPath, routes=app.router.routes)
    # Inside ErrorReplies: an injected disconnect must pass it, to the server.
    app.add_middleware(
        FaultInjection,
        protocols=protocols,
        metrics=metrics,
        server_fault=settings.server_fault(),
        context_window=settings.context_window,
    )
    app.add_middleware(ErrorReplies, secrets=secrets)
    app.add_middleware(BodySizeLimit, max_body_bytes=limits.max_body_bytes)
    # Outermost: the refusals of every layer inside (body size, error replies,
    # API key, router) reach each protocol's clients in its own shape.
    app.add_middleware(ErrorShapes, protocols=protocols)
    # Record and replay: a fixture miss goes upstream (journaled, inside it).
    if settings.upstream and (settings.record or settings.proxy_only):
        key = settings.upstream_api_key
        app.add_middleware(
            Recording,
            upstream=settings.upstream,
            api_key=key.get_secret_value() if key else None,
            fixtures=fixtures,
            directory=None if settings.proxy_only else settings.fixtures,
        )
    # Outside those: each model request is journaled with its final status.
    app.add_middleware(Exchanges, protocols=protocols, store=store)
    # Outside those: every reply, a refusal of any layer too, carries the id.
    app.add_middleware(RequestIds, protocols=protocols)
    # Outside everything of ours: the engine times replies from here.
    app.add_middleware(ArrivalStamp, clock=engine.clock)

    # Registered before LangServe's ~60 routes: a request walks the routes in
    # order, and health checks come often.
    app.add_api_route(
        "/stats", stats_route(metrics), tags=["meta"], dependencies=guards
    )
    app.add_api_route(
        "/metrics",
        metrics_route(metrics),
        tags=["meta"],
        dependencies=guards,
        response_class=PlainTextResponse,
        summary="Prometheus metrics (vLLM's names), summed over workers",
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

    app.include_router(admin_router(fixtures, store, guards))
    inspector.add_routes(app)
    app.state.inspector = inspector
    app.state.store = store

    context = ServingContext(
        model=EchoChatModel(
            **settings.model_defaults(),
            engine=engine,
            fixtures=fixtures,
            fixture_strict=settings.strict,
            sequence_counter=store,
        ),
        limits=limits,
        metrics=metrics,
        guards=guards,
        fixtures=fixtures,
        store=store,
    )
    for protocol in protocols:
        protocol.add_routes(app, context)

    document_event_streams(app)
    logger.info("echo-model app created in process %d", os.getpid())
    return app
