"""Checking per-request configuration before LangServe runs anything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from langchain_core.runnables import Runnable
from pydantic import ValidationError

ConfigModifier = Callable[[dict[str, Any], Request], Awaitable[dict[str, Any]]]


def config_validator(runnable: Runnable) -> ConfigModifier:
    """Return a LangServe ``per_req_config_modifier`` that validates ``configurable``.

    LangServe checks the request's config against a copy of the runnable's
    config schema that drops field constraints, so ``{"n": -1}`` would get
    through and fail inside the run (a 500 on ``/batch``). This checks the
    configurable values against the runnable's own schema, constraints
    included, and answers 422 naming the field, for every endpoint.

    Args:
        runnable: The runnable served; its ``config_schema`` is the authority.
    """
    schema = runnable.config_schema(include=["configurable"])

    async def validate(config: dict[str, Any], request: Request) -> dict[str, Any]:
        try:
            schema.model_validate({"configurable": config.get("configurable") or {}})
        except ValidationError as error:
            raise RequestValidationError(
                error.errors(include_url=False, include_context=False)
            ) from None
        return config

    return validate
