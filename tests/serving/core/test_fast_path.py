"""The fast path: which routes take it, and that no client can tell it is there.

Every reply is compared with the reply FastAPI gives to the same request, from
the same app with the fast path's table emptied: same status, same headers
that carry meaning, same body (ids and clocks aside).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from echo_model.serving.app import create_app
from echo_model.serving.core.auth import ApiKeyGuard
from echo_model.serving.core.fast_path import FastPath, fast_routes, is_json
from echo_model.serving.settings import Settings
from tests.support.asgi import post

KEY = "s3cret-key"
HELLO = [{"role": "user", "content": "hello"}]
#: A valid body for each route the fast path answers.
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": "echo", "messages": HELLO},
    "/v1/messages": {"model": "echo", "messages": HELLO, "max_tokens": 100},
    "/v1/messages/count_tokens": {"model": "echo", "messages": HELLO},
    "/v1/responses": {"model": "echo", "input": "hello"},
    "/v1/embeddings": {"model": "echo", "input": "hello"},
    "/api/chat": {"model": "echo", "messages": HELLO, "stream": False},
    "/api/generate": {"model": "echo", "prompt": "hello", "stream": False},
    "/api/embed": {"model": "echo", "input": "hello"},
    "/api/embeddings": {"model": "echo", "prompt": "hello"},
    "/api/show": {"model": "echo"},
}
JSON = ((b"content-type", b"application/json"),)
#: What differs between two replies to one request: fresh ids, clocks.
VOLATILE = re.compile(
    r'"(id|created|created_at|[a-z_]*duration|expires_at|completed_at|'
    r'item_id|response_id|modified_at)": ?("[^"]*"|[0-9.]+)'
)
FRESH_ID = re.compile(r"\b(chatcmpl|msg|resp|req|call|toolu|fc|rs)[-_][0-9A-Za-z]{8,}")


def _stack(app: Any) -> Any:
    if app.middleware_stack is None:
        app.middleware_stack = app.build_middleware_stack()
    return app.middleware_stack


def fast_path_of(app: Any) -> FastPath:
    """Return the app's ``FastPath`` layer."""
    layer = _stack(app)
    while not isinstance(layer, FastPath):
        layer = layer.app
    return layer


def without_fast_path(settings_: Settings) -> Any:
    """Return an app whose requests all go through FastAPI."""
    app = create_app(settings_)
    fast_path_of(app)._table = {}
    return app


async def call(
    app: Any, path: str, body: bytes, headers: tuple[tuple[bytes, bytes], ...] = JSON
) -> tuple[int, dict[str, str], str, dict[str, Any]]:
    """POST in process; return the status, headers, body and the final scope."""
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = await post(app, path, body, send, headers)
    start = messages[0]
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    text = b"".join(m.get("body", b"") for m in messages[1:]).decode()
    return start["status"], response_headers, text, scope


def normalised(text: str) -> str:
    """``text`` with ids and clock readings blanked."""
    return FRESH_ID.sub("ID", VOLATILE.sub(r'"\1": X', text))


MEANINGFUL_HEADERS = ("content-type", "retry-after", "www-authenticate")


async def same_reply(
    fast: Any,
    slow: Any,
    path: str,
    body: bytes,
    headers: tuple[tuple[bytes, bytes], ...] = JSON,
) -> int:
    """Assert both apps answer alike; return the status."""
    status, fast_headers, fast_text, _ = await call(fast, path, body, headers)
    slow_status, slow_headers, slow_text, _ = await call(slow, path, body, headers)
    assert (status, normalised(fast_text)) == (slow_status, normalised(slow_text))
    for name in MEANINGFUL_HEADERS:
        assert fast_headers.get(name) == slow_headers.get(name), name
    return status


@pytest.fixture(scope="module")
def apps() -> tuple[Any, Any]:
    """The same server twice: with its fast path, and without."""
    return create_app(Settings()), without_fast_path(Settings())


@pytest.fixture(scope="module")
def keyed_apps() -> tuple[Any, Any]:
    """The same server behind an API key, with and without its fast path."""
    settings_ = Settings(api_key=SecretStr(KEY))
    return create_app(settings_), without_fast_path(settings_)


def test_every_model_route_of_every_protocol_takes_the_fast_path() -> None:
    app = create_app(Settings(api_key=SecretStr(KEY)))
    table = fast_routes(app.router.routes)
    assert sorted(table) == sorted(BODIES)
    assert all(len(route.guards) == 1 for route in table.values())


def test_routes_fastapi_must_answer_are_left_to_it() -> None:
    # LangServe's (no body model), GETs, paths with parameters: not taken.
    table = fast_routes(create_app(Settings()).router.routes)
    assert not [path for path in table if not path.startswith(("/v1/", "/api/"))]


@pytest.mark.parametrize("path", sorted(BODIES))
async def test_a_usual_request_skips_fastapi_and_a_bad_one_reaches_it(
    apps: tuple[Any, Any], path: str
) -> None:
    fast, _ = apps
    status, _, _, scope = await call(fast, path, json.dumps(BODIES[path]).encode())
    assert status == 200
    # FastAPI's router marks the scope of every request it routes.
    assert "endpoint" not in scope
    status, _, _, scope = await call(fast, path, b'{"model": 7}')
    assert status == 400
    assert "endpoint" in scope


async def test_a_body_of_another_type_reaches_fastapi(apps: tuple[Any, Any]) -> None:
    fast, slow = apps
    body = json.dumps(BODIES["/api/chat"]).encode()
    form = ((b"content-type", b"application/x-www-form-urlencoded"),)
    # Ollama reads any body as JSON (its curl examples send a form type).
    assert await same_reply(fast, slow, "/api/chat", body, form) == 200
    _, _, _, scope = await call(fast, "/api/chat", body, form)
    assert "endpoint" in scope


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("APPLICATION/JSON", True),
        ("application/vnd.api+json", True),
        ("text/json", False),
        ("application/x-www-form-urlencoded", False),
        ("", False),
        (None, False),
    ],
)
def test_json_is_what_fastapi_reads_as_json(
    content_type: str | None, expected: bool
) -> None:
    assert is_json(content_type) is expected


# --- Bodies: whatever a client sends, both ways answer alike ------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = st.sampled_from(
    [
        "model",
        "messages",
        "input",
        "prompt",
        "max_tokens",
        "stream",
        "stop",
        "n",
        "temperature",
        "echo",
        "tools",
        "tool_choice",
        "system",
        "options",
        "format",
        "dimensions",
        "encoding_format",
    ]
)
OPTION_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "n": st.integers(-2, 12),
        "stop": st.lists(st.text(max_size=3), max_size=3),
        "fault": st.sampled_from(["status=429", "status=503", "nonsense"]),
    },
)


@st.composite
def bodies(draw: st.DrawFn, path: str) -> bytes:
    """A body for ``path``: its valid one, changed in a few drawn ways."""
    body = dict(BODIES[path])
    for _ in range(draw(st.integers(0, 3))):
        field = draw(FIELDS)
        action = draw(st.sampled_from(["set", "drop", "option"]))
        if action == "drop":
            body.pop(field, None)
        elif action == "option":
            body["echo"] = draw(OPTION_VALUES)
        else:
            body[field] = draw(JSON_VALUES)
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([b"", b"{", b"[]", b"null", b'{"model": "echo"']))
    return json.dumps(body).encode()


@pytest.mark.parametrize("path", sorted(BODIES))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_body_gets_the_reply_fastapi_gives(
    apps: tuple[Any, Any], path: str, data: st.DataObject
) -> None:
    fast, slow = apps
    body = data.draw(bodies(path))
    asyncio.run(same_reply(fast, slow, path, body))


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/api/chat"])
@pytest.mark.parametrize("stream", [True, False])
async def test_streams_and_options_get_the_reply_fastapi_gives(
    apps: tuple[Any, Any], path: str, stream: bool
) -> None:
    fast, slow = apps
    body = {**BODIES[path], "stream": stream, "echo": {"n": 3, "stop": ["l"]}}
    assert await same_reply(fast, slow, path, json.dumps(body).encode()) == 200


# --- The API key: the fast path admits only what the guard admits -------------


def _basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"me:{password}".encode()).decode()


KEY_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["x-api-key", "authorization"]),
        st.sampled_from(
            [
                KEY,
                f"Bearer {KEY}",
                f"bearer   {KEY}  ",
                f"Token {KEY}",
                "Bearer",
                "Bearer ",
                _basic(KEY),
                _basic("wrong"),
                "",
                "wrong",
                f"{KEY} ",
            ]
        ),
    ),
    max_size=3,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(presented=KEY_HEADERS)
def test_every_way_of_presenting_a_key_gets_the_reply_fastapi_gives(
    keyed_apps: tuple[Any, Any], presented: list[tuple[str, str]]
) -> None:
    fast, slow = keyed_apps
    headers = (*JSON, *((k.encode(), v.encode()) for k, v in presented))
    body = json.dumps(BODIES["/v1/chat/completions"]).encode()
    asyncio.run(same_reply(fast, slow, "/v1/chat/completions", body, headers))


@pytest.mark.parametrize(
    ("headers", "admitted"),
    [
        ({"x-api-key": KEY}, True),
        ({"authorization": f"Bearer {KEY}"}, True),
        ({"authorization": f"BEARER  {KEY} "}, True),
        ({"x-api-key": "wrong", "authorization": f"Bearer {KEY}"}, False),
        ({"authorization": _basic(KEY)}, False),  # left to the dependency
        ({}, False),
    ],
)
def test_the_guard_admits_plain_keys_on_the_headers(
    headers: dict[str, str], admitted: bool
) -> None:
    assert ApiKeyGuard(SecretStr(KEY)).admits(headers) is admitted
