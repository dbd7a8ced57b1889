"""Checking per-request configuration before LangServe runs anything: one place.

- ``check_config_shape``: the body's ``config`` is an object (or one per
  input of a batch) holding only the keys of a LangChain ``RunnableConfig``.
- ``config_validator``: its ``configurable`` values fit the model's fields,
  constraints included, and the server's limits; then the request's fault
  is decided with its ``fault`` option (``fault_injection.apply_fault_option``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ValidationError

from echo_model.serving.fault_injection import apply_fault_option
from echo_model.serving.limits import Limits, refuse

#: The keys of a LangChain RunnableConfig; clients such as RemoteRunnable send
#: several of them (LangServe then keeps only ``configurable``).
CONFIG_KEYS = frozenset(RunnableConfig.__annotations__)

ConfigModifier = Callable[[dict[str, Any], Request], Awaitable[dict[str, Any]]]


def config_validator(runnable: Runnable, limits: Limits) -> ConfigModifier:
    """Return a LangServe ``per_req_config_modifier`` that validates ``configurable``.

    LangServe checks the request's config against a copy of the runnable's
    config schema that drops field constraints, so ``{"n": -1}`` would get
    through and fail inside the run (a 500 on ``/batch``). This checks the
    configurable values against the runnable's own schema, constraints
    included, and against the server's limits, and answers 422 naming the
    field, for every endpoint. Unknown configurable keys pass: LangGraph and
    ``RemoteRunnable`` forward their own (``thread_id``, ...) to every runnable.
    Once the values are checked, the ``fault`` option decides the request's
    injected fault (the ``X-Echo-Fault`` header wins over it), which may
    answer the request now: a ``status`` fault stops it before any run.

    Args:
        runnable: The runnable served; its ``config_schema`` is the authority.
        limits: The server's limits on ``n``, the delays and the stop sequences.
    """
    schema = runnable.config_schema(include=["configurable"])
    maxima = {
        "n": limits.max_n,
        "first_token_delay": limits.max_delay,
        "token_delay": limits.max_delay,
    }

    async def validate(config: dict[str, Any], request: Request) -> dict[str, Any]:
        configurable = config.get("configurable")
        if not configurable:
            # Nothing to check: the model's own defaults apply.
            await apply_fault_option(request, None)
            return config
        try:
            schema.model_validate({"configurable": configurable})
        except ValidationError as error:
            raise RequestValidationError(
                error.errors(include_url=False, include_context=False)
            ) from None
        over = [
            {
                "type": "less_than_equal",
                "loc": ["configurable", name],
                "msg": f"{name} is limited to {maximum} on this server",
                "input": configurable[name],
            }
            for name, maximum in maxima.items()
            if isinstance(configurable.get(name), int | float)
            and configurable[name] > maximum
        ]
        over.extend(_stops_over_limits(configurable.get("stop"), limits))
        if over:
            raise RequestValidationError(over)
        await apply_fault_option(request, configurable.get("fault"))
        return config

    return validate


def _stops_over_limits(stop: Any, limits: Limits) -> list[dict[str, Any]]:
    """Return an error for too many stop sequences, or for each one too long.

    Matching costs time in the number and length of the sequences: without a
    bound, one request can hold the event loop for every other.
    """
    if not isinstance(stop, list):
        return []  # the schema check has already accepted it (None)
    if len(stop) > limits.max_stop_sequences:
        return [
            {
                "type": "too_long",
                "loc": ["configurable", "stop"],
                "msg": f"at most {limits.max_stop_sequences} stop sequences on"
                f" this server, got {len(stop)} (--max-stop-sequences)",
            }
        ]
    return [
        {
            "type": "string_too_long",
            "loc": ["configurable", "stop", index],
            "msg": f"a stop sequence has at most {limits.max_stop_length} characters"
            f" on this server, got {len(sequence)} (--max-stop-length)",
        }
        for index, sequence in enumerate(stop)
        if isinstance(sequence, str) and len(sequence) > limits.max_stop_length
    ]


def check_config_shape(config: Any, *, batch: bool) -> None:
    """Refuse a ``config`` that is not an object of RunnableConfig keys (422).

    Args:
        config: The body's ``config`` value.
        batch: Whether the body is a batch, which may hold one config per input.
    """
    if batch and isinstance(config, list):
        configs = config
    elif isinstance(config, dict):
        configs = [config]
    else:
        refuse(("body", "config"), "'config' must be an object")
    for one in configs:
        if not isinstance(one, dict):
            refuse(("body", "config"), "each config must be an object")
        if unknown := set(one) - CONFIG_KEYS:
            refuse(
                ("body", "config"),
                f"unknown config keys {sorted(unknown)}; known: {sorted(CONFIG_KEYS)}",
            )
    # A batch is one reply, so it takes one fault: per-input configs must agree.
    faults = {repr(_fault_option(one)) for one in configs}
    if len(faults) > 1:
        refuse(
            ("body", "config", "configurable", "fault"),
            "a batch takes one fault (it is one reply): every config must set the"
            f" same 'fault', or none, got {sorted(faults)}",
        )


def _fault_option(config: dict[str, Any]) -> Any:
    configurable = config.get("configurable")
    value = configurable.get("fault") if isinstance(configurable, dict) else None
    return value or None  # empty: not set
