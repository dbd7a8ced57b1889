"""The runtime API at ``/admin``: fixtures added at run time, the journal, resets.

Behind the server's key, like the model routes:

- ``GET /admin/fixtures``: ``{"fixtures": [...added, as posted], "files":
  [labels of the --fixtures ones]}``, in the order they match;
- ``POST /admin/fixtures``: add fixtures (a fixture file's JSON, or its
  list); checked first, 400 naming the fixture and field, nothing added;
- ``DELETE /admin/fixtures``: forget the added ones (back to the files);
  ``?context=NAME`` forgets only those whose match has that context;
- ``GET /admin/requests``: the journal, oldest first (``?path=``,
  ``?context=`` filter); ``DELETE /admin/requests``: empty it;
- ``POST /admin/reset``: empty the journal and reset the sequence counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse

from echo_model.fixtures import FixtureLoadError
from echo_model.serving.core.fixtures import ServedFixtures
from echo_model.serving.core.journal import select_entries
from echo_model.serving.core.store import RuntimeStore


def admin_router(
    fixtures: ServedFixtures, store: RuntimeStore, guards: Sequence[DependsParam]
) -> APIRouter:
    """Return the ``/admin`` routes over ``fixtures`` and ``store``."""
    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=list(guards))

    @router.get("/fixtures")
    async def list_fixtures() -> dict[str, Any]:
        """The fixtures added at run time (as posted), and the files' labels."""
        return {
            "fixtures": fixtures.runtime(),
            "files": [f.label for f in fixtures.files],
        }

    @router.post("/fixtures")
    async def add_fixtures(request: Request) -> JSONResponse:
        """Add fixtures (a fixture file's JSON); they match before the files'."""
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError as error:
            return _refuse(f"the body is not JSON: {error}")
        try:
            added = fixtures.add(data)
        except FixtureLoadError as error:
            return _refuse(str(error))
        return JSONResponse({"added": [f.label for f in added]})

    @router.delete("/fixtures")
    async def clear_fixtures(context: str | None = None) -> dict[str, Any]:
        """Forget the fixtures added at run time (``context``: only its own)."""
        removed = fixtures.clear(context)
        if removed is None:
            return {"fixtures": []}
        return {"fixtures": fixtures.runtime(), "removed": removed}

    @router.get("/requests")
    async def list_requests(
        path: str | None = None, context: str | None = None
    ) -> JSONResponse:
        """The journal, oldest first; ``path`` and ``context`` filter it."""
        return JSONResponse(select_entries(store.entries(), path, context))

    @router.delete("/requests")
    async def clear_requests() -> dict[str, Any]:
        """Empty the journal."""
        store.clear_entries()
        return {"requests": []}

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        """Empty the journal and reset every sequence count."""
        store.clear_entries()
        store.reset()
        return {"reset": True}

    return router


def _refuse(message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=400)


__all__ = ["admin_router"]
