"""Checking per-request configuration before LangServe runs anything: one place.

- ``check_config_shape``: the body's ``config`` is an object (or one per
  input of a batch) holding only the keys of a LangChain ``RunnableConfig``.
- ``config_checker``: its ``configurable`` values fit the options' types and
  the server's limits (``core.options.OptionChecks``, the rule every protocol
  applies); then the request's fault is decided with its ``fault`` option,
  and the ``X-Echo-Context`` / ``X-Echo-Strict`` headers become the
  configurable values ``FIXTURE_KEYS`` the model is configured with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from langchain_core.runnables import RunnableConfig

from echo_model.serving.core.fault_middleware import decide_fault
from echo_model.serving.core.fixtures import fixture_call
from echo_model.serving.core.limits import Limits, refuse
from echo_model.serving.core.options import InvalidRequest, OptionChecks

#: The keys of a LangChain RunnableConfig; clients such as RemoteRunnable send
#: several of them (LangServe then keeps only ``configurable``).
CONFIG_KEYS = frozenset(RunnableConfig.__annotations__)

#: The model fields a request's headers set through ``configurable``: only
#: the headers do (a value a client put in the body is dropped, unchecked).
FIXTURE_KEYS = ("fixture_context", "fixture_strict")

ConfigModifier = Callable[[dict[str, Any], Request], Awaitable[dict[str, Any]]]


def config_checker(limits: Limits) -> ConfigModifier:
    """Return a LangServe ``per_req_config_modifier``: check, then decide the fault.

    LangServe checks the request's config against a copy of the runnable's
    config schema that drops field constraints, so ``{"n": -1}`` would get
    through and fail inside the run (a 500 on ``/batch``). This checks the
    configurable values by the options' own types, constraints included, and
    the server's limits, and answers 422 naming the field, for every
    endpoint. Unknown configurable keys pass: LangGraph and ``RemoteRunnable``
    forward their own (``thread_id``, ...) to every runnable. Once the
    values are checked, the request's fault is decided with the ``fault``
    option (the ``X-Echo-Fault`` header wins over it), which may answer the
    request now: a ``status`` fault stops it before any run.

    Args:
        limits: The server's limits on ``n``, the delays and the stop sequences.
    """
    checks = OptionChecks(limits)

    async def check(config: dict[str, Any], request: Request) -> dict[str, Any]:
        configurable = config.get("configurable") or {}
        if errors := checks.errors(configurable):
            raise RequestValidationError(
                [{**e, "loc": ("configurable", *e["loc"])} for e in errors]
            )
        await decide_fault(request, configurable.get("fault") or None)
        try:
            scripted = fixture_call(request.headers)
        except InvalidRequest as error:
            refuse(("header", "X-Echo-Strict"), error.message)
        values = {k: v for k, v in configurable.items() if k not in FIXTURE_KEYS}
        if scripted.context is not None:
            values["fixture_context"] = scripted.context
        if scripted.strict is not None:
            values["fixture_strict"] = scripted.strict
        if values != configurable:
            config = {**config, "configurable": values}
        return config

    return check


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
