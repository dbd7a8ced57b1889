"""The one list of per-request options: every place derives from it, every
protocol bounds each option the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from echo_model.chat_models import EchoChatModel
from echo_model.options import OPTION_NAMES, REQUEST_OPTIONS
from echo_model.serving.core.limits import Limits
from echo_model.serving.core.options import options_table
from echo_model.serving.protocols.langserve.runnables import (
    CONFIGURABLE_FIELDS,
    SERVER_OPTIONS,
)
from echo_model.testing.options import SIMULATION_OPTIONS, EchoOptions

ROOT = Path(__file__).parents[3]


def test_model_options_are_model_fields() -> None:
    for option in REQUEST_OPTIONS:
        if option.target != "server":
            assert option.name in EchoChatModel.model_fields


def test_the_docs_table_is_the_generated_one() -> None:
    assert options_table() in (ROOT / "docs" / "options.md").read_text()


def test_the_pytest_marker_accepts_every_option() -> None:
    assert SIMULATION_OPTIONS | {"fault"} == OPTION_NAMES

    class Mark:
        args: tuple[Any, ...] = ()

        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    options = EchoOptions.from_markers(
        [Mark(ttft_spread=0.1, itl_spread=0.1, prefill_per_token=0.001, fault="none")]
    )
    assert options.simulation == {
        "ttft_spread": 0.1,
        "itl_spread": 0.1,
        "prefill_per_token": 0.001,
    }
    assert options.fault == "none"


def test_langserve_takes_every_option() -> None:
    assert set(CONFIGURABLE_FIELDS) | set(SERVER_OPTIONS) == OPTION_NAMES


async def test_openapi_documents_every_option(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("ChatCompletionRequest", "MessagesRequest"):
        description = schema[model]["properties"]["echo"]["description"]
        assert all(f"`{name}`" in description for name in OPTION_NAMES), model
    configurable = schema["echoConfigurable"]["properties"]
    assert set(configurable) >= OPTION_NAMES


LIMITS = Limits()
#: Per option, values every protocol must refuse: out of the field's bounds,
#: over a server limit, or of the wrong type.
BAD_VALUES: list[tuple[str, Any]] = [
    ("n", -1),
    ("n", LIMITS.max_n + 1),
    ("n", "five"),
    ("stop", ["x" * (LIMITS.max_stop_length + 1)]),
    ("stop", ["x"] * (LIMITS.max_stop_sequences + 1)),
    ("first_token_delay", -0.5),
    ("first_token_delay", LIMITS.max_delay + 1),
    ("token_delay", LIMITS.max_delay + 1),
    ("ttft_spread", -1),
    ("itl_spread", -1),
    ("prefill_per_token", 0.5),
    ("latency_seed", "seed"),
    ("fail_after_chunks", -1),
    ("error_rate", 1.5),
    ("seed", 1.5),
    ("fault", "explode"),
]


def test_every_option_has_a_bad_value() -> None:
    assert {name for name, _ in BAD_VALUES} == OPTION_NAMES


async def refused(client: httpx.AsyncClient, name: str, value: Any) -> list[int]:
    """Send the option over each protocol; return each reply's status."""
    options = {name: value}
    echo = await client.post(
        "/echo/invoke", json={"input": "hi", "config": {"configurable": options}}
    )
    openai = await client.post(
        "/v1/chat/completions",
        json={
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "echo": options,
        },
    )
    anthropic = await client.post(
        "/v1/messages",
        json={
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
            "echo": options,
        },
    )
    assert name in str(echo.json()["detail"])
    assert f"echo.{name}" in openai.json()["error"]["message"]
    assert f"echo.{name}" in anthropic.json()["error"]["message"]
    return [echo.status_code, openai.status_code, anthropic.status_code]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
async def test_every_protocol_refuses_the_same_bad_option(
    client: httpx.AsyncClient, name: str, value: Any
) -> None:
    assert await refused(client, name, value) == [422, 400, 400]


async def test_the_same_values_pass_everywhere(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        options = {"n": 2, "stop": ["!"], "seed": 1, "fault": "none"}
        echo = await client.post(
            "/echo/invoke",
            json={"input": "hey!", "config": {"configurable": options}},
        )
        assert echo.json()["output"]["content"] == "he"
        openai = await client.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "messages": [{"role": "user", "content": "hey!"}],
                "echo": options,
            },
        )
        assert openai.json()["choices"][0]["message"]["content"] == "he"


LONG_STOP = "x" * 5000


async def test_a_5000_character_stop_is_refused_on_every_protocol(
    client: httpx.AsyncClient,
) -> None:
    # Each protocol's own stop field, by the same --max-stop-length.
    user = [{"role": "user", "content": "hi"}]
    openai = await client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": user, "stop": [LONG_STOP]},
    )
    assert openai.status_code == 400
    assert openai.json()["error"]["param"] == "stop.0"
    assert "--max-stop-length" in openai.json()["error"]["message"]
    single = await client.post(
        "/v1/chat/completions", json={"model": "m", "messages": user, "stop": LONG_STOP}
    )
    assert single.status_code == 400
    anthropic = await client.post(
        "/v1/messages",
        json={
            "model": "m",
            "max_tokens": 5,
            "messages": user,
            "stop_sequences": [LONG_STOP],
        },
    )
    assert anthropic.status_code == 400
    assert anthropic.json()["error"]["type"] == "invalid_request_error"
    assert "stop_sequences.0" in anthropic.json()["error"]["message"]
    assert await refused(client, "stop", [LONG_STOP]) == [422, 400, 400]


def test_only_the_generated_table_lists_the_options() -> None:
    # A hand-kept copy drifts (the echo tables once missed five options).
    tables = [
        path.name
        for path in sorted((ROOT / "docs").glob("*.md"))
        if "| `fail_after_chunks` |" in path.read_text()
    ]
    assert tables == ["options.md"]
