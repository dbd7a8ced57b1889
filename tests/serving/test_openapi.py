"""The published schemas: OpenAPI and LangServe's schema endpoints, in process."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

OPTIONS: dict[str, dict[str, Any]] = {
    "n": {"type": "integer", "minimum": 0},
    "first_token_delay": {"type": "number", "minimum": 0},
    "token_delay": {"type": "number", "minimum": 0},
    "fail_after_chunks": {
        "anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]
    },
    "error_rate": {
        "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]
    },
    "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    "ttft_spread": {"type": "number", "minimum": 0},
    "itl_spread": {"type": "number", "minimum": 0},
    "prefill_per_token": {"type": "number", "minimum": 0, "maximum": 0.01},
    "latency_seed": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    "stop": {"type": "array", "items": {"type": "string"}},
    "fault": {"anyOf": [{"type": "string", "maxLength": 256}, {"type": "null"}]},
}
TYPE_KEYS = ("type", "anyOf", "items", "minimum", "maximum", "maxLength")


def type_part(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: schema[key] for key in TYPE_KEYS if key in schema}


async def openapi_options(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    config = components[
        f"{path}ConfigurableOptionsConfig"
        if path == "echo"
        else f"{path}RunnableSequenceConfig"
    ]
    ref = config["properties"]["configurable"]["$ref"].rsplit("/", 1)[-1]
    return components[ref]["properties"]


@pytest.mark.parametrize("path", ["echo", "chat"])
async def test_openapi_publishes_the_configurable_constraints(
    client: httpx.AsyncClient, path: str
) -> None:
    published = await openapi_options(client, path)
    assert {name: type_part(s) for name, s in published.items()} == OPTIONS
    # What LangServe wrote beside the types stays.
    assert published["n"]["default"] == 1000
    assert "share of calls that fail" in published["error_rate"]["description"]


@pytest.mark.parametrize(
    "url", ["/echo/config_schema", "/chat/config_schema", "/echo/c/N4XyA/config_schema"]
)
async def test_config_schema_endpoints_publish_the_constraints(
    client: httpx.AsyncClient, url: str
) -> None:
    schema = (await client.get(url)).json()
    published = schema["$defs"]["Configurable"]["properties"]
    # Nullable fields show as their bare type: the playground's form needs that.
    bare = {
        name: expected["anyOf"][0] if "anyOf" in expected else expected
        for name, expected in OPTIONS.items()
    }
    assert {name: type_part(s) for name, s in published.items()} == bare


async def test_input_schema_still_describes_messages(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/echo/input_schema")).json()
    assert "HumanMessage" in schema["$defs"]


VALUES: dict[str, list[Any]] = {
    "n": [-1, 0, 3, 1.5],  # LangServe turns "3" into 3 before any check
    "first_token_delay": [-0.5, 0, 0.001],
    "fail_after_chunks": [-1, 5, None],
    "error_rate": [-0.1, 0, 0.5, 1, 1.01, None],
    "seed": [3, None, 1.5],
    "stop": [["x"], [], None, [1]],
}


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, values in VALUES.items() for v in values]
)
async def test_the_server_accepts_exactly_what_openapi_publishes(
    client: httpx.AsyncClient, name: str, value: Any
) -> None:
    published = (await openapi_options(client, "echo"))[name]
    try:
        jsonschema.validate(value, published)
        valid = True
    except jsonschema.ValidationError:
        valid = False
    body = {"input": "hi", "config": {"configurable": {name: value}}}
    response = await client.post("/echo/batch", json={"inputs": ["hi"], **body})
    assert (response.status_code != 422) == valid, response.text
