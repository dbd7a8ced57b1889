"""The plugin's parts that need no server: options, flags, metrics parsing."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from echo_model.testing.metrics import parse_prometheus
from echo_model.testing.options import FAULT_HEADER, EchoOptions
from echo_model.testing.server import server_args


def test_the_closest_marker_wins_option_by_option() -> None:
    # iter_markers gives the test's own marker first, then its module's.
    options = EchoOptions.from_markers(
        [
            pytest.mark.echo(n=2, fault="status=429").mark,
            pytest.mark.echo(n=4, token_delay=0.5, fault="error").mark,
        ]
    )
    assert options.simulation == {"n": 2, "token_delay": 0.5}
    assert options.fault == "status=429"
    assert options.headers == {FAULT_HEADER: "status=429"}
    assert options.body == {"echo": {"n": 2, "token_delay": 0.5}}


def test_no_marker_sends_nothing() -> None:
    options = EchoOptions.from_markers([])
    assert (options.headers, options.body) == ({}, {})


@pytest.mark.parametrize(
    ("mark", "message"),
    [
        (pytest.mark.echo(temperature=1).mark, "unknown @pytest.mark.echo option"),
        (pytest.mark.echo(3).mark, "keyword arguments only"),
        (pytest.mark.echo(fault=429).mark, "must be a string"),
    ],
)
def test_bad_markers_are_refused_saying_why(mark: pytest.Mark, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EchoOptions.from_markers([mark])


def test_server_options_become_flags() -> None:
    assert server_args(
        {"token_delay": 0.01, "max_n": 7, "access_log": False, "workers": None}
    ) == ["--token-delay", "0.01", "--max-n", "7", "--no-access-log"]
    assert server_args({"allow_unauthenticated": True}) == ["--allow-unauthenticated"]


def test_prometheus_text_is_read_by_name_and_labels() -> None:
    registry = CollectorRegistry()
    requests = Counter("echo:requests", "r", ["protocol"], registry=registry)
    latency = Histogram("vllm:e2e", "l", buckets=(1.0,), registry=registry)
    requests.labels("openai").inc(3)
    requests.labels("anthropic").inc()
    latency.observe(0.5)
    metrics = parse_prometheus(generate_latest(registry).decode())
    assert metrics.source == "/metrics"
    assert metrics.value("echo:requests_total", protocol="openai") == 3
    assert metrics.value("echo:requests_total") == 4
    assert metrics.value("echo:requests_total", protocol="langserve") == 0
    assert metrics.value("vllm:e2e_count") == 1
    assert metrics.value("vllm:e2e_bucket", le="1.0") == 1
