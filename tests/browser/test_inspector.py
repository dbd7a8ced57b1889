"""The inspector at /ui/, used as a person would, in a real headless Chromium.

The ``page`` fixture (conftest) already fails a test on a JavaScript error, a
failed request, an error response or a request leaving 127.0.0.1; here the
page's console errors fail it too.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest
from langserve import RemoteRunnable

from tests.browser.conftest import save_screenshot
from tests.support.live_server import LiveServer, run_server

KEY = "inspector-browser-key"
ROWS = "#requests tbody tr"
#: How soon a new request must show in the list (the page polls every 1.5 s).
APPEARS_WITHIN_S = 5.0


@pytest.fixture
def inspector(page) -> Iterator:
    """The page, watched for console errors and for requests it sends."""
    console_errors: list[str] = []
    page.on(
        "console",
        lambda m: m.type == "error" and console_errors.append(m.text),
    )
    page.sent = []  # (url, headers) of every request the page sends
    page.in_flight = set()
    page.on("request", lambda r: (page.sent.append(r), page.in_flight.add(r)))
    page.on("requestfinished", lambda r: page.in_flight.discard(r))
    page.on("requestfailed", lambda r: page.in_flight.discard(r))
    yield page
    # Hold the polling still and let the last requests land, so closing the
    # page aborts none of them.
    if page.locator("#pause").is_visible():
        page.locator("#pause").click()
    deadline = time.monotonic() + 5
    while page.in_flight and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert not console_errors, f"console errors: {console_errors}"


def open_inspector(page, server: LiveServer) -> None:
    page.goto(server.url + "/ui/", wait_until="networkidle")


def wait_for_row(page, text: str, timeout: float = APPEARS_WITHIN_S):
    """Return the list's row holding ``text``, failing if it takes too long."""
    row = page.locator(ROWS, has_text=text)
    row.first.wait_for(timeout=timeout * 1000)
    return row.first


def cells(row) -> list[str]:
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def nonzero_shapes(page, selector: str) -> int:
    """Count the shapes matching ``selector`` drawn with a width and a height."""
    return page.eval_on_selector_all(
        selector,
        """shapes => shapes.filter(s => {
            const box = s.getBoundingClientRect();
            return box.width > 0 && box.height > 0;
        }).length""",
    )


def test_sdk_and_remote_runnable_requests_appear_and_open(
    inspector, live_server: LiveServer
) -> None:
    page = inspector
    open_inspector(page, live_server)
    assert page.get_by_role("table").is_visible()
    tag = uuid.uuid4().hex[:8]
    openai_prompt = f"inspector openai {tag}"
    client = openai.OpenAI(
        base_url=live_server.url + "/v1", api_key="unused", max_retries=0
    )
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": openai_prompt}],
        max_tokens=16,
    )
    openai_reply = completion.choices[0].message.content
    assert openai_reply == "inspector openai"
    sent = time.monotonic()
    runnable_prompt = f"inspector runnable {tag}"
    runnable_reply = RemoteRunnable(live_server.url + "/echo").invoke(runnable_prompt)
    assert runnable_reply.content == runnable_prompt

    row = wait_for_row(page, openai_prompt)
    assert time.monotonic() - sent < APPEARS_WITHIN_S
    texts = cells(row)
    assert "POST /v1/chat/completions" in texts
    assert "openai" in texts
    assert "200" in texts
    assert "gpt-4o" in texts
    texts = cells(wait_for_row(page, runnable_prompt))
    assert "POST /echo/invoke" in texts
    assert "langserve" in texts
    assert "200" in texts
    # Newest first.
    order = page.locator(ROWS).all_inner_texts()
    first = next(i for i, t in enumerate(order) if runnable_prompt in t)
    assert first < next(i for i, t in enumerate(order) if openai_prompt in t)

    row.click()
    page.locator("#detail-prompt", has_text=openai_prompt).wait_for(timeout=5000)
    assert page.locator("#detail-prompt").inner_text() == openai_prompt
    assert page.locator("#detail-reply").inner_text() == openai_reply
    assert openai_prompt in page.locator("#detail-body").inner_text()
    assert "POST /v1/chat/completions" in page.locator("#detail-title").inner_text()

    wait_for_row(page, runnable_prompt).click()
    page.locator("#detail-prompt", has_text=runnable_prompt).wait_for(timeout=5000)
    assert page.locator("#detail-reply").inner_text() == runnable_prompt

    # The charts are drawn from the server's metrics: bars with a size.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if nonzero_shapes(page, "#chart-ttft rect.bar") and nonzero_shapes(
            page, "#chart-itl rect.bar"
        ):
            break
        page.wait_for_timeout(200)
    assert nonzero_shapes(page, "#chart-ttft rect.bar") >= 1
    assert nonzero_shapes(page, "#chart-itl rect.bar") >= 1
    # The rate charts draw a line once two snapshots exist (2 s apart).
    page.locator("#chart-requests path.line").wait_for(timeout=10_000)
    box = page.locator("#chart-requests path.line").bounding_box()
    assert box is not None
    assert box["width"] > 0
    assert "requests" in page.locator("#totals").inner_text()
    # Every request the page sent stayed on this server.
    assert all(r.url.startswith(live_server.url) for r in page.sent)
    save_screenshot(page, "inspector.png")


def test_filters_narrow_the_list(inspector, live_server: LiveServer) -> None:
    page = inspector
    tag = uuid.uuid4().hex[:8]
    httpx.post(
        live_server.url + "/v1/messages",
        json={
            "model": "claude",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": f"anthropic {tag}"}],
        },
    )
    bad = httpx.post(  # refused after its body was read: the prompt is journaled
        live_server.url + "/v1/chat/completions",
        json={
            "model": "m",
            "max_tokens": 0,
            "messages": [{"role": "user", "content": f"bad {tag}"}],
        },
    )
    assert bad.status_code == 400
    open_inspector(page, live_server)
    wait_for_row(page, f"anthropic {tag}")
    wait_for_row(page, f"bad {tag}")
    page.get_by_label("Protocol").select_option("anthropic")
    page.locator(ROWS, has_text=f"bad {tag}").wait_for(state="detached")
    assert all(cells(r)[2] == "anthropic" for r in page.locator(ROWS).all())
    page.get_by_label("Protocol").select_option("")
    page.get_by_label("Status").select_option("4xx")
    page.locator(ROWS, has_text=f"anthropic {tag}").wait_for(state="detached")
    assert "400" in cells(wait_for_row(page, f"bad {tag}"))
    assert all(cells(r)[1].startswith("4") for r in page.locator(ROWS).all())


def test_fixtures_panel_adds_lists_and_forgets(
    inspector, live_server: LiveServer
) -> None:
    page = inspector
    tag = uuid.uuid4().hex[:8]
    open_inspector(page, live_server)
    page.get_by_text("No fixtures added at run time.").wait_for()
    fixture = {
        "match": {"userMessage": f"panel {tag}"},
        "response": {"content": "from the panel"},
    }
    page.get_by_label("Add fixtures").fill(json.dumps({"fixtures": [fixture]}))
    page.get_by_role("button", name="Add fixtures").click()
    page.locator("#fixture-list li", has_text=f"panel {tag}").wait_for(timeout=5000)
    try:
        reply = httpx.post(
            live_server.url + "/v1/chat/completions",
            json={
                "model": "m",
                "messages": [{"role": "user", "content": f"panel {tag} please"}],
            },
        ).json()
        assert reply["choices"][0]["message"]["content"] == "from the panel"
        row = wait_for_row(page, f"panel {tag} please")
        assert any(c.startswith("<admin>#") for c in cells(row))
    finally:
        page.get_by_role("button", name="Forget added fixtures").click()
    page.get_by_text("No fixtures added at run time.").wait_for(timeout=5000)
    assert page.locator("#fixture-list li").count() == 0


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"ECHO_SERVER_API_KEY": KEY}
    with run_server(tmp_path_factory.mktemp("locked-ui"), env=env) as server:
        yield server


def test_behind_a_key_nothing_shows_before_the_key(
    inspector, locked_server: LiveServer
) -> None:
    page = inspector
    secret = f"secret prompt {uuid.uuid4().hex[:8]}"
    sent = httpx.post(
        locked_server.url + "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": secret}]},
        headers={"X-API-Key": KEY},
    )
    assert sent.status_code == 200
    for path in ["/ui/api/requests", "/ui/api/metrics", "/ui/api/requests/x"]:
        assert httpx.get(locked_server.url + path).status_code == 401, path

    open_inspector(page, locked_server)
    field = page.get_by_label("API key")
    assert field.is_visible()
    assert field.get_attribute("type") == "password"
    assert page.locator("#inspector").is_hidden()
    assert page.locator(ROWS).count() == 0
    assert secret not in page.content()
    assert not [r.url for r in page.sent if "/ui/api/" in r.url or "/admin" in r.url]

    field.fill(KEY)
    field.press("Enter")
    wait_for_row(page, secret)
    assert field.is_hidden()
    assert page.evaluate("sessionStorage.getItem('echo-inspector-key')") == KEY
    assert page.evaluate("localStorage.length") == 0
    data = [r for r in page.sent if "/ui/api/" in r.url]
    assert data
    assert all(r.headers.get("x-api-key") == KEY for r in data)
    assert not [r.url for r in page.sent if KEY in r.url]
    assert KEY not in page.url

    # Asked once: a reload in the same tab keeps the key.
    page.reload(wait_until="networkidle")
    wait_for_row(page, secret)
    assert page.get_by_label("API key").is_hidden()


def test_the_key_can_be_given_with_the_button(
    inspector, locked_server: LiveServer
) -> None:
    page = inspector
    open_inspector(page, locked_server)
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Unlock").click()
    page.locator("#inspector").wait_for(state="visible")
    page.locator("#totals", has_text="requests").wait_for(timeout=8000)
