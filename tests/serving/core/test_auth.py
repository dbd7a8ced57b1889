"""The API-key dependency, directly and as the OpenAPI document declares it."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import SecretStr

from echo_model.serving.app import create_app
from echo_model.serving.core.auth import WWW_AUTHENTICATE, require_api_key
from echo_model.serving.settings import Settings

KEY = "s3cret-key"


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    """A bare app with one route behind the dependency."""
    app = FastAPI()

    @app.get("/private", dependencies=[Depends(require_api_key(SecretStr(KEY)))])
    async def private() -> dict[str, bool]:
        return {"ok": True}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": f"bearer {KEY}"},
        {"X-API-Key": KEY},
        {"Authorization": basic("anyone", KEY)},
        # X-API-Key wins over a wrong bearer (the anthropic SDK sends both).
        {"X-API-Key": KEY, "Authorization": "Bearer nope"},
    ],
)
async def test_the_key_is_admitted_each_way(
    guarded: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await guarded.get("/private", headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {KEY}x"},
        {"X-API-Key": KEY[:-1]},
        {"Authorization": basic("anyone", "wrong")},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        {"Authorization": f"Token {KEY}"},
    ],
)
async def test_anything_else_is_401_with_a_browser_challenge(
    guarded: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await guarded.get("/private", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == WWW_AUTHENTICATE
    assert "Bearer <key>" in response.json()["detail"]


async def test_openapi_declares_the_three_schemes_on_model_routes() -> None:
    app = create_app(Settings(api_key=SecretStr(KEY)))
    schema = app.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["x-api-key"]["type"] == "apiKey"
    assert schemes["x-api-key"]["in"] == "header"
    assert schemes["x-api-key"]["name"] == "x-api-key"
    assert schemes["basic"]["scheme"] == "basic"
    for path in ("/v1/chat/completions", "/v1/messages", "/echo/invoke"):
        security = schema["paths"][path]["post"]["security"]
        assert {name for s in security for name in s} == {
            "bearer",
            "x-api-key",
            "basic",
        }
    # What stays open declares nothing.
    assert "security" not in schema["paths"]["/health"]["get"]


async def test_an_open_server_declares_no_scheme(app: FastAPI) -> None:
    assert "securitySchemes" not in app.openapi().get("components", {})
