"""Prometheus metrics: vLLM's names, types and labels, values after known traffic."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from echo_model.engine import Engine, FinishedRequest, ManualClock, Sequence
from echo_model.latency import LatencyModel
from echo_model.serving.app import create_app
from echo_model.serving.core.metrics import (
    MULTIPROC_ENV,
    ProtocolCounter,
    ServingMetrics,
    multiprocess_directory,
)
from echo_model.serving.core.middleware import ArrivalStamp
from echo_model.serving.settings import Settings

#: vLLM's metric families (as the text format names them) and their types.
VLLM_FAMILIES = {
    "vllm:num_requests_running": "gauge",
    "vllm:num_requests_waiting": "gauge",
    "vllm:time_to_first_token_seconds": "histogram",
    "vllm:inter_token_latency_seconds": "histogram",
    "vllm:time_per_output_token_seconds": "histogram",
    "vllm:e2e_request_latency_seconds": "histogram",
    "vllm:request_queue_time_seconds": "histogram",
    "vllm:prompt_tokens": "counter",
    "vllm:generation_tokens": "counter",
    "vllm:request_success": "counter",
    "echo:requests": "counter",
    "echo:request_errors": "counter",
    "echo:injected_faults": "counter",
}


def samples(metrics: ServingMetrics) -> dict[tuple[str, tuple], float]:
    text = metrics.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: ServingMetrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def families(metrics: ServingMetrics) -> dict[str, str]:
    text = metrics.render().decode()
    return {
        f.name: f.type
        for f in text_string_to_metric_families(text)
        if not f.name.endswith("_created")  # counters' creation times
    }


@pytest.fixture
def setup() -> tuple[Engine, ManualClock, ServingMetrics]:
    clock = ManualClock(start=1000.0)
    engine = Engine(clock=clock, step_window=0.0, max_num_seqs=2)
    metrics = ServingMetrics("echo")
    engine.listeners.append(metrics)
    return engine, clock, metrics


async def reply(
    engine: Engine, tokens: int, *, model: str = "echo", reason: str = "stop"
) -> Sequence:
    latency = LatencyModel.from_delays(0.1, 0.02)
    async with engine.run(
        latency.schedule(), model_name=model, prompt_tokens=7
    ) as sequence:
        for _ in range(tokens):
            await sequence.next_token()
        sequence.finished_reason = reason
    return sequence


def test_names_types_and_labels_are_vllm_s(
    setup: tuple[Engine, ManualClock, ServingMetrics],
) -> None:
    _, _, metrics = setup
    assert families(metrics) == VLLM_FAMILIES
    every = samples(metrics)
    assert every[("vllm:num_requests_running", (("model_name", "echo"),))] == 0
    for protocol in ("langserve", "openai", "anthropic"):
        key = ("echo:requests_total", (("model_name", "echo"), ("protocol", protocol)))
        assert every[key] == 0


async def test_values_after_known_traffic(
    setup: tuple[Engine, ManualClock, ServingMetrics],
) -> None:
    engine, clock, metrics = setup
    tasks = [
        asyncio.create_task(reply(engine, 5, reason="length")),
        asyncio.create_task(reply(engine, 5)),
        asyncio.create_task(reply(engine, 3)),  # waits: max_num_seqs=2
    ]
    await clock.advance(0)
    assert value(metrics, "vllm:num_requests_running", model_name="echo") == 2
    assert value(metrics, "vllm:num_requests_waiting", model_name="echo") == 1
    await clock.advance(0.12)  # 2 tokens each of the first two are out
    assert value(metrics, "vllm:generation_tokens_total", model_name="echo") == 4
    await clock.advance(10)
    await asyncio.gather(*tasks)

    echo = {"model_name": "echo"}
    assert value(metrics, "vllm:num_requests_running", **echo) == 0
    assert value(metrics, "vllm:num_requests_waiting", **echo) == 0
    assert value(metrics, "vllm:generation_tokens_total", **echo) == 13
    assert value(metrics, "vllm:prompt_tokens_total", **echo) == 21
    assert (
        value(metrics, "vllm:request_success_total", finished_reason="stop", **echo)
        == 2
    )
    assert (
        value(metrics, "vllm:request_success_total", finished_reason="length", **echo)
        == 1
    )
    # TTFT: 0.1, 0.1, and 0.18 + 0.1 for the one that waited for a place.
    assert value(metrics, "vllm:time_to_first_token_seconds_count", **echo) == 3
    assert value(
        metrics, "vllm:time_to_first_token_seconds_sum", **echo
    ) == pytest.approx(0.48)
    assert (
        value(metrics, "vllm:time_to_first_token_seconds_bucket", le="0.25", **echo)
        == 2
    )
    assert value(metrics, "vllm:inter_token_latency_seconds_count", **echo) == 10
    assert value(
        metrics, "vllm:inter_token_latency_seconds_sum", **echo
    ) == pytest.approx(0.2)
    assert value(metrics, "vllm:time_per_output_token_seconds_count", **echo) == 3
    assert value(
        metrics, "vllm:request_queue_time_seconds_sum", **echo
    ) == pytest.approx(0.18)
    assert value(
        metrics, "vllm:e2e_request_latency_seconds_sum", **echo
    ) == pytest.approx(0.18 + 0.18 + 0.18 + 0.14)
    assert metrics.totals() == {
        "started": 3,
        "finished": 3,
        "failed": 0,
        "tokens": 13,
        "active": 0,
    }


async def test_a_failed_reply_is_an_abort(
    setup: tuple[Engine, ManualClock, ServingMetrics],
) -> None:
    engine, clock, metrics = setup
    task = asyncio.create_task(reply(engine, 50))
    await clock.advance(0.15)
    task.cancel()
    await clock.advance(0)
    assert (
        value(
            metrics,
            "vllm:request_success_total",
            model_name="echo",
            finished_reason="abort",
        )
        == 1
    )
    assert metrics.totals()["failed"] == 1
    assert metrics.totals()["tokens"] == 3


async def test_metrics_are_labelled_with_the_served_model_name_only(
    setup: tuple[Engine, ManualClock, ServingMetrics],
) -> None:
    # A client naming a new model each request must not grow /metrics.
    engine, clock, metrics = setup
    for name in [f"model-{i}" for i in range(40)]:
        task = asyncio.create_task(reply(engine, 1, model=name))
        await clock.advance(1)
        await task
    labelled = {
        dict(labels)["model_name"]
        for (name, labels) in samples(metrics)
        if name.startswith("vllm:")
    }
    assert labelled == {metrics.model_name}


def test_protocol_counts_and_errors() -> None:
    metrics = ServingMetrics("echo")
    metrics.record_request("openai")
    metrics.record_request("openai", error=True)  # refused at once
    metrics.record_request("anthropic")
    metrics.record_error("anthropic")  # a stream that broke later
    counter = ProtocolCounter(metrics)
    counter.on_chat_model_start({}, [[]])
    counter.on_chat_model_start({}, [[]])
    counter.on_llm_error(RuntimeError("x"), run_id=uuid.uuid4())
    requests = {
        p: value(metrics, "echo:requests_total", model_name="echo", protocol=p)
        for p in ("langserve", "openai", "anthropic")
    }
    errors = {
        p: value(metrics, "echo:request_errors_total", model_name="echo", protocol=p)
        for p in ("langserve", "openai", "anthropic")
    }
    assert requests == {"langserve": 2, "openai": 2, "anthropic": 1}
    assert errors == {"langserve": 1, "openai": 1, "anthropic": 1}


def test_the_multiprocess_directory_is_made_and_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_directory(1) as directory:
        assert directory is None
        assert MULTIPROC_ENV not in os.environ
    with multiprocess_directory(2) as directory:
        assert directory is not None
        assert os.environ[MULTIPROC_ENV] == directory
        assert Path(directory).is_dir()
    assert not Path(directory).exists()
    assert MULTIPROC_ENV not in os.environ


WORKER = """
import asyncio, sys
from echo_model.engine import Engine
from echo_model.latency import LatencyModel
from echo_model.serving.core.metrics import ServingMetrics

async def main(count):
    engine = Engine()
    metrics = ServingMetrics("echo")
    engine.listeners.append(metrics)
    metrics.record_request("openai")
    for _ in range(count):
        async with engine.run(LatencyModel().schedule(), model_name="echo") as s:
            await s.wait_done(4)

asyncio.run(main(int(sys.argv[1])))
"""


def test_values_of_several_processes_are_summed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two worker processes write their values; this process reads them all.
    environment = {**os.environ, MULTIPROC_ENV: str(tmp_path)}
    for count in (3, 5):
        subprocess.run(
            [sys.executable, "-c", WORKER, str(count)], env=environment, check=True
        )
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    metrics = ServingMetrics("echo")
    echo = {"model_name": "echo"}
    assert value(metrics, "vllm:generation_tokens_total", **echo) == 32
    assert (
        value(metrics, "vllm:request_success_total", finished_reason="stop", **echo)
        == 8
    )
    assert value(metrics, "echo:requests_total", protocol="openai", **echo) == 2
    assert metrics.totals()["finished"] == 8


# --- Through the app, in process -----------------------------------------------


async def test_the_app_serves_metrics_after_known_traffic() -> None:
    app = create_app(Settings(model_name="echo"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.post("/echo/stream", json={"input": "abc"})
        await client.post("/echo/invoke", json={"input": "hello"})
        await client.post("/echo/batch", json={"inputs": ["x", "yz"]})
        response = await client.get("/metrics")
        stats = (await client.get("/stats")).json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    scraped = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    echo = (("model_name", "echo"),)
    assert scraped[("echo:requests_total", (*echo, ("protocol", "langserve")))] == 4
    assert scraped[("echo:requests_total", (*echo, ("protocol", "openai")))] == 0
    assert scraped[("vllm:generation_tokens_total", echo)] == 3 + 5 + 1 + 2
    assert scraped[("vllm:prompt_tokens_total", echo)] == 3 + 5 + 1 + 2
    success = ("vllm:request_success_total", (("finished_reason", "stop"), *echo))
    assert scraped[success] == 4
    assert scraped[("vllm:time_to_first_token_seconds_count", echo)] == 4
    assert stats == {
        "started": 4,
        "finished": 4,
        "failed": 0,
        "tokens": 11,
        "active": 0,
    }


async def test_metrics_are_behind_the_api_key() -> None:
    app = create_app(Settings(api_key=SecretStr("metrics-key-1")))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/metrics")).status_code == 401
        headers = {"Authorization": "Bearer metrics-key-1"}
        assert (await client.get("/metrics", headers=headers)).status_code == 200


async def test_timings_start_when_the_request_reaches_the_server() -> None:
    """TTFT, e2e and queue time count the HTTP handling before the model starts."""
    clock = ManualClock(start=100.0)
    engine = Engine(clock=clock)
    metrics = ServingMetrics("echo")
    engine.listeners.append(metrics)

    async def app(scope: object, receive: object, send: object) -> None:
        clock.now += 0.25  # reading, parsing and routing the request
        async with engine.run(
            LatencyModel.from_delays().schedule(), model_name="echo"
        ) as seq:
            await seq.wait_done(3)

    stamped = ArrivalStamp(app, clock=clock)  # type: ignore[arg-type]
    await stamped({"type": "http"}, None, None)  # type: ignore[arg-type]
    echo = {"model_name": "echo"}
    for name in ("time_to_first_token", "e2e_request_latency"):
        total = value(metrics, f"vllm:{name}_seconds_sum", **echo)
        assert total == pytest.approx(0.25), name
    # It never waited for a place: no queue time.
    assert value(metrics, "vllm:request_queue_time_seconds_sum", **echo) == 0
    # Outside a request, a reply arrives when it reaches the engine.
    async with engine.run(
        LatencyModel.from_delays().schedule(), model_name="echo"
    ) as seq:
        await seq.wait_done(1)
    assert value(metrics, "vllm:e2e_request_latency_seconds_sum", **echo) == 0.25


#: Token times: zero gaps (a reply sent whole), gaps on bucket bounds, any.
TOKEN_TIMES = st.one_of(
    st.integers(0, 1000).map(lambda n: [5.0] * (n + 1)),
    st.lists(
        st.sampled_from([0.0, 0.01, 0.025, 0.1, 80.0, 81.0]), min_size=1, max_size=50
    ).map(lambda gaps: list(itertools.accumulate(gaps, initial=5.0))),
    st.lists(st.floats(0, 100), min_size=1, max_size=300).map(
        lambda gaps: list(itertools.accumulate(gaps, initial=1000.0))
    ),
)


@settings(max_examples=60, deadline=None)
@given(times=TOKEN_TIMES)
def test_gaps_recorded_at_once_match_one_observe_each(times: list[float]) -> None:
    """A reply's ITL histogram is the same as with one observe per gap."""
    reply = FinishedRequest("echo", "stop", 1, 4.0, 4.5, 6.0, tuple(times))
    bulk = ServingMetrics("echo")
    bulk.itl.labels("echo").observe(0.3)  # an earlier reply's gap
    bulk.on_finish(reply)
    one_by_one = ServingMetrics("echo")
    itl, tpot = one_by_one.itl.labels("echo"), one_by_one.tpot.labels("echo")
    itl.observe(0.3)
    gaps = reply.inter_token_latencies()
    for gap in gaps:
        itl.observe(gap)
    if gaps:
        tpot.observe(sum(gaps) / len(gaps))

    def histograms(metrics: ServingMetrics) -> dict[tuple[str, tuple], float]:
        return {
            key: number
            for key, number in samples(metrics).items()
            if key[0].startswith(("vllm:inter_token", "vllm:time_per_output"))
            and not key[0].endswith("_created")
        }

    # Exact: the text format prints floats in full (repr).
    assert histograms(bulk) == histograms(one_by_one)
