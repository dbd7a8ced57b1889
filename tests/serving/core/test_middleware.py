"""The shared middleware over HTTP in process: request ids, Retry-After,
error shapes, error replies."""

from __future__ import annotations

import logging

import anthropic
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from echo_model.serving.app import create_app
from echo_model.serving.core.fault_middleware import retry_after_headers
from echo_model.serving.settings import Settings
from tests.serving.anthropic.test_anthropic_api import sdk as anthropic_sdk

USER = [{"role": "user", "content": "hi"}]
MESSAGES = {"model": "m", "max_tokens": 5, "messages": USER}
COMPLETION = {"model": "m", "messages": USER}


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", "/v1/messages", MESSAGES, {}),
        ("POST", "/v1/messages", {**MESSAGES, "stream": True}, {}),
        ("POST", "/v1/messages", {"model": "m"}, {}),  # 400
        ("POST", "/v1/messages", MESSAGES, {"X-Echo-Fault": "status=529"}),
        ("POST", "/v1/messages", MESSAGES, {"X-Echo-Fault": "bogus"}),
        ("GET", "/v1/messages", None, {}),  # 404 in Anthropic's shape
        ("POST", "/v1/messages/count_tokens", {"model": "m", "messages": USER}, {}),
    ],
)
async def test_every_anthropic_response_has_a_request_id(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict | None,
    headers: dict[str, str],
) -> None:
    response = await client.request(method, path, json=body, headers=headers)
    assert response.headers["request-id"].startswith("req_")
    assert "x-request-id" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/chat/completions", COMPLETION),
        ("POST", "/v1/chat/completions", {"model": "m"}),
        ("GET", "/v1/models", None),
        ("GET", "/v1/nowhere", None),
        ("POST", "/echo/invoke", {"input": "hi"}),
        ("POST", "/echo/invoke", {"input": 3}),
        ("GET", "/health", None),
    ],
)
async def test_other_responses_have_an_x_request_id(
    client: httpx.AsyncClient, method: str, path: str, body: dict | None
) -> None:
    response = await client.request(method, path, json=body)
    assert response.headers["x-request-id"].startswith("req_")
    assert "request-id" not in response.headers


async def test_request_ids_differ(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/health")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_the_anthropic_sdk_reads_the_request_id(app: FastAPI) -> None:
    sdk = anthropic_sdk(app)
    message = await sdk.messages.create(**MESSAGES)
    assert message._request_id is not None
    assert message._request_id.startswith("req_")
    with pytest.raises(anthropic.BadRequestError) as refused:
        await sdk.messages.create(**{**MESSAGES, "max_tokens": 0})
    assert refused.value.request_id is not None
    assert refused.value.request_id.startswith("req_")


async def test_a_500_names_the_request_id_in_body_and_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(Settings())

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    # Registered last, so reached only after the app's own routes.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with caplog.at_level(logging.ERROR, logger="echo_model.server"):
            response = await client.get("/boom")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json()["error_id"] == request_id
    assert "secret internals" not in response.text
    assert any(request_id in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("seconds", "headers"),
    [
        (None, {}),
        (0, {"retry-after": "0", "retry-after-ms": "0"}),
        (0.5, {"retry-after": "1", "retry-after-ms": "500"}),
        (2, {"retry-after": "2", "retry-after-ms": "2000"}),
        (2.001, {"retry-after": "3", "retry-after-ms": "2001"}),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up(
    seconds: float | None, headers: dict[str, str]
) -> None:
    assert retry_after_headers(seconds) == headers


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_an_injected_retry_after_goes_out_in_both_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    body = COMPLETION if path.endswith("completions") else MESSAGES
    response = await client.post(
        path, json=body, headers={"X-Echo-Fault": "status=429; retry_after=0.5"}
    )
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.headers["retry-after-ms"] == "500"


async def test_refusals_of_shared_layers_take_each_protocol_s_shape() -> None:
    app = create_app(Settings(api_key=SecretStr("k"), max_body_bytes=100))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        openai = await client.post("/v1/chat/completions", json=COMPLETION)
        anthropic_ = await client.post("/v1/messages", json=MESSAGES)
        langserve = await client.post("/echo/invoke", json={"input": "hi"})
        big = await client.post(
            "/v1/messages", content=b"x" * 200, headers={"x-api-key": "k"}
        )
    assert openai.status_code == anthropic_.status_code == langserve.status_code == 401
    assert openai.json()["error"]["code"] == "invalid_api_key"
    assert anthropic_.json()["error"]["type"] == "authentication_error"
    assert "Bearer <key>" in langserve.json()["detail"]
    assert big.status_code == 413
    assert big.json()["error"]["type"] == "request_too_large"
