"""The inspector's data routes (/ui/api) and page, in process."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from echo_model.serving.app import create_app
from echo_model.serving.core.metrics import ServingMetrics
from echo_model.serving.inspector import CounterSamples
from echo_model.serving.inspector.entries import MAX_PROMPT_CHARS, prompt_of
from echo_model.serving.settings import Settings

KEY = "sk-inspector-test"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
DATA_ROUTES = ["/ui/api/requests", "/ui/api/metrics", "/ui/api/requests/req_x"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


@pytest.fixture
async def locked() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(api_key=SecretStr(KEY)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def chat(text: str, stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": text},
        ],
        **extra,
    }


async def send_three(client: httpx.AsyncClient) -> None:
    await client.post("/v1/chat/completions", json=chat("first openai"))
    await client.post("/echo/invoke", json={"input": "second langserve"})
    await client.post(
        "/v1/messages",
        json={
            "model": "claude-x",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}],
        },
    )


async def test_requests_are_listed_newest_first_with_route_status_prompt(
    client: httpx.AsyncClient,
) -> None:
    await send_three(client)
    lines = (await client.get("/ui/api/requests")).json()
    assert [(x["protocol"], x["method"], x["path"], x["status"]) for x in lines] == [
        ("anthropic", "POST", "/v1/messages", 200),
        ("langserve", "POST", "/echo/invoke", 200),
        ("openai", "POST", "/v1/chat/completions", 200),
    ]
    assert [x["prompt"] for x in lines] == ["a", "second langserve", "first openai"]
    assert [x["model"] for x in lines] == ["claude-x", None, "gpt-4o"]
    assert all(x["fixture"] == "echo" and x["fault"] is None for x in lines)
    assert all(x["id"].startswith("req_") and x["duration"] > 0 for x in lines)
    arrivals = [x["arrival"] for x in lines]
    assert arrivals == sorted(arrivals, reverse=True)


async def test_the_list_is_the_admin_journal(client: httpx.AsyncClient) -> None:
    await send_three(client)
    journal = (await client.get("/admin/requests")).json()
    lines = (await client.get("/ui/api/requests")).json()
    assert [x["id"] for x in lines] == [e["request_id"] for e in reversed(journal)]
    await client.delete("/admin/requests")
    assert (await client.get("/ui/api/requests")).json() == []


async def test_filters_by_protocol_status_and_limit(client: httpx.AsyncClient) -> None:
    await send_three(client)
    await client.post(
        "/v1/chat/completions",
        json=chat("refused"),
        headers={"X-Echo-Fault": "status=429; retry_after=0"},
    )
    await client.post("/v1/chat/completions", json={"model": "x", "messages": 3})

    async def paths(**params: Any) -> list[tuple[str, int]]:
        lines = (await client.get("/ui/api/requests", params=params)).json()
        return [(x["protocol"], x["status"]) for x in lines]

    assert await paths(protocol="openai") == [
        ("openai", 400),
        ("openai", 429),
        ("openai", 200),
    ]
    assert await paths(status="429") == [("openai", 429)]
    assert await paths(status="4xx") == [("openai", 400), ("openai", 429)]
    assert await paths(status="error") == [("openai", 400), ("openai", 429)]
    assert await paths(status="ok") == [
        ("anthropic", 200),
        ("langserve", 200),
        ("openai", 200),
    ]
    assert await paths(protocol="langserve", status="error") == []
    assert await paths(limit=2) == [("openai", 400), ("openai", 429)]
    lines = (await client.get("/ui/api/requests", params={"status": "429"})).json()
    assert lines[0]["fault"] == "status=429; retry_after=0"
    assert lines[0]["error"] is True


async def test_the_detail_is_the_whole_entry(client: httpx.AsyncClient) -> None:
    await client.post(
        "/v1/chat/completions", json=chat("detail me", stream=True, max_tokens=6)
    )
    (line,) = (await client.get("/ui/api/requests")).json()
    assert line["ttft"] is not None
    entry = (await client.get(f"/ui/api/requests/{line['id']}")).json()
    assert entry["request_id"] == line["id"]
    assert entry["body"]["messages"][-1] == {"role": "user", "content": "detail me"}
    assert entry["reply"] == {"text": "detail", "tool_calls": [], "error": None}
    assert entry["timings"]["first_token"] == line["ttft"]
    missing = await client.get("/ui/api/requests/req_gone")
    assert missing.status_code == 404


async def test_a_fixture_reply_names_its_fixture(client: httpx.AsyncClient) -> None:
    fixture = {"match": {"userMessage": "scripted"}, "response": {"content": "Yes."}}
    await client.post("/admin/fixtures", json=[fixture])
    await client.post("/v1/chat/completions", json=chat("scripted please"))
    (line,) = (await client.get("/ui/api/requests")).json()
    assert line["fixture"] == "<admin>#0"
    entry = (await client.get(f"/ui/api/requests/{line['id']}")).json()
    assert entry["reply"]["text"] == "Yes."


async def test_metrics_give_histogram_buckets_and_counters(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/chat/completions", json=chat("tokens", stream=True))
    await client.post("/echo/invoke", json={"input": "ab"})
    view = (await client.get("/ui/api/metrics")).json()
    ttft, itl = view["histograms"]["ttft"], view["histograms"]["itl"]
    assert ttft["count"] == 2
    assert sum(ttft["counts"]) == 2  # per bucket, not cumulative
    assert ttft["bounds"][0] == 0.001
    assert ttft["bounds"][-1] is None
    assert len(ttft["bounds"]) == len(ttft["counts"])
    assert itl["count"] == sum(itl["counts"]) == 5 + 1  # the gaps of both replies
    counters = view["counters"]
    assert counters["requests"] == {
        "openai": 1,
        "langserve": 1,
        "anthropic": 0,
        "responses": 0,
        "ollama": 0,
    }
    assert counters["generation_tokens"] == 8
    assert counters["success"] == {"stop": 2}
    stats = (await client.get("/stats")).json()
    assert stats["tokens"] == counters["generation_tokens"]
    assert view["rates"]["interval"] > 0


def test_rates_come_from_the_ring_of_snapshots() -> None:
    metrics = ServingMetrics("echo")
    now = [100.0]
    samples = CounterSamples(metrics, interval=2.0, size=3, clock=lambda: now[0])
    samples.sample()
    assert samples.rates()["points"] == []
    metrics.record_request("openai")
    metrics.record_request("anthropic")
    metrics.on_tokens("echo", 10)
    now[0] = 101.0
    samples.sample()  # not due yet: no snapshot
    assert samples.rates()["points"] == []
    now[0] = 102.0
    samples.sample()
    assert samples.rates()["points"] == [{"ago": 0.0, "requests": 1.0, "tokens": 5.0}]
    metrics.on_tokens("echo", 40)
    now[0] = 106.0
    samples.sample()
    now[0] = 110.0
    samples.sample()  # the ring holds 3: the first snapshot is gone
    assert samples.rates() == {
        "interval": 2.0,
        "window": 6.0,
        "points": [
            {"ago": 4.0, "requests": 0.0, "tokens": 10.0},
            {"ago": 0.0, "requests": 0.0, "tokens": 0.0},
        ],
    }


async def test_the_lifespan_samples_the_counters() -> None:
    app = create_app(Settings())
    samples = app.state.inspector.samples
    samples.interval = 0.01
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if len(samples.rates()["points"]) >= 2:
                break
            await asyncio.sleep(0.01)
    assert len(samples.rates()["points"]) >= 2


async def test_data_routes_answer_401_without_the_key(
    locked: httpx.AsyncClient,
) -> None:
    await locked.post(
        "/v1/chat/completions", json=chat("secret"), headers={"X-API-Key": KEY}
    )
    for path in DATA_ROUTES:
        assert (await locked.get(path)).status_code == 401, path
        wrong = await locked.get(path, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401, path
    for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        lines = (await locked.get("/ui/api/requests", headers=headers)).json()
        assert [x["prompt"] for x in lines] == ["secret"]
        assert (await locked.get("/ui/api/metrics", headers=headers)).status_code == 200


async def test_the_page_needs_no_key_and_holds_no_data(
    locked: httpx.AsyncClient,
) -> None:
    await locked.post(
        "/v1/chat/completions", json=chat("hidden prompt"), headers={"X-API-Key": KEY}
    )
    page = await locked.get("/ui/")
    assert page.status_code == 200
    assert 'data-key-required="true"' in page.text
    assert "hidden prompt" not in page.text
    for asset in ("/ui/inspector.js", "/ui/inspector.css"):
        assert (await locked.get(asset)).status_code == 200
    redirect = await locked.get("/ui")
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/ui/"


async def test_the_page_and_its_assets_come_from_this_server(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/ui/")
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-key-required="false"' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(references) == ["/ui/inspector.css", "/ui/inspector.js", "data:,"]
    for asset, kind in [
        ("/ui/inspector.js", "javascript"),
        ("/ui/inspector.css", "css"),
    ]:
        response = await client.get(asset)
        assert kind in response.headers["content-type"]
        text = response.text.replace(SVG_NAMESPACE, "")  # a name, never fetched
        assert "http://" not in text
        assert "https://" not in text
    script = (await client.get("/ui/inspector.js")).text
    assert "innerHTML" not in script  # server data is written as text only
    assert "sessionStorage" in script
    assert "localStorage" not in script


async def test_the_index_links_to_the_inspector(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).json()["inspector"] == "/ui/"


@pytest.mark.parametrize(
    ("body", "prompt"),
    [
        ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant"}]}, "x"),
        ({"input": [{"type": "human", "content": "lc"}, {"type": "ai"}]}, "lc"),
        (
            {
                "messages": [
                    {"role": "user", "content": "earlier turn"},
                    {"role": "assistant", "content": "earlier reply"},
                    {"role": "user", "content": [{"type": "text", "text": "last"}]},
                ]
            },
            "last",
        ),
        ({"input": {"messages": [["human", "tuple"]]}}, "tuple"),
        ({"inputs": ["one", "two", "three"]}, "one (+2 more)"),
        ({"prompt": "completion"}, "completion"),
        ({"messages": [{"role": "user", "content": [{"type": "image"}]}]}, None),
        ("not json", "not json"),
        (None, None),
    ],
)
def test_the_prompt_is_found_in_every_protocol_s_body(
    body: Any, prompt: str | None
) -> None:
    assert prompt_of(body) == prompt


async def test_a_long_prompt_is_cut_in_the_list(client: httpx.AsyncClient) -> None:
    await client.post("/v1/chat/completions", json=chat("y" * 1000, max_tokens=1))
    (line,) = (await client.get("/ui/api/requests")).json()
    assert len(line["prompt"]) == MAX_PROMPT_CHARS
    assert line["prompt"].endswith("…")
