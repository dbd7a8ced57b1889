"""Fixtures through every protocol, with the real clients, against python server.py.

One server reads a fixture file (``--fixtures``); each test runs in a context
of its own (``X-Echo-Context``), so sequence counts never leak between tests.
Each protocol (OpenAI's Chat Completions and Responses, Anthropic, Ollama,
LangServe), streamed and not: the text is the fixture's, streamed tool
calls aggregate to the fixture's calls, a fixture's error comes back with its
status in the protocol's shape, and a strict miss says why.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import ollama
import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langserve import RemoteRunnable

from tests.support.live_server import LiveServer, run_server

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FIXTURES: dict[str, Any] = {
    "fixtures": [
        {
            "match": {"userMessage": "hello"},
            "response": {"content": "Hello from a fixture!"},
            "chunkSize": 3,
        },
        {
            "match": {"userMessage": "flights", "hasToolResult": False},
            "response": {
                "toolCalls": [
                    {
                        "name": "search_flights",
                        "arguments": {"origin": "SFO"},
                        "id": "call_search",
                    },
                    {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                ]
            },
        },
        {
            "match": {"userMessage": "busy"},
            "response": {
                "error": {
                    "message": "Rate limit exceeded",
                    "type": "rate_limit_error",
                    "code": "rate_limit_exceeded",
                },
                "status": 429,
                "retryAfter": 1,
            },
        },
        {
            "match": {"userMessage": "go", "sequenceIndex": 0},
            "response": {"content": "went"},
        },
    ]
}
CALLS = [
    ("search_flights", {"origin": "SFO"}),
    ("get_weather", {"city": "Paris"}),
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {}},
        },
    }
    for name in ("search_flights", "get_weather")
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("fixtures")
    path = directory / "chat.json"
    path.write_text(json.dumps(FIXTURES))
    with run_server(directory, ["--fixtures", str(path)]) as live:
        yield live


@pytest.fixture
def context() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def headers(context: str, strict: bool | None = None) -> dict[str, str]:
    values = {"X-Echo-Context": context}
    if strict is not None:
        values["X-Echo-Strict"] = "true" if strict else "false"
    return values


# --- OpenAI -----------------------------------------------------------------


def openai_client(server: LiveServer, context: str, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.url + "/v1",
        api_key="sk-any",
        max_retries=0,
        default_headers=headers(context, **kw),
    )


def openai_reply(
    client: openai.OpenAI, text: str, stream: bool, **kw: Any
) -> tuple[str, list[tuple[str, dict[str, Any]]], list[str]]:
    messages: Any = [{"role": "user", "content": text}]
    if not stream:
        completion = client.chat.completions.create(
            model="gpt-4o", messages=messages, **kw
        )
        message = completion.choices[0].message
        calls = message.tool_calls or []
        return (
            message.content or "",
            [(c.function.name, json.loads(c.function.arguments)) for c in calls],  # type: ignore[union-attr]
            [c.id for c in calls],
        )
    content = ""
    pieces: dict[int, dict[str, str]] = {}
    for chunk in client.chat.completions.create(
        model="gpt-4o", messages=messages, stream=True, **kw
    ):
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for call in delta.tool_calls or []:
            piece = pieces.setdefault(call.index, {"id": "", "name": "", "args": ""})
            piece["id"] += call.id or ""
            piece["name"] += (call.function and call.function.name) or ""
            piece["args"] += (call.function and call.function.arguments) or ""
    ordered = [pieces[i] for i in sorted(pieces)]
    return (
        content,
        [(p["name"], json.loads(p["args"])) for p in ordered],
        [p["id"] for p in ordered],
    )


@pytest.mark.parametrize("stream", [False, True])
def test_openai_text_and_tool_calls(
    server: LiveServer, context: str, stream: bool
) -> None:
    client = openai_client(server, context)
    assert openai_reply(client, "hello there", stream)[0] == "Hello from a fixture!"
    _, calls, ids = openai_reply(client, "find flights", stream, tools=TOOLS)
    assert calls == CALLS
    assert ids[0] == "call_search"


@pytest.mark.parametrize("stream", [False, True])
def test_openai_fixture_error(server: LiveServer, context: str, stream: bool) -> None:
    client = openai_client(server, context)
    with pytest.raises(openai.RateLimitError) as raised:
        openai_reply(client, "busy?", stream)
    assert raised.value.status_code == 429
    assert raised.value.code == "rate_limit_exceeded"
    assert raised.value.response.headers["retry-after"] == "1"
    assert "Rate limit exceeded" in str(raised.value)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_strict_miss(server: LiveServer, context: str, stream: bool) -> None:
    client = openai_client(server, context, strict=True)
    assert openai_reply(client, "go", stream)[0] == "went"
    with pytest.raises(openai.InternalServerError) as raised:
        openai_reply(client, "go", stream)
    assert raised.value.status_code == 503
    assert "skipped only because of their sequenceIndex" in str(raised.value)
    # Not strict: the echo answers.
    loose = openai_client(server, context, strict=False)
    assert openai_reply(loose, "go", stream)[0] == "go"


# --- Anthropic ----------------------------------------------------------------


def anthropic_client(
    server: LiveServer, context: str, **kw: Any
) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server.url,
        api_key="sk-any",
        max_retries=0,
        default_headers=headers(context, **kw),
    )


def anthropic_reply(
    client: anthropic.Anthropic, text: str, stream: bool, **kw: Any
) -> tuple[str, list[tuple[str, dict[str, Any]]], list[str]]:
    args: Any = {
        "model": "claude-echo",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
        **kw,
    }
    if stream:
        with client.messages.stream(**args) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**args)
    text_out = "".join(b.text for b in message.content if b.type == "text")
    uses = [b for b in message.content if b.type == "tool_use"]
    return text_out, [(b.name, dict(b.input)) for b in uses], [b.id for b in uses]  # type: ignore[call-overload]


ANTHROPIC_TOOLS = [
    {"name": name, "input_schema": {"type": "object", "properties": {}}}
    for name in ("search_flights", "get_weather")
]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_text_and_tool_calls(
    server: LiveServer, context: str, stream: bool
) -> None:
    client = anthropic_client(server, context)
    assert anthropic_reply(client, "hello", stream)[0] == "Hello from a fixture!"
    _, calls, ids = anthropic_reply(
        client, "find flights", stream, tools=ANTHROPIC_TOOLS
    )
    assert calls == CALLS
    # Anthropic's ids: the model's call_x is toolu_x (a toolu_ id stays).
    assert ids[0] == "toolu_search"


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_fixture_error(
    server: LiveServer, context: str, stream: bool
) -> None:
    client = anthropic_client(server, context)
    with pytest.raises(anthropic.RateLimitError) as raised:
        anthropic_reply(client, "busy?", stream)
    assert raised.value.status_code == 429
    body: Any = raised.value.body
    assert body["error"] == {
        "type": "rate_limit_error",
        "message": "Rate limit exceeded",
    }


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_strict_miss(server: LiveServer, context: str, stream: bool) -> None:
    client = anthropic_client(server, context, strict=True)
    assert anthropic_reply(client, "go", stream)[0] == "went"
    with pytest.raises(anthropic.InternalServerError) as raised:
        anthropic_reply(client, "go", stream)
    assert raised.value.status_code == 503
    assert "skipped only because of their sequenceIndex" in str(raised.value)


# --- OpenAI Responses -----------------------------------------------------------

RESPONSES_TOOLS: Any = [
    {"type": "function", "name": name, "parameters": {"type": "object"}}
    for name in ("search_flights", "get_weather")
]


def responses_reply(
    client: openai.OpenAI, text: str, stream: bool, **kw: Any
) -> tuple[str, list[tuple[str, dict[str, Any]]], list[str]]:
    args: Any = {"model": "gpt-4o", "input": text, **kw}
    if stream:
        with client.responses.stream(**args) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**args)
    calls = [item for item in response.output if item.type == "function_call"]
    return (
        response.output_text,
        [(c.name, json.loads(c.arguments)) for c in calls],
        [c.call_id for c in calls],
    )


@pytest.mark.parametrize("stream", [False, True])
def test_responses_text_and_tool_calls(
    server: LiveServer, context: str, stream: bool
) -> None:
    client = openai_client(server, context)
    assert responses_reply(client, "hello", stream)[0] == "Hello from a fixture!"
    _, calls, ids = responses_reply(
        client, "find flights", stream, tools=RESPONSES_TOOLS
    )
    assert calls == CALLS
    assert ids[0] == "call_search"


@pytest.mark.parametrize("stream", [False, True])
def test_responses_fixture_error(
    server: LiveServer, context: str, stream: bool
) -> None:
    client = openai_client(server, context)
    with pytest.raises(openai.RateLimitError) as raised:
        responses_reply(client, "busy?", stream)
    assert raised.value.status_code == 429
    assert raised.value.code == "rate_limit_exceeded"
    assert "Rate limit exceeded" in str(raised.value)


@pytest.mark.parametrize("stream", [False, True])
def test_responses_strict_miss(server: LiveServer, context: str, stream: bool) -> None:
    client = openai_client(server, context, strict=True)
    assert responses_reply(client, "go", stream)[0] == "went"
    with pytest.raises(openai.InternalServerError) as raised:
        responses_reply(client, "go", stream)
    assert raised.value.status_code == 503
    assert "skipped only because of their sequenceIndex" in str(raised.value)


# --- Ollama ---------------------------------------------------------------------


def ollama_client(server: LiveServer, context: str, **kw: Any) -> ollama.Client:
    return ollama.Client(host=server.url, headers=headers(context, **kw))


def ollama_reply(
    client: ollama.Client, text: str, stream: bool, **kw: Any
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    messages = [{"role": "user", "content": text}]
    if stream:
        parts = list(client.chat(model="echo", messages=messages, stream=True, **kw))
    else:
        parts = [client.chat(model="echo", messages=messages, stream=False, **kw)]
    content = "".join(part.message.content or "" for part in parts)
    calls = [
        (call.function.name, dict(call.function.arguments))
        for part in parts
        for call in part.message.tool_calls or []
    ]
    return content, calls


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_text_and_tool_calls(
    server: LiveServer, context: str, stream: bool
) -> None:
    client = ollama_client(server, context)
    assert ollama_reply(client, "hello", stream)[0] == "Hello from a fixture!"
    _, calls = ollama_reply(client, "find flights", stream, tools=TOOLS)
    assert calls == CALLS


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_fixture_error(server: LiveServer, context: str, stream: bool) -> None:
    client = ollama_client(server, context)
    with pytest.raises(ollama.ResponseError) as raised:
        ollama_reply(client, "busy?", stream)
    assert raised.value.status_code == 429
    assert "Rate limit exceeded" in str(raised.value)


@pytest.mark.parametrize("stream", [False, True])
def test_ollama_strict_miss(server: LiveServer, context: str, stream: bool) -> None:
    client = ollama_client(server, context, strict=True)
    assert ollama_reply(client, "go", stream)[0] == "went"
    with pytest.raises(ollama.ResponseError) as raised:
        ollama_reply(client, "go", stream)
    assert raised.value.status_code == 503
    assert "skipped only because of their sequenceIndex" in str(raised.value)


# --- LangServe (RemoteRunnable) ---------------------------------------------


def remote(server: LiveServer, context: str, **kw: Any) -> RemoteRunnable:
    return RemoteRunnable(server.url + "/echo", headers=headers(context, **kw))


def remote_reply(runnable: RemoteRunnable, text: str, stream: bool) -> Any:
    if not stream:
        return runnable.invoke(text)
    chunks = list(runnable.stream(text))
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    return total


@pytest.mark.parametrize("stream", [False, True])
def test_langserve_text_and_tool_calls(
    server: LiveServer, context: str, stream: bool
) -> None:
    runnable = remote(server, context)
    reply = remote_reply(runnable, "hello", stream)
    assert reply.content == "Hello from a fixture!"
    assert reply.response_metadata["fixture"].endswith("chat.json#0")
    calls = remote_reply(runnable, "find flights", stream).tool_calls
    assert [(c["name"], c["args"]) for c in calls] == CALLS
    assert calls[0]["id"] == "call_search"


@pytest.mark.parametrize("stream", [False, True])
def test_langserve_fixture_error(
    server: LiveServer, context: str, stream: bool
) -> None:
    with pytest.raises(httpx.HTTPStatusError) as raised:
        remote_reply(remote(server, context), "busy?", stream)
    assert raised.value.response.status_code == 429
    assert "Rate limit exceeded" in str(raised.value)


@pytest.mark.parametrize("stream", [False, True])
def test_langserve_strict_miss(server: LiveServer, context: str, stream: bool) -> None:
    runnable = remote(server, context, strict=True)
    assert remote_reply(runnable, "go", stream).content == "went"
    with pytest.raises(httpx.HTTPStatusError) as raised:
        remote_reply(runnable, "go", stream)
    assert raised.value.response.status_code == 503
    assert "skipped only because of their sequenceIndex" in str(raised.value)


def test_a_context_keys_its_own_counts(server: LiveServer) -> None:
    first, second = (f"ctx-{uuid.uuid4().hex[:8]}" for _ in range(2))
    body = {"model": "m", "messages": [{"role": "user", "content": "go"}]}
    url = server.url + "/v1/chat/completions"

    def reply(context: str) -> str:
        response = httpx.post(url, json=body, headers=headers(context))
        return response.json()["choices"][0]["message"]["content"]

    assert [reply(first), reply(first), reply(second)] == ["went", "go", "went"]


def test_bad_strict_header_is_refused_in_each_shape(server: LiveServer) -> None:
    bad = {"X-Echo-Strict": "yes"}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    openai_reply_ = httpx.post(
        server.url + "/v1/chat/completions", json=body, headers=bad
    )
    assert openai_reply_.status_code == 400
    assert openai_reply_.json()["error"]["param"] == "X-Echo-Strict"
    anthropic_reply_ = httpx.post(
        server.url + "/v1/messages", json={**body, "max_tokens": 5}, headers=bad
    )
    assert anthropic_reply_.status_code == 400
    assert "X-Echo-Strict" in anthropic_reply_.json()["error"]["message"]
    langserve = httpx.post(
        server.url + "/echo/invoke", json={"input": "hi"}, headers=bad
    )
    assert langserve.status_code == 422
    assert "X-Echo-Strict" in langserve.text
    responses = httpx.post(
        server.url + "/v1/responses", json={"model": "m", "input": "hi"}, headers=bad
    )
    assert responses.status_code == 400
    assert responses.json()["error"]["param"] == "X-Echo-Strict"
    ollama_reply_ = httpx.post(
        server.url + "/api/chat", json={**body, "stream": False}, headers=bad
    )
    assert ollama_reply_.status_code == 400
    assert "X-Echo-Strict" in ollama_reply_.json()["error"]


def test_a_bad_fixture_file_stops_the_server(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.processes import ROOT

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "fixtures": [
                    {"match": {}, "response": {"content": "a"}},
                    {"match": {"endpoint": "image"}, "response": {"content": "b"}},
                ]
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "server.py", "--fixtures", str(bad), "--port", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"echo-server: --fixtures: {bad}: fixture 1: match.endpoint: unsupported field"
    ]


def test_validate_checks_files_offline(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support.processes import ROOT

    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "fixtures": [
                    {"match": {}, "response": {"content": "a"}},
                    {"match": {"userMessage": "x"}, "response": {"content": "b"}},
                ]
            }
        )
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"fixtures": [{"match": {"turnIndex": "1"}, "response": {}}]}')
    command = [sys.executable, "-m", "echo_model.serving.cli", "validate"]
    ok = subprocess.run(
        [*command, str(good)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == [
        f"ok: {good}: 2 fixtures",
        f"warning: {good}#1 is never matched: the catch-all {good}#0 before it"
        " matches every request",
    ]
    failed = subprocess.run(
        [*command, str(bad)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert failed.returncode == 2
    assert failed.stdout.startswith(f"error: {bad}: fixture 0: match.turnIndex")
