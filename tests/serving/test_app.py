"""Every route of the app, in process over httpx.ASGITransport."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from langserve.lzstring import LZString

from echo_model import __version__
from echo_model.serving.app import LINKS, create_app
from echo_model.serving.settings import Settings
from tests.support.sse import parse_sse

pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")


async def post(client: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    return await client.post(path, json=body)


def configurable(**values: Any) -> dict[str, Any]:
    return {"configurable": values}


# --- invoke and batch --------------------------------------------------------


async def test_invoke(client: httpx.AsyncClient) -> None:
    response = await post(client, "/echo/invoke", {"input": "hello"})
    assert response.status_code == 200
    body = response.json()
    output = body["output"]
    assert output["type"] == "ai"
    assert output["content"] == "hello"
    assert output["response_metadata"] == {
        "model_name": "echo",
        "finish_reason": "stop",
        "stop_sequence": None,
    }
    assert output["usage_metadata"] == {
        "input_tokens": 5,
        "output_tokens": 5,
        "total_tokens": 10,
    }
    assert body["metadata"]["run_id"] in output["id"]


async def test_invoke_with_messages_and_content_blocks(
    client: httpx.AsyncClient,
) -> None:
    png = b"\x89PNG fake"
    image = base64.b64encode(png).decode()
    messages = [
        {"type": "system", "content": "be brief"},
        {
            "type": "human",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image", "base64": image, "mime_type": "image/png"},
            ],
        },
    ]
    response = await post(client, "/echo/invoke", {"input": messages})
    assert response.status_code == 200
    assert (
        response.json()["output"]["content"]
        == f"look[image image/png, {len(png)} bytes]"
    )


@pytest.mark.parametrize(
    ("config", "expected", "finish_reason"),
    [
        (configurable(n=3), "hel", "length"),
        (configurable(stop=["l"]), "hel", "stop"),
        (configurable(n=0), "", "length"),
        (configurable(n=2, stop=["zz"]), "he", "length"),
    ],
)
async def test_invoke_configurable(
    client: httpx.AsyncClient, config: dict, expected: str, finish_reason: str
) -> None:
    response = await post(client, "/echo/invoke", {"input": "hello", "config": config})
    assert response.status_code == 200
    output = response.json()["output"]
    assert output["content"] == expected
    assert output["response_metadata"]["finish_reason"] == finish_reason


async def test_config_in_the_path_hash(client: httpx.AsyncClient) -> None:
    # The playground sends its configuration this way.
    config_hash = LZString.compressToEncodedURIComponent(json.dumps(configurable(n=2)))
    response = await post(client, f"/echo/c/{config_hash}/invoke", {"input": "hello"})
    assert response.status_code == 200
    assert response.json()["output"]["content"] == "he"


async def test_batch(client: httpx.AsyncClient) -> None:
    response = await post(
        client,
        "/echo/batch",
        {"inputs": ["hello", "goodbye"], "config": configurable(n=3)},
    )
    assert response.status_code == 200
    body = response.json()
    assert [o["content"] for o in body["output"]] == ["hel", "goo"]
    assert len(body["metadata"]["run_ids"]) == 2


async def test_batch_with_one_config_per_input(client: httpx.AsyncClient) -> None:
    response = await post(
        client,
        "/echo/batch",
        {
            "inputs": ["hello", "hello"],
            "config": [configurable(n=1), configurable(n=4)],
        },
    )
    assert response.status_code == 200
    assert [o["content"] for o in response.json()["output"]] == ["h", "hell"]


# --- streaming ---------------------------------------------------------------


async def test_stream(client: httpx.AsyncClient) -> None:
    response = await post(client, "/echo/stream", {"input": "cat"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [e.event for e in events] == [
        "metadata",
        "data",
        "data",
        "data",
        "data",
        "end",
    ]
    chunks = [e.data for e in events if e.event == "data"]
    assert [c["content"] for c in chunks] == ["c", "a", "t", ""]
    assert all(c["type"] == "AIMessageChunk" for c in chunks)
    assert chunks[-1]["chunk_position"] == "last"
    assert chunks[-1]["usage_metadata"]["output_tokens"] == 3
    assert chunks[-1]["response_metadata"]["finish_reason"] == "stop"
    assert [c["usage_metadata"] for c in chunks[:-1]] == [None, None, None]


async def test_stream_configurable_stop(client: httpx.AsyncClient) -> None:
    response = await post(
        client, "/echo/stream", {"input": "a.b.c", "config": configurable(stop=["."])}
    )
    chunks = [e.data["content"] for e in parse_sse(response.text) if e.event == "data"]
    assert chunks == ["a", ".", ""]


async def test_stream_log(client: httpx.AsyncClient) -> None:
    response = await post(client, "/echo/stream_log", {"input": "hi"})
    assert response.status_code == 200
    events = parse_sse(response.text)
    assert events[-1].event == "end"
    ops = [op for e in events if e.event == "data" for op in e.data["ops"]]
    streamed = [
        op["value"]["content"] for op in ops if op["path"] == "/streamed_output/-"
    ]
    assert streamed == ["h", "i", ""]
    final = [op["value"] for op in ops if op["path"] == "/final_output"]
    assert final[-1]["content"] == "hi"  # the aggregate so far, replaced per chunk


async def test_stream_events(client: httpx.AsyncClient) -> None:
    response = await post(
        client, "/echo/stream_events", {"input": "hi", "config": configurable(n=1)}
    )
    assert response.status_code == 200
    events = [e.data for e in parse_sse(response.text) if e.event == "data"]
    assert [e["event"] for e in events] == [
        "on_chat_model_start",
        "on_chat_model_stream",
        "on_chat_model_stream",
        "on_chat_model_end",
    ]
    assert [e["data"]["chunk"]["content"] for e in events[1:3]] == ["h", ""]
    assert events[-1]["data"]["output"]["content"] == "h"
    assert events[0]["metadata"]["ls_model_name"] == "echo"


# --- schemas and pages -------------------------------------------------------


async def test_schemas(client: httpx.AsyncClient) -> None:
    input_schema = (await client.get("/echo/input_schema")).json()
    assert "anyOf" in input_schema  # a string, a prompt value or a message list
    output_schema = (await client.get("/echo/output_schema")).json()
    assert "AIMessage" in json.dumps(output_schema)
    config_schema = (await client.get("/echo/config_schema")).json()
    fields = config_schema["$defs"]["Configurable"]["properties"]
    assert set(fields) == {
        "n",
        "stop",
        "first_token_delay",
        "token_delay",
        "ttft_spread",
        "itl_spread",
        "prefill_per_token",
        "latency_seed",
        "fail_after_chunks",
        "error_rate",
        "seed",
        "fault",
    }
    assert fields["n"]["type"] == "integer"
    assert fields["n"]["minimum"] == 0
    assert fields["n"]["default"] == 1000


async def test_chat_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/chat/input_schema")).json()
    assert schema["properties"]["messages"]["widget"] == {
        "type": "chat",
        "input": "messages",
    }
    assert (await client.get("/chat/output_schema")).json()["type"] == "string"
    body = {
        "input": {
            "messages": [
                {"type": "human", "content": "first"},
                {"type": "ai", "content": "first"},
                {"type": "human", "content": "second"},
            ]
        },
        "config": configurable(n=4),
    }
    response = await post(client, "/chat/invoke", body)
    assert response.status_code == 200
    assert response.json()["output"] == "seco"
    streamed = await post(client, "/chat/stream", body)
    chunks = [e.data for e in parse_sse(streamed.text) if e.event == "data"]
    assert "".join(chunks) == "seco"


@pytest.mark.parametrize("path", ["/echo/playground/", "/chat/playground/"])
async def test_playground_pages(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<script" in response.text


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


async def test_index_points_to_playgrounds_and_docs(client: httpx.AsyncClient) -> None:
    as_json = await client.get("/")
    assert as_json.json() == LINKS
    as_html = await client.get("/", headers={"accept": "text/html"})
    assert 'href="/echo/playground/"' in as_html.text
    assert 'href="/docs"' in as_html.text
    assert (await client.get("/docs")).status_code == 200
    openapi = (await client.get("/openapi.json")).json()
    assert "/echo/invoke" in openapi["paths"]


async def test_settings_set_the_model_defaults() -> None:
    app = create_app(Settings(n=2, model_name="custom"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        output = (await post(client, "/echo/invoke", {"input": "hello"})).json()
    assert output["output"]["content"] == "he"
    assert output["output"]["response_metadata"]["model_name"] == "custom"


# --- errors ------------------------------------------------------------------

ENDPOINT_BODIES = {
    "/echo/invoke": {"input": "hello"},
    "/echo/batch": {"inputs": ["hello"]},
    "/echo/stream": {"input": "hello"},
    "/echo/stream_log": {"input": "hello"},
    "/echo/stream_events": {"input": "hello"},
    "/chat/invoke": {"input": {"messages": [{"type": "human", "content": "x"}]}},
}


@pytest.mark.parametrize("path", list(ENDPOINT_BODIES))
@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"n": -1}, "n"),
        ({"n": "x"}, "n"),
        ({"n": 1.5}, "n"),
        ({"stop": "x"}, "stop"),
        ({"token_delay": -1}, "token_delay"),
        ({"first_token_delay": "soon"}, "first_token_delay"),
    ],
)
async def test_invalid_configurable_is_422_naming_the_field(
    client: httpx.AsyncClient, path: str, values: dict, field: str
) -> None:
    body = {**ENDPOINT_BODIES[path], "config": configurable(**values)}
    response = await post(client, path, body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(field in error["loc"] for error in errors), errors


async def test_missing_input_is_422(client: httpx.AsyncClient) -> None:
    response = await post(client, "/echo/invoke", {})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["input"]


async def test_wrong_input_type_is_422(client: httpx.AsyncClient) -> None:
    response = await post(client, "/echo/invoke", {"input": None})
    assert response.status_code == 422


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo/invoke",
        content=b'{"input": "hel',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "not valid UTF-8 JSON" in response.text


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    assert (await post(client, "/nope/invoke", {"input": "x"})).status_code == 404
