"""The metrics as the inspector's charts want them: JSON, read from the registry.

``metrics_view`` reads the registry ``/metrics`` serves (every worker's values
in multiprocess mode) once, and returns the time to first token and
inter-token latency histograms (per-bucket counts, not Prometheus's
cumulative ones), the counters, and the rates kept by ``CounterSamples``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from prometheus_client import CollectorRegistry

from echo_model.serving.core.metrics import ServingMetrics

#: The histograms charted, by the key the page reads.
HISTOGRAMS = {
    "ttft": "vllm:time_to_first_token_seconds",
    "itl": "vllm:inter_token_latency_seconds",
}
REQUESTS = "echo:requests_total"
ERRORS = "echo:request_errors_total"
SUCCESS = "vllm:request_success_total"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
FAULTS = "echo:injected_faults_total"
RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"

#: Seconds between two snapshots of the counters, and how many are kept.
SAMPLE_INTERVAL = 2.0
SAMPLES_KEPT = 150  # 5 minutes


def read_registry(registry: CollectorRegistry) -> dict[str, Any]:
    """Return the charted histograms and the counters of ``registry``.

    Series are summed over their ``model_name`` label (one served model);
    ``requests``, ``errors`` are by protocol, ``success`` by finished reason,
    ``injected_faults`` by kind.
    """
    wanted = {name: key for key, name in HISTOGRAMS.items()}
    buckets: dict[str, dict[float, float]] = {key: {} for key in HISTOGRAMS}
    totals: dict[str, dict[str, float]] = {key: {} for key in HISTOGRAMS}
    counters: dict[str, Any] = {
        "requests": {},
        "errors": {},
        "success": {},
        "injected_faults": {},
        "prompt_tokens": 0.0,
        "generation_tokens": 0.0,
        "running": 0.0,
        "waiting": 0.0,
    }
    by_label = {
        REQUESTS: ("requests", "protocol"),
        ERRORS: ("errors", "protocol"),
        SUCCESS: ("success", "finished_reason"),
        FAULTS: ("injected_faults", "kind"),
    }
    plain = {
        PROMPT_TOKENS: "prompt_tokens",
        GENERATION_TOKENS: "generation_tokens",
        RUNNING: "running",
        WAITING: "waiting",
    }
    for family in registry.collect():
        for sample in family.samples:
            name, value = sample.name, sample.value
            if (key := wanted.get(family.name)) is not None:
                if name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    buckets[key][bound] = buckets[key].get(bound, 0.0) + value
                elif name.endswith(("_count", "_sum")):
                    part = name.rsplit("_", 1)[1]
                    totals[key][part] = totals[key].get(part, 0.0) + value
            elif name in by_label:
                group, label = by_label[name]
                which = sample.labels[label]
                counters[group][which] = counters[group].get(which, 0.0) + value
            elif name in plain:
                counters[plain[name]] += value
    histograms = {key: _histogram(buckets[key], totals[key]) for key in HISTOGRAMS}
    return {"histograms": histograms, "counters": _ints(counters)}


def _histogram(cumulative: dict[float, float], totals: dict[str, float]) -> dict:
    """Per-bucket counts from Prometheus's cumulative ones (``+Inf`` last)."""
    bounds = sorted(cumulative)
    counts: list[int] = []
    below = 0.0
    for bound in bounds:
        counts.append(round(cumulative[bound] - below))
        below = cumulative[bound]
    return {
        "bounds": [b if math.isfinite(b) else None for b in bounds],
        "counts": counts,
        "count": round(totals.get("count", 0.0)),
        "sum": totals.get("sum", 0.0),
    }


def _ints(counters: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (
            {k: round(v) for k, v in value.items()}
            if isinstance(value, dict)
            else round(value)
        )
        for key, value in counters.items()
    }


@dataclass(frozen=True)
class Snapshot:
    """The counters the rates are read from, at one moment."""

    time: float
    requests: float
    tokens: float


class CounterSamples:
    """A ring of periodic snapshots of the request and token counters.

    ``sample`` takes one if ``interval`` seconds have passed since the last
    (whoever calls it: the lifespan's task, or a read of the rates); ``rates``
    turns consecutive snapshots into requests/s and tokens/s.

    Args:
        metrics: The app's metrics (the registry ``/metrics`` reads).
        interval: Seconds between snapshots.
        size: Snapshots kept (the oldest go first).
        clock: Seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        metrics: ServingMetrics,
        interval: float = SAMPLE_INTERVAL,
        size: int = SAMPLES_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self._ring: deque[Snapshot] = deque(maxlen=size)
        self._lock = threading.Lock()

    def sample(self, counters: dict[str, Any] | None = None) -> None:
        """Take a snapshot if one is due (``counters``: already read, if given)."""
        now = self.clock()
        with self._lock:
            if self._ring and now - self._ring[-1].time < self.interval:
                return
        if counters is None:
            counters = read_registry(self.metrics.collecting_registry())["counters"]
        snapshot = Snapshot(
            now, sum(counters["requests"].values()), counters["generation_tokens"]
        )
        with self._lock:
            if not self._ring or now - self._ring[-1].time >= self.interval:
                self._ring.append(snapshot)

    def rates(self) -> dict[str, Any]:
        """Return the rates between consecutive snapshots, oldest first.

        ``points`` are ``{"ago", "requests", "tokens"}``: seconds before the
        newest snapshot, requests/s and tokens/s over the interval ending
        there.
        """
        with self._lock:
            ring = list(self._ring)
        points = []
        for before, after in pairwise(ring):
            span = after.time - before.time
            points.append(
                {
                    "ago": round(ring[-1].time - after.time, 3),
                    "requests": max(0.0, (after.requests - before.requests) / span),
                    "tokens": max(0.0, (after.tokens - before.tokens) / span),
                }
            )
        return {
            "interval": self.interval,
            "window": self.interval * (self._ring.maxlen or 0),
            "points": points,
        }


def metrics_view(metrics: ServingMetrics, samples: CounterSamples) -> dict[str, Any]:
    """Return the histograms, counters and rates the page charts."""
    view = read_registry(metrics.collecting_registry())
    samples.sample(view["counters"])
    return {**view, "rates": samples.rates()}


__all__ = [
    "HISTOGRAMS",
    "SAMPLES_KEPT",
    "SAMPLE_INTERVAL",
    "CounterSamples",
    "Snapshot",
    "metrics_view",
    "read_registry",
]
