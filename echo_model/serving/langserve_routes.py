"""LangServe's protocol: the model at ``/echo`` and the chat chain at ``/chat``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from fastapi import Depends, FastAPI
from fastapi.params import Depends as DependsParam
from langchain_core.runnables import Runnable
from langserve import add_routes
from pydantic import BaseModel

from echo_model.serving.limits import Limits
from echo_model.serving.request_body import check_request_body
from echo_model.serving.request_config import config_validator
from echo_model.serving.runnables import chat_chain


def add_langserve_routes(
    app: FastAPI,
    model: Runnable,
    *,
    limits: Limits,
    guards: Sequence[DependsParam],
) -> None:
    """Serve ``model`` with LangServe: ``/echo`` (every endpoint) and ``/chat``.

    ``/echo`` has invoke, batch, stream, stream_log, stream_events, the schemas
    and the default playground; ``/chat`` wraps the model for the chat
    playground. Both check the request body and its config before LangServe
    runs anything.

    Args:
        app: The app to add the routes to.
        model: The configurable model (``runnables.configurable_model``).
        limits: The server's request limits.
        guards: Dependencies every route needs (the API key check).
    """
    check_config = config_validator(model, limits)
    routes: list[tuple[str, Runnable, dict[str, Any]]] = [
        ("/echo", model, {}),
        ("/chat", chat_chain(model), {"playground_type": "chat"}),
    ]
    for path, runnable, options in routes:
        input_schema = cast(type[BaseModel], runnable.input_schema)
        add_routes(
            app,
            runnable,
            path=path,
            per_req_config_modifier=check_config,
            dependencies=[
                *guards,
                Depends(check_request_body(limits, input_schema)),
            ],
            **options,
        )
