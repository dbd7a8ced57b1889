"""Injected faults in process: the X-Echo-Fault grammar, the plan, each wire form."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from echo_model.serving.app import create_app
from echo_model.serving.core.fault_middleware import InjectedDisconnect
from echo_model.serving.core.fault_spec import (
    KINDS,
    Fault,
    FaultPlanner,
    FaultSpecError,
    parse_fault,
)
from echo_model.serving.settings import Settings, parse_settings

OPENAI = (
    "/v1/chat/completions",
    {"model": "m", "messages": [{"role": "user", "content": "hello"}]},
)
ANTHROPIC = (
    "/v1/messages",
    {
        "model": "m",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hello"}],
    },
)
LANGSERVE = ("/echo/invoke", {"input": "hello"})
STREAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": ("/v1/chat/completions", {**OPENAI[1], "stream": True}),
    "anthropic": ("/v1/messages", {**ANTHROPIC[1], "stream": True}),
    "langserve": ("/echo/stream", {"input": "hello"}),
}


async def client_for(
    settings: Settings | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings or Settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for one in client_for():
        yield one


# --- The grammar ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status=429; retry_after=0", Fault("status", status=429, retry_after=0.0)),
        ("error; after=3", Fault("error", status=500, after=3)),
        ("error; after=1; status=529", Fault("error", status=529, after=1)),
        ("disconnect; after=3", Fault("disconnect", after=3)),
        ("stall; after=3; seconds=30", Fault("stall", after=3, seconds=30.0)),
        ("context_length", Fault("context_length")),
        ("context_length; max=10", Fault("context_length", max_tokens=10)),
        ("STATUS=503 ;attempts=1;", Fault("status", status=503, attempts=1)),
        ("status=500; rate=0.5; seed=7", Fault("status", status=500, rate=0.5, seed=7)),
        ("none", None),
    ],
)
def test_the_documented_forms_parse(text: str, expected: Fault | None) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty fault specification"),
        ("explode", "unknown fault kind 'explode'"),
        ("after=3", "starts with its kind"),
        ("status=200", "'status' must be from 400 to 599"),
        ("status=4xx", "'status' must be a whole number"),
        ("error; seconds=3", "'seconds' does not apply to 'error'"),
        ("stall; seconds=-1", "'seconds' must be a number from 0 to 3600"),
        ("stall; seconds=nan", "'seconds' must be a number"),
        ("error; after=1; after=2", "'after' is given twice"),
        ("error; after", "expected key=value"),
        ("status=429; rate=2", "'rate' must be a number from 0 to 1"),
        ("none; after=1", "'none' takes no keys"),
        ("status=429;;attempts=1", "empty item"),
        ("error; after=" + "1" * 300, "at most 256 characters"),
    ],
)
def test_a_malformed_spec_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(FaultSpecError, match=says.replace("(", r"\(")):
        parse_fault(text)


@given(st.text(max_size=80))
def test_any_header_parses_or_gives_a_clear_error(text: str) -> None:
    message = None
    try:
        fault = parse_fault(text)
    except FaultSpecError as error:  # the only exception it may raise
        fault, message = None, str(error)
    if message is not None:
        assert message  # says what is wrong
    else:
        assert fault is None or fault.kind in KINDS


KEYS = st.fixed_dictionaries(
    {},
    optional={
        "attempts": st.integers(1, 1000),
        "rate": st.floats(0, 1),
        "seed": st.integers(0, 2**63 - 1),
    },
)


@st.composite
def faults(draw: st.DrawFn) -> Fault:
    kind = draw(
        st.sampled_from(["status", "error", "disconnect", "stall", "context_length"])
    )
    fields: dict[str, object] = dict(draw(KEYS))
    if kind == "status":
        fields["status"] = draw(st.integers(400, 599))
        fields["retry_after"] = draw(st.none() | st.floats(0, 3600))
    if kind == "error":
        fields["status"] = draw(st.integers(400, 599))
    if kind in ("error", "disconnect", "stall"):
        fields["after"] = draw(st.integers(0, 10**6))
    if kind == "stall":
        fields["seconds"] = draw(st.floats(0, 3600))
    if kind == "context_length":
        fields["max_tokens"] = draw(st.none() | st.integers(0, 2**31))
    return Fault(kind, **fields)  # type: ignore[arg-type]


@given(faults())
def test_a_fault_written_out_reads_back_the_same(fault: Fault) -> None:
    assert parse_fault(fault.spec()) == fault


def test_the_fault_flag_is_checked_at_start_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse_settings(
        ["--fault", "status=503; rate=0.1"], {}
    ).server_fault() == Fault("status", status=503, rate=0.1)
    with pytest.raises(SystemExit):
        parse_settings(["--fault", "status=42"], {})
    assert (
        "--fault / ECHO_FAULT: 'status' must be from 400 to 599"
        in capsys.readouterr().err
    )


# --- The plan -------------------------------------------------------------------


def test_attempts_faults_only_the_first_tries() -> None:
    planner = FaultPlanner()
    header = "status=429; attempts=2"
    assert planner.plan(header, None) is not None
    assert planner.plan(header, "0") is not None
    assert planner.plan(header, "1") is not None
    assert planner.plan(header, "2") is None
    assert planner.plan(header, "7") is None


def test_a_seeded_rate_is_the_same_sequence_every_run() -> None:
    def decisions() -> list[bool]:
        planner = FaultPlanner(parse_fault("status=503; rate=0.3; seed=11"))
        return [planner.plan(None, None) is not None for _ in range(200)]

    first = decisions()
    assert first == decisions()
    assert 30 < sum(first) < 90  # about 0.3 of 200
    other = FaultPlanner(parse_fault("status=503; rate=0.3; seed=12"))
    assert first != [other.plan(None, None) is not None for _ in range(200)]


def test_the_header_overrides_the_server_fault() -> None:
    planner = FaultPlanner(parse_fault("status=503"))
    assert planner.plan(None, None) == Fault("status", status=503)
    assert planner.plan("none", None) is None
    assert planner.plan("error; after=1", None) == Fault("error", status=500, after=1)


# --- Status before output, in each protocol's shape ---------------------------------


async def test_a_status_fault_answers_in_each_protocols_shape(
    client: httpx.AsyncClient,
) -> None:
    header = {"X-Echo-Fault": "status=429; retry_after=2"}
    openai = await client.post(OPENAI[0], json=OPENAI[1], headers=header)
    assert openai.status_code == 429
    assert openai.headers["retry-after"] == "2"
    assert openai.json()["error"]["code"] == "rate_limit_exceeded"
    anthropic = await client.post(ANTHROPIC[0], json=ANTHROPIC[1], headers=header)
    assert anthropic.status_code == 429
    assert anthropic.json()["error"]["type"] == "rate_limit_error"
    assert anthropic.json()["type"] == "error"
    langserve = await client.post(LANGSERVE[0], json=LANGSERVE[1], headers=header)
    assert langserve.status_code == 429
    assert "injected fault" in langserve.json()["detail"]
    overloaded = await client.post(
        ANTHROPIC[0], json=ANTHROPIC[1], headers={"X-Echo-Fault": "status=529"}
    )
    assert overloaded.status_code == 529
    assert overloaded.json()["error"]["type"] == "overloaded_error"
    assert "retry-after" not in overloaded.headers


async def test_a_malformed_header_is_refused_in_each_protocols_shape(
    client: httpx.AsyncClient,
) -> None:
    header = {"X-Echo-Fault": "status=42"}
    openai = await client.post(OPENAI[0], json=OPENAI[1], headers=header)
    assert openai.status_code == 400
    assert openai.json()["error"]["param"] == "x-echo-fault"
    assert "'status' must be from 400 to 599" in openai.json()["error"]["message"]
    anthropic = await client.post(ANTHROPIC[0], json=ANTHROPIC[1], headers=header)
    assert anthropic.status_code == 400
    assert anthropic.json()["error"]["type"] == "invalid_request_error"
    langserve = await client.post(LANGSERVE[0], json=LANGSERVE[1], headers=header)
    assert langserve.status_code == 422
    assert langserve.json()["detail"][0]["loc"] == ["header", "x-echo-fault"]


async def test_routes_that_run_no_model_ignore_the_header(
    client: httpx.AsyncClient,
) -> None:
    header = {"X-Echo-Fault": "status=503"}
    assert (await client.get("/health", headers=header)).status_code == 200
    assert (await client.get("/v1/models", headers=header)).status_code == 200
    assert (await client.get("/echo/input_schema", headers=header)).status_code == 200


async def test_faults_are_counted_apart_from_errors(client: httpx.AsyncClient) -> None:
    await client.post(OPENAI[0], json=OPENAI[1], headers={"X-Echo-Fault": "status=503"})
    await client.post(
        LANGSERVE[0], json=LANGSERVE[1], headers={"X-Echo-Fault": "error"}
    )
    metrics = (await client.get("/metrics")).text
    assert 'echo:injected_faults_total{kind="status",protocol="openai"} 1.0' in metrics
    assert (
        'echo:injected_faults_total{kind="error",protocol="langserve"} 1.0' in metrics
    )
    assert (
        'echo:request_errors_total{model_name="echo",protocol="openai"} 0.0' in metrics
    )


# --- Context length -------------------------------------------------------------------


async def test_the_context_window_refuses_longer_prompts_in_each_shape() -> None:
    async for client in client_for(Settings(context_window=4)):
        openai = await client.post(OPENAI[0], json=OPENAI[1])
        assert openai.status_code == 400
        error = openai.json()["error"]
        assert error["code"] == "context_length_exceeded"
        assert error["param"] == "messages"
        assert "maximum context length is 4 tokens" in error["message"]
        assert "resulted in 5 tokens" in error["message"]
        anthropic = await client.post(ANTHROPIC[0], json=ANTHROPIC[1])
        assert anthropic.status_code == 400
        assert (
            anthropic.json()["error"]["message"]
            == "prompt is too long: 5 tokens > 4 maximum"
        )
        langserve = await client.post(LANGSERVE[0], json=LANGSERVE[1])
        assert langserve.status_code == 400
        fits = await client.post(LANGSERVE[0], json={"input": "hi"})
        assert fits.json()["output"]["content"] == "hi"
        bad = await client.post(OPENAI[0], json={"model": "m"})
        assert bad.status_code == 400  # the route's own refusal of a bad body
        assert bad.json()["error"]["param"] == "messages"


async def test_context_length_per_request(client: httpx.AsyncClient) -> None:
    forced = await client.post(
        ANTHROPIC[0], json=ANTHROPIC[1], headers={"X-Echo-Fault": "context_length"}
    )
    assert (
        forced.json()["error"]["message"] == "prompt is too long: 5 tokens > 4 maximum"
    )
    fits = await client.post(
        OPENAI[0], json=OPENAI[1], headers={"X-Echo-Fault": "context_length; max=5"}
    )
    assert fits.json()["choices"][0]["message"]["content"] == "hello"


# --- Faults after k chunks ----------------------------------------------------------


async def test_error_after_k_chunks_is_each_protocols_mid_stream_error(
    client: httpx.AsyncClient,
) -> None:
    header = {"X-Echo-Fault": "error; after=2; status=529"}
    openai = await client.post(
        *STREAMS["openai"][:1], json=STREAMS["openai"][1], headers=header
    )
    frames = [f for f in openai.text.split("\n\n") if f]
    assert [
        orjson.loads(f[6:])["choices"][0]["delta"].get("content") for f in frames[1:3]
    ] == [
        "h",
        "e",
    ]
    assert orjson.loads(frames[-1][6:])["error"]["code"] == "injected_fault"
    assert "[DONE]" not in openai.text
    anthropic = await client.post(
        STREAMS["anthropic"][0], json=STREAMS["anthropic"][1], headers=header
    )
    assert anthropic.text.count("event: content_block_delta") == 2
    assert anthropic.text.endswith(
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        '"message":"echo-model injected fault (error; status=529; after=2)"}}\n\n'
    )
    langserve = await client.post(
        STREAMS["langserve"][0], json=STREAMS["langserve"][1], headers=header
    )
    assert langserve.text.count("event: data") == 2
    assert '{"status_code":529,' in langserve.text.split("event: error")[1]
    assert "event: end" not in langserve.text
    whole = await client.post(
        OPENAI[0], json=OPENAI[1], headers={"X-Echo-Fault": "error"}
    )
    assert whole.status_code == 500
    assert whole.json()["error"]["code"] == "injected_fault"


async def test_a_stall_ends_with_the_whole_stream(client: httpx.AsyncClient) -> None:
    header = {"X-Echo-Fault": "stall; after=2; seconds=0.05"}
    for path, body in STREAMS.values():
        reply = await client.post(path, json=body, headers=header)
        assert reply.status_code == 200
        assert reply.text.count('"text":"') + reply.text.count('"content":"') >= 5


async def test_a_routes_own_refusal_passes_a_fault_untouched(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.post(
        OPENAI[0],
        json={"model": "m", "messages": []},
        headers={"X-Echo-Fault": "error"},
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] != "injected_fault"


# --- The body option: configurable.fault (LangServe), echo.fault (/v1) ----------------

PROTOCOLS = ("openai", "anthropic", "langserve")
WHOLE: dict[str, tuple[str, dict[str, Any]]] = {
    "openai": OPENAI,
    "anthropic": ANTHROPIC,
    "langserve": LANGSERVE,
}


def with_fault(protocol: str, body: dict[str, Any], fault: str) -> dict[str, Any]:
    """Return ``body`` asking for ``fault`` in its protocol's per-request options."""
    if protocol == "langserve":
        return {**body, "config": {"configurable": {"fault": fault}}}
    return {**body, "echo": {"fault": fault}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_status_option_answers_as_the_header_does(
    client: httpx.AsyncClient, protocol: str, streamed: bool
) -> None:
    path, body = STREAMS[protocol] if streamed else WHOLE[protocol]
    spec = "status=429; retry_after=2"
    by_header = await client.post(path, json=body, headers={"X-Echo-Fault": spec})
    by_option = await client.post(path, json=with_fault(protocol, body, spec))
    assert by_option.status_code == 429
    assert by_option.headers["retry-after"] == "2"
    assert by_option.json() == by_header.json()
    metrics = (await client.get("/metrics")).text
    assert (
        f'echo:injected_faults_total{{kind="status",protocol="{protocol}"}} 2.0'
        in metrics
    )


async def test_a_status_option_stops_the_route_before_the_model_runs(
    client: httpx.AsyncClient,
) -> None:
    # A model that ran would have answered 'hello'; the batch endpoint runs it
    # only after every config is checked, and the engine counts what it served.
    body = {
        "inputs": ["hello"],
        "config": {"configurable": {"fault": "status=503"}},
    }
    reply = await client.post("/echo/batch", json=body)
    assert reply.status_code == 503
    metrics = (await client.get("/metrics")).text
    assert "vllm:generation_tokens_total{" not in metrics  # no sample: no run
    assert (await client.post("/echo/batch", json={"inputs": ["hi"]})).is_success
    metrics = (await client.get("/metrics")).text
    assert "vllm:generation_tokens_total{" in metrics


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_malformed_option_is_refused_naming_the_field(
    client: httpx.AsyncClient, protocol: str
) -> None:
    path, body = WHOLE[protocol]
    reply = await client.post(path, json=with_fault(protocol, body, "status=42"))
    if protocol == "langserve":
        assert reply.status_code == 422
        error = reply.json()["detail"][0]
        assert error["loc"][-2:] == ["configurable", "fault"]
        assert "'status' must be from 400 to 599" in error["msg"]
    else:
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "invalid 'echo.fault'" in error["message"]
        assert "'status' must be from 400 to 599" in error["message"]
        if protocol == "openai":
            assert error["param"] == "echo.fault"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_error_after_k_option_is_the_mid_stream_error(
    client: httpx.AsyncClient, protocol: str
) -> None:
    path, body = STREAMS[protocol]
    spec = "error; after=2; status=529"
    by_option = await client.post(path, json=with_fault(protocol, body, spec))
    by_header = await client.post(path, json=body, headers={"X-Echo-Fault": spec})
    assert by_option.status_code == 200
    assert "injected fault (error; status=529; after=2)" in by_option.text
    chunk = {
        "openai": r'"delta":\{"content":"[^"]',
        "anthropic": "event: content_block_delta",
        "langserve": "event: data",
    }[protocol]
    assert len(re.findall(chunk, by_option.text)) == 2
    assert by_option.text.rsplit("\n", 4)[1:] == by_header.text.rsplit("\n", 4)[1:]
    assert "event: end" not in by_option.text
    assert "[DONE]" not in by_option.text
    whole_path, whole_body = WHOLE[protocol]
    whole = await client.post(whole_path, json=with_fault(protocol, whole_body, spec))
    assert whole.status_code == 529


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_disconnect_option_closes_the_stream_after_k_chunks(
    client: httpx.AsyncClient, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    path, body = STREAMS[protocol]
    # The in-process transport raises what a real server answers by closing
    # the socket (tests/e2e reads the cut stream over HTTP).
    with (
        caplog.at_level(logging.INFO, logger="echo_model.server"),
        pytest.raises(InjectedDisconnect),
    ):
        await client.post(path, json=with_fault(protocol, body, "disconnect; after=2"))
    assert f"injected fault: connection closed on {path} after 2 chunks" in caplog.text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_stall_option_delays_then_sends_the_whole_stream(
    client: httpx.AsyncClient, protocol: str
) -> None:
    path, body = STREAMS[protocol]
    plain = await client.post(path, json=body)
    stalled = await client.post(
        path, json=with_fault(protocol, body, "stall; after=2; seconds=0.05")
    )
    assert stalled.status_code == 200
    marker = {"openai": '"content":"', "anthropic": "text_delta", "langserve": "data"}
    assert stalled.text.count(marker[protocol]) == plain.text.count(marker[protocol])
    metrics = (await client.get("/metrics")).text
    assert (
        f'echo:injected_faults_total{{kind="stall",protocol="{protocol}"}} 1.0'
        in metrics
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_context_length_option_is_the_protocols_refusal(
    client: httpx.AsyncClient, protocol: str
) -> None:
    path, body = WHOLE[protocol]
    forced = await client.post(path, json=with_fault(protocol, body, "context_length"))
    by_header = await client.post(
        path, json=body, headers={"X-Echo-Fault": "context_length"}
    )
    assert forced.status_code == 400
    assert forced.json() == by_header.json()
    assert "5 tokens" in orjson.dumps(forced.json()).decode()
    fits = await client.post(
        path, json=with_fault(protocol, body, "context_length; max=5")
    )
    assert fits.status_code == 200
    stream_path, stream_body = STREAMS[protocol]
    streamed = await client.post(
        stream_path, json=with_fault(protocol, stream_body, "context_length; max=3")
    )
    assert streamed.status_code == 400


async def test_the_header_wins_over_the_option_which_wins_over_the_flag() -> None:
    async for client in client_for(Settings(fault="status=503")):
        for protocol in PROTOCOLS:
            path, body = WHOLE[protocol]
            assert (await client.post(path, json=body)).status_code == 503
            off = await client.post(path, json=with_fault(protocol, body, "none"))
            assert off.status_code == 200
            other = with_fault(protocol, body, "status=429")
            assert (await client.post(path, json=other)).status_code == 429
            header = {"X-Echo-Fault": "none"}
            assert (
                await client.post(path, json=other, headers=header)
            ).status_code == 200
            header = {"X-Echo-Fault": "status=500"}
            assert (
                await client.post(path, json=other, headers=header)
            ).status_code == 500
            empty = with_fault(protocol, body, "")  # a cleared form field: unset
            assert (await client.post(path, json=empty)).status_code == 503


async def test_an_option_counts_attempts_as_the_header_does(
    client: httpx.AsyncClient,
) -> None:
    body = with_fault("openai", OPENAI[1], "status=503; attempts=1")
    first = await client.post(OPENAI[0], json=body)
    retry = await client.post(
        OPENAI[0], json=body, headers={"x-stainless-retry-count": "1"}
    )
    assert (first.status_code, retry.status_code) == (503, 200)


async def test_a_batch_takes_one_fault(client: httpx.AsyncClient) -> None:
    fault = {"configurable": {"fault": "status=429"}}
    shared = await client.post(
        "/echo/batch", json={"inputs": ["a", "b"], "config": fault}
    )
    assert shared.status_code == 429
    each = await client.post(
        "/echo/batch", json={"inputs": ["a", "b"], "config": [fault, fault]}
    )
    assert each.status_code == 429
    mixed = await client.post(
        "/echo/batch", json={"inputs": ["a", "b"], "config": [fault, {}]}
    )
    assert mixed.status_code == 422
    assert mixed.json()["detail"][0]["loc"][-1] == "fault"
    assert "a batch takes one fault" in mixed.json()["detail"][0]["msg"]
    error = {"configurable": {"fault": "error"}}
    failed = await client.post("/echo/batch", json={"inputs": ["a"], "config": error})
    assert failed.status_code == 500


async def test_the_option_is_a_configurable_field_of_every_langserve_route(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/echo", "/chat"):
        schema = (await client.get(f"{path}/config_schema")).json()
        field = schema["$defs"]["Configurable"]["properties"]["fault"]
        assert field["type"] == "string"
        assert "default" not in field  # the playground's empty box: not set
    reply = await client.post(
        "/chat/invoke",
        json={
            "input": {"messages": [{"type": "human", "content": "hi"}]},
            "config": {"configurable": {"fault": "status=503"}},
        },
    )
    assert reply.status_code == 503


# --- Abandoned streams --------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["stream", "stream_log", "stream_events"])
async def test_a_cut_langserve_stream_is_closed_in_place(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    # LangServe's stream generator answers a bare close with one more event:
    # left to the collector, it is closed in a task of its own that fails
    # ("async generator ignored GeneratorExit", never retrieved).
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        for _ in range(2):
            with pytest.raises(InjectedDisconnect):
                await client.post(
                    f"/echo/{endpoint}",
                    json=with_fault("langserve", {"input": "hello"}, "disconnect"),
                )
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert [context["message"] for context in reported] == []
