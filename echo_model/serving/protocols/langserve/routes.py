"""LangServe's protocol: the model at ``/echo`` and the chat chain at ``/chat``."""

from __future__ import annotations

from typing import Any, cast

from fastapi import Depends, FastAPI
from langchain_core.runnables import Runnable
from langserve import add_routes
from pydantic import BaseModel

from echo_model.serving.core.journal import ExchangeCallback
from echo_model.serving.core.metrics import ProtocolCounter
from echo_model.serving.core.protocol import ServingContext
from echo_model.serving.protocols.langserve.request_body import check_request_body
from echo_model.serving.protocols.langserve.request_config import config_checker
from echo_model.serving.protocols.langserve.runnables import (
    chat_chain,
    make_configurable,
)

PROTOCOL = "langserve"  # the metrics' protocol label
#: Where the model and the chat chain are served.
MODEL_PATH, CHAT_PATH = "/echo", "/chat"


def add_langserve_routes(app: FastAPI, context: ServingContext) -> None:
    """Serve the model with LangServe: ``/echo`` (every endpoint) and ``/chat``.

    ``/echo`` has invoke, batch, stream, stream_log, stream_events, the schemas
    and the default playground; ``/chat`` wraps the model for the chat
    playground. Both check the request body and its config before LangServe
    runs anything. Runs are counted in the metrics by a callback on the model
    (LangServe's handler is not ours to wrap).

    Args:
        app: The app to add the routes to.
        context: What the server serves with (model, limits, metrics, guards).
    """
    counted = context.model.model_copy(
        update={
            "callbacks": [
                ProtocolCounter(context.metrics, PROTOCOL),
                ExchangeCallback(),
            ]
        }
    )
    model = make_configurable(counted)
    check_config = config_checker(context.limits)
    routes: list[tuple[str, Runnable, dict[str, Any]]] = [
        (MODEL_PATH, model, {}),
        (CHAT_PATH, chat_chain(model), {"playground_type": "chat"}),
    ]
    for path, runnable, options in routes:
        input_schema = cast(type[BaseModel], runnable.input_schema)
        add_routes(
            app,
            runnable,
            path=path,
            per_req_config_modifier=check_config,
            dependencies=[
                *context.guards,
                Depends(check_request_body(context.limits, input_schema)),
            ],
            **options,
        )
