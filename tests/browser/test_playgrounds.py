"""Both playgrounds, used as a person would, in a real headless Chromium."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.browser.conftest import save_screenshot
from tests.support.live_server import LiveServer, run_server

OUTPUT = "xpath=//*[normalize-space(text())='Output']/following-sibling::*[1]"


def open_playground(page, live_server: LiveServer, path: str) -> None:
    # The pages render before they have fetched their schemas: let them settle.
    page.goto(live_server.url + path, wait_until="networkidle")


def type_message(page, text: str) -> None:
    page.get_by_role("button").filter(has_not_text="Start").filter(
        has_not_text="Share"
    ).last.click()  # the "+" of the MESSAGES list
    page.locator("textarea").last.fill(text)


def configure(page, *changes: Callable[[], None]) -> None:
    """Make ``changes`` to the Configure box and wait for the page to settle.

    A changed configuration makes the page refetch its schemas (from
    ``/echo/c/<config>/...``, a moment later) and redraw the input form,
    clearing it: so configure first, wait for those requests to finish and
    the page to go quiet, then type.
    """
    started, finished, last = [], [], [time.monotonic()]

    def seen(bucket: list, request) -> None:
        if "/c/" in request.url:
            bucket.append(request.url)
            last.append(time.monotonic())

    page.on("request", lambda r: seen(started, r))
    page.on("requestfinished", lambda r: seen(finished, r))
    for change in changes:
        change()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        quiet = time.monotonic() - last[-1] > 0.4
        if started and len(finished) >= len(started) and quiet:
            return
        page.wait_for_timeout(50)
    pytest.fail(f"the page did not settle after configuring: {started}")


def start_and_wait(page, expected: str, timeout: float = 10_000) -> None:
    page.get_by_role("button", name="Start").click()
    output = page.locator(OUTPUT)
    output.get_by_text(expected, exact=True).wait_for(timeout=timeout)
    page.get_by_role("button", name="Start").wait_for(timeout=timeout)


def output_text(page) -> str:
    return page.locator(OUTPUT).inner_text().strip()


def test_default_playground_streams_the_echo(page, live_server: LiveServer) -> None:
    open_playground(page, live_server, "/echo/playground/")
    for name in ["n", "token_delay", "first_token_delay"]:
        assert page.get_by_role("spinbutton", name=name, exact=True).is_visible()
    assert page.get_by_role("button", name="Add to stop button").is_visible()
    type_message(page, "hello playground")
    start_and_wait(page, "hello playground")
    assert output_text(page) == "hello playground"
    save_screenshot(page, "playground.png")


def test_changing_n_changes_the_output(page, live_server: LiveServer) -> None:
    open_playground(page, live_server, "/echo/playground/")
    configure(
        page, lambda: page.get_by_role("spinbutton", name="n", exact=True).fill("5")
    )
    type_message(page, "hello playground")
    start_and_wait(page, "hello")
    assert output_text(page) == "hello"


def test_stop_sequence_from_the_configure_box(page, live_server: LiveServer) -> None:
    open_playground(page, live_server, "/echo/playground/")
    configure(
        page,
        lambda: page.get_by_role("button", name="Add to stop button").click(),
        lambda: page.locator("fieldset textarea").first.fill("."),
    )
    type_message(page, "one. two.")
    start_and_wait(page, "one.")
    assert output_text(page) == "one."


def test_token_delay_shows_the_stream_as_it_comes(
    page, live_server: LiveServer
) -> None:
    text = "streaming slowly"
    open_playground(page, live_server, "/echo/playground/")
    configure(
        page,
        lambda: page.get_by_role("spinbutton", name="token_delay", exact=True).fill(
            "0.04"
        ),
    )
    type_message(page, text)
    page.get_by_role("button", name="Start").click()
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = output_text(page)
        if not seen or seen[-1] != current:
            seen.append(current)
        if current == text:
            break
        page.wait_for_timeout(15)
    assert seen[-1] == text
    # "..." is the page's own placeholder until the first chunk arrives.
    partial = [s for s in seen if s not in ("", "...", text)]
    assert partial, f"no intermediate output was shown: {seen}"
    assert all(text.startswith(s) for s in partial)


def test_chat_playground_holds_a_conversation(page, live_server: LiveServer) -> None:
    open_playground(page, live_server, "/chat/playground/")
    box = page.get_by_placeholder("Send a message...")
    sent: list[dict] = []
    for message in ["hello there", "and a second turn"]:
        box.fill(message)
        with page.expect_response("**/chat/stream_log") as response:
            box.press("Enter")
        assert response.value.ok
        sent.append(response.value.request.post_data_json["input"])
        # The page renders each message twice (text and an edit overlay): the
        # human message and the AI's echo of it make four.
        texts = page.get_by_text(message, exact=True)
        deadline = time.monotonic() + 10
        while texts.count() < 4 and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        assert texts.count() == 4
    # The second turn carried the whole conversation, the echo included.
    assert [(m["type"], m["content"]) for m in sent[1]["messages"]] == [
        ("human", "hello there"),
        ("ai", "hello there"),
        ("human", "and a second turn"),
    ]
    save_screenshot(page, "chat-playground.png")


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_other_pages_load_cleanly(page, live_server: LiveServer, path: str) -> None:
    page.goto(live_server.url + path, wait_until="networkidle")
    assert page.title() or page.locator("body").inner_text()


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"ECHO_SERVER_API_KEY": "browser-test-key"}
    with run_server(tmp_path_factory.mktemp("locked"), env=env) as server:
        yield server


@pytest.mark.parametrize(
    "page", [{"username": "me", "password": "browser-test-key"}], indirect=True
)
def test_playground_behind_a_key_works_after_the_browser_login(
    page, locked_server: LiveServer
) -> None:
    # The browser answers the server's Basic challenge with the key as password.
    open_playground(page, locked_server, "/echo/playground/")
    type_message(page, "hello with a key")
    start_and_wait(page, "hello with a key")
    assert output_text(page) == "hello with a key"
