"""``POST /v1/embeddings`` in process: shapes, errors, limits, faults, metrics."""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from echo_model.embeddings import DEFAULT_DIMENSIONS, embed_text
from echo_model.serving.app import create_app
from echo_model.serving.settings import Settings


async def embed(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/v1/embeddings", json={"model": "emb", **body})


async def test_one_text_is_its_in_process_vector(client: httpx.AsyncClient) -> None:
    response = await embed(client, input="hello world")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == "emb"
    assert body["data"] == [
        {"object": "embedding", "index": 0, "embedding": embed_text("hello world")}
    ]
    assert body["usage"] == {"prompt_tokens": 11, "total_tokens": 11}
    assert len(body["data"][0]["embedding"]) == DEFAULT_DIMENSIONS


async def test_a_batch_keeps_input_order(client: httpx.AsyncClient) -> None:
    texts = ["b", "a", "the cat sat", "b"]
    body = (await embed(client, input=texts)).json()
    assert [d["index"] for d in body["data"]] == [0, 1, 2, 3]
    assert [d["embedding"] for d in body["data"]] == [embed_text(t) for t in texts]
    assert body["usage"]["prompt_tokens"] == sum(map(len, texts))


async def test_token_ids_are_code_points(client: httpx.AsyncClient) -> None:
    one = (await embed(client, input=[104, 105])).json()["data"]
    many = (await embed(client, input=[[104, 105], [121, 111]])).json()["data"]
    assert one[0]["embedding"] == embed_text("hi")
    assert [d["embedding"] for d in many] == [embed_text("hi"), embed_text("yo")]


async def test_base64_is_little_endian_float32(client: httpx.AsyncClient) -> None:
    body = (await embed(client, input="hello", encoding_format="base64")).json()
    raw = base64.b64decode(body["data"][0]["embedding"])
    floats = struct.unpack(f"<{len(raw) // 4}f", raw)
    expected = embed_text("hello")
    assert floats == pytest.approx(expected, abs=1e-7)
    assert len(floats) == len(expected)


async def test_dimensions_are_honoured(client: httpx.AsyncClient) -> None:
    body = (await embed(client, input="hello", dimensions=64)).json()
    assert body["data"][0]["embedding"] == embed_text("hello", 64)


@pytest.mark.parametrize(
    ("value", "param", "words"),
    [
        ("", "input", "cannot be empty"),
        ([], "input", "empty list"),
        (3, "input", "the integer 3"),
        (1.5, "input", "a number"),
        ({"a": 1}, "input", "an object"),
        (None, "input", "null"),
        ([["a"]], "input", "mixes them"),
        (["a", 1], "input", "mixes them"),
        ([1.5], "input", "mixes them"),
        ([True], "input", "mixes them"),
        ([-1], "input", "mixes them"),
        (["ok", ""], "input.[1]", "cannot be empty"),
    ],
)
async def test_bad_inputs_are_400_naming_input(
    client: httpx.AsyncClient, value: Any, param: str, words: str
) -> None:
    response = await embed(client, input=value)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert words in error["message"]


async def test_missing_input_and_bad_fields_are_400(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/embeddings", json={"model": "m"})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "input"
    for field, value in [("dimensions", 0), ("encoding_format", "hex")]:
        response = await embed(client, input="x", **{field: value})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == field


async def test_limits_on_count_and_length_apply(client: httpx.AsyncClient) -> None:
    # The defaults: OpenAI's 2048 inputs of at most 8192 tokens each.
    too_many = await embed(client, input=["x"] * 2049)
    too_long = await embed(client, input="x" * 8193)
    fine = await embed(client, input="x" * 8192)
    assert too_many.status_code == too_long.status_code == 400
    assert "2048" in too_many.json()["error"]["message"]
    assert too_long.json()["error"]["param"] == "input"
    assert fine.status_code == 200


async def test_faults_apply(client: httpx.AsyncClient) -> None:
    fault = await client.post(
        "/v1/embeddings",
        json={"model": "m", "input": "x"},
        headers={"X-Echo-Fault": "status=429; retry_after=1"},
    )
    assert fault.status_code == 429
    assert fault.json()["error"]["code"] == "rate_limit_exceeded"
    assert fault.headers["retry-after"] == "1"


async def test_requests_are_counted_as_openai_s(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    metrics = app.state.metrics

    def count(name: str) -> float:
        labels = {"model_name": metrics.model_name, "protocol": "openai"}
        return metrics.registry.get_sample_value(name, labels) or 0.0

    before = count("echo:requests_total"), count("echo:request_errors_total")
    await embed(client, input="x")
    await embed(client, input="")
    after = count("echo:requests_total"), count("echo:request_errors_total")
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)


@settings(max_examples=25, deadline=None)
@given(texts=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=5))
async def test_a_batch_is_its_inputs_one_by_one(texts: list[str]) -> None:
    app = _shared_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        batch = (await embed(client, input=texts)).json()["data"]
        singles = [(await embed(client, input=t)).json()["data"][0] for t in texts]
    assert [d["embedding"] for d in batch] == [d["embedding"] for d in singles]


_APPS: list[FastAPI] = []


def _shared_app() -> FastAPI:
    if not _APPS:
        _APPS.append(create_app(Settings()))
    return _APPS[0]
