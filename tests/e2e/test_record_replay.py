"""Record and replay with two server processes: the upstream is this server, --n 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.live_server import run_server

UP_KEY = "sk-upstream"
KEY = "sk-recorder"
AUTH = {"Authorization": f"Bearer {KEY}"}


def openai(text: str, stream: bool) -> tuple[str, dict[str, Any]]:
    body = {"model": "gpt-4o", "stream": stream}
    return "/v1/chat/completions", {
        **body,
        "messages": [{"role": "user", "content": text}],
    }


def anthropic(text: str, stream: bool) -> tuple[str, dict[str, Any]]:
    return "/v1/messages", {
        "model": "claude-x",
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def reply_text(path: str, response: httpx.Response) -> str:
    """The reply's text, whole or streamed, in either shape."""
    if not response.headers["content-type"].startswith("text/event-stream"):
        data = response.json()
        if path == "/v1/messages":
            return "".join(b["text"] for b in data["content"])
        return str(data["choices"][0]["message"]["content"])
    text = []
    for line in response.text.splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            event = json.loads(line[5:])
            for choice in event.get("choices", []):
                text.append(choice["delta"].get("content") or "")
            if event.get("type") == "content_block_delta":
                text.append(event["delta"].get("text", ""))
    return "".join(text)


CASES = [
    openai("hello world", False),
    openai("stream me", True),
    anthropic("ahoy there", False),
    anthropic("anthropic stream", True),
]
#: The upstream echoes the first 3 characters; this server, unscripted, all.
EXPECTED = ["hel", "str", "aho", "ant"]


def ask(url: str, path: str, body: dict[str, Any], **headers: str) -> str:
    response = httpx.post(
        url + path, json=body, headers={**AUTH, **headers}, timeout=30
    )
    assert response.status_code == 200, response.text
    return reply_text(path, response)


def upstream_requests(url: str) -> list[dict[str, Any]]:
    auth = {"Authorization": f"Bearer {UP_KEY}"}
    journal: list[dict[str, Any]] = httpx.get(
        url + "/admin/requests", headers=auth
    ).json()
    return journal


def test_record_then_replay(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    with run_server(tmp_path, ["--n", "3", "--api-key", UP_KEY]) as upstream:
        recorder_args = [
            "--record",
            *("--upstream", upstream.url),
            *("--upstream-api-key", UP_KEY),
            *("--fixtures", str(fixtures)),
            *("--api-key", KEY),
        ]
        with run_server(tmp_path, recorder_args) as recorder:
            # X-Echo-Strict: false must not stop the forwarding, nor be forwarded.
            headers = {"X-Echo-Context": "ctx", "X-Echo-Strict": "false"}
            first = [ask(recorder.url, p, b, **headers) for p, b in CASES]
            again = [
                ask(recorder.url, p, b, **{"X-Echo-Context": "ctx"}) for p, b in CASES
            ]
            sent = upstream_requests(upstream.url)
        # Without --proxy-only, a miss is also saved; --proxy-only saves nothing.
        proxy_args = ["--proxy-only", "--upstream", upstream.url, "--api-key", KEY]
        proxy_args += ["--upstream-api-key", UP_KEY]
        with run_server(tmp_path, proxy_args) as proxy:
            proxied = ask(proxy.url, *openai("proxy me", False))
            proxied_again = ask(proxy.url, *openai("proxy me", False))
        assert len(upstream_requests(upstream.url)) == len(CASES) + 2
    assert first == EXPECTED
    assert again == EXPECTED
    assert (proxied, proxied_again) == ("pro", "pro")
    # The upstream saw each case once (repeats came from the recordings), with
    # its own key (the journal keeps no auth header) and no context or strict.
    assert [e["path"] for e in sent] == [p for p, _ in CASES]
    assert all(e["status"] == 200 for e in sent)
    assert all("x-echo-context" not in e["headers"] for e in sent)
    assert all("x-echo-strict" not in e["headers"] for e in sent)
    assert [e["body"] for e in sent] == [b for _, b in CASES]
    recorded = sorted((fixtures / "recorded").glob("*.json"))
    assert len(recorded) == len(CASES)
    matches = [json.loads(f.read_text())["fixtures"][0]["match"] for f in recorded]
    assert {m["userMessage"] for m in matches} == {
        "hello world",
        "stream me",
        "ahoy there",
        "anthropic stream",
    }
    assert all(
        (m["context"], m["turnIndex"], m["hasToolResult"]) == ("ctx", 0, False)
        for m in matches
    )
    # A later run without --record replays them, streamed or not (strict: no
    # echo could pass for them), the other way round too.
    replay_args = ["--fixtures", str(fixtures), "--strict", "--api-key", KEY]
    with run_server(tmp_path, replay_args) as replay:
        flipped = [(p, {**b, "stream": not b["stream"]}) for p, b in CASES]
        replayed = [
            ask(replay.url, p, b, **{"X-Echo-Context": "ctx"})
            for p, b in [*CASES, *flipped]
        ]
    assert replayed == EXPECTED * 2
