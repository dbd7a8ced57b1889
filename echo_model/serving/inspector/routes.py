"""The inspector's routes: the page and its assets, and the data under ``/ui/api``.

- ``GET /ui/``: the page (says whether a key is needed, holds no data);
  ``GET /ui/inspector.js``, ``GET /ui/inspector.css``: its assets;
- ``GET /ui/api/requests``: the journal's newest entries first, one summary
  each (``entries.summarize``); ``?protocol=``, ``?status=`` (``200``,
  ``4xx``, ``ok``, ``error``) filter, ``?limit=`` caps (200);
- ``GET /ui/api/requests/{request_id}``: one journal entry, whole (the body
  and the reply as the client got them, the timings); 404 once it is gone;
- ``GET /ui/api/metrics``: ``charts.metrics_view``.

The data routes sit behind the server's key (the guards ``/admin`` and
``/metrics`` have); the fixtures panel uses ``/admin`` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, RedirectResponse, Response

from echo_model.serving.core.metrics import ServingMetrics
from echo_model.serving.core.store import RuntimeStore
from echo_model.serving.inspector.charts import CounterSamples, metrics_view
from echo_model.serving.inspector.entries import find, newest_first

#: Where the page lives.
PREFIX = "/ui"
#: The page's assets: file name -> media type.
ASSETS = {
    "inspector.js": "text/javascript; charset=utf-8",
    "inspector.css": "text/css; charset=utf-8",
}
#: The page may load and connect to this server only (no CDN, no other host).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
#: What the page's HTML says about the key, in place of ``{{KEY_REQUIRED}}``.
KEY_MARK = "{{KEY_REQUIRED}}"
NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _asset(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text("utf-8")


class Inspector:
    """The inspector of one app: its routes and its counter sampling.

    Args:
        metrics: The app's metrics (the registry ``/metrics`` serves).
        store: The store holding the journal ``/admin/requests`` serves.
        guards: The API-key dependencies (none without a key).
        samples: The ring of counter snapshots (a default one if omitted).
    """

    def __init__(
        self,
        metrics: ServingMetrics,
        store: RuntimeStore,
        guards: Sequence[DependsParam] = (),
        samples: CounterSamples | None = None,
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.guards = list(guards)
        self.samples = samples or CounterSamples(metrics)
        page = _asset("index.html")
        self.page = page.replace(KEY_MARK, "true" if self.guards else "false")
        self.assets = {name: _asset(name) for name in ASSETS}

    def add_routes(self, app: FastAPI) -> None:
        """Register the page, its assets and its data routes on ``app``."""
        app.include_router(self.page_router())
        app.include_router(self.data_router())

    def page_router(self) -> APIRouter:
        """The page and its assets: no data, no key needed."""
        router = APIRouter(prefix=PREFIX, include_in_schema=False)
        headers = {**NO_CACHE, "Content-Security-Policy": CONTENT_SECURITY_POLICY}

        @router.get("")
        async def to_page() -> RedirectResponse:
            return RedirectResponse(PREFIX + "/")

        @router.get("/")
        async def page() -> Response:
            return Response(self.page, media_type="text/html", headers=headers)

        for name, media_type in ASSETS.items():
            router.add_api_route(
                f"/{name}", self._serve(name, media_type), methods=["GET"]
            )
        return router

    def _serve(self, name: str, media_type: str) -> Any:
        async def asset() -> Response:
            return Response(self.assets[name], media_type=media_type, headers=NO_CACHE)

        return asset

    def data_router(self) -> APIRouter:
        """The data routes, behind the server's key."""
        router = APIRouter(
            prefix=PREFIX + "/api", tags=["inspector"], dependencies=self.guards
        )
        store, metrics, samples = self.store, self.metrics, self.samples

        @router.get("/requests")
        async def list_requests(
            protocol: str | None = None,
            status: str | None = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        ) -> JSONResponse:
            """The journal's newest entries first, one summary each."""
            lines = newest_first(store.entries(), protocol, status, limit)
            return JSONResponse(lines, headers=NO_CACHE)

        @router.get("/requests/{request_id}")
        async def one_request(request_id: str) -> JSONResponse:
            """One journal entry, whole: the body, the reply, the timings."""
            entry = find(store.entries(), request_id)
            if entry is None:
                raise HTTPException(404, f"no request {request_id} in the journal")
            return JSONResponse(entry, headers=NO_CACHE)

        @router.get("/metrics")
        async def chart_data() -> JSONResponse:
            """Histograms, counters and rates over the last minutes, for the charts."""
            return JSONResponse(metrics_view(metrics, samples), headers=NO_CACHE)

        return router

    @asynccontextmanager
    async def sampling(self) -> AsyncIterator[None]:
        """Snapshot the counters every interval while the block runs (the lifespan)."""

        async def tick() -> None:
            while True:
                self.samples.sample()
                await asyncio.sleep(self.samples.interval)

        task = asyncio.create_task(tick(), name="inspector-samples")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["CONTENT_SECURITY_POLICY", "PREFIX", "Inspector"]
