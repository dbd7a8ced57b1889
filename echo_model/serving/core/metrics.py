"""Prometheus metrics, named and bucketed like vLLM's, summed over every worker.

``ServingMetrics`` listens to the engine (``echo_model.engine``) and so records
every reply of the model once, whatever protocol asked for it:

- gauges ``vllm:num_requests_running`` / ``vllm:num_requests_waiting``;
- histograms ``vllm:time_to_first_token_seconds``,
  ``vllm:inter_token_latency_seconds`` (one observation per gap),
  ``vllm:time_per_output_token_seconds`` (one per reply: its mean gap),
  ``vllm:e2e_request_latency_seconds``, ``vllm:request_queue_time_seconds``;
- counters ``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``
  (counted as tokens go out, so a scrape mid-stream sees them) and
  ``vllm:request_success_total`` (label ``finished_reason``: ``stop``,
  ``length``, ``tool_calls``, or ``abort`` for a reply that failed or was
  cancelled, as vLLM counts aborts there too).

All carry the label ``model_name``. The protocol adapters add, per request,
``echo:requests_total`` and ``echo:request_errors_total`` (label
``protocol``: ``langserve``, ``openai``, ``anthropic``, ``responses``)
with ``record_request``; LangServe's routes are counted by ``ProtocolCounter``,
a callback handler on the served model. Faults injected on purpose are
``echo:injected_faults_total`` (labels ``kind``, ``protocol``), apart.

With several workers, ``echo-server`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
temporary directory it owns (``multiprocess_directory``) before any worker
starts: prometheus-client then keeps each worker's values in files there, and
a scrape of ``/metrics``, answered by any one worker, sums them all.
"""

from __future__ import annotations

import os
import tempfile
import threading
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from echo_model.engine import ABORT, FinishedRequest

#: prometheus-client's switch to multiprocess mode (read when it is imported).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: The protocols the server speaks, as the ``protocol`` label says them.
PROTOCOLS = ("langserve", "openai", "anthropic", "responses", "ollama")

#: vLLM's buckets (vllm/v1/metrics/loggers.py), so its dashboards fit.
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
ITL_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
    5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
REQUEST_LATENCY_BUCKETS = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
    50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip


class ServingMetrics:
    """The metrics of one server process, and how to read them.

    Implements ``echo_model.engine.EngineListener``: add it to the engine's
    listeners. One per process: in multiprocess mode two instances in one
    process would share their files.

    Args:
        model_name: The served model's name, the label of the engine gauges.
    """

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.registry = CollectorRegistry()
        registry = self.registry
        labels = ["model_name"]
        self.running = Gauge(
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.waiting = Gauge(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            labels,
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.itl = Histogram(
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            labels,
            buckets=ITL_BUCKETS,
            registry=registry,
        )
        self.tpot = Histogram(
            "vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds (mean per request).",
            labels,
            buckets=ITL_BUCKETS,
            registry=registry,
        )
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            labels,
            buckets=REQUEST_LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_time = Histogram(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            labels,
            buckets=REQUEST_LATENCY_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens",
            "Number of prefill tokens processed.",
            labels,
            registry=registry,
        )
        self.generation_tokens = Counter(
            "vllm:generation_tokens",
            "Number of generation tokens processed.",
            labels,
            registry=registry,
        )
        self.request_success = Counter(
            "vllm:request_success",
            "Count of successfully processed requests.",
            [*labels, "finished_reason"],
            registry=registry,
        )
        self.requests = Counter(
            "echo:requests",
            "Requests received, by protocol.",
            [*labels, "protocol"],
            registry=registry,
        )
        self.request_errors = Counter(
            "echo:request_errors",
            "Requests that failed (an error reply or a broken stream), by protocol.",
            [*labels, "protocol"],
            registry=registry,
        )
        self.injected_faults = Counter(
            "echo:injected_faults",
            "Faults injected on purpose (X-Echo-Fault, --fault, --context-window),"
            " by kind and protocol; never counted as request errors.",
            ["kind", "protocol"],
            registry=registry,
        )
        self._running = self.running.labels(model_name)
        self._waiting = self.waiting.labels(model_name)
        self._tokens: dict[str, Any] = {}
        self._series: dict[str, _ModelSeries] = {}
        self._children: dict[tuple[Counter, str, str], Any] = {}
        # Every series a dashboard expects exists from the start, at zero.
        for protocol in PROTOCOLS:
            self.requests.labels(model_name, protocol)
            self.request_errors.labels(model_name, protocol)
        self._running.set(0)
        self._waiting.set(0)
        self._waiting_now = 0

    # --- Recording -----------------------------------------------------------------

    def label(self, model_name: str) -> str:
        """Return the ``model_name`` label of a request: the served model's name.

        Whatever name a client sends is answered by the served model, so its
        metrics are the served model's, as vLLM labels them; a label per name
        a client sends would let clients grow ``/metrics`` without bound.
        """
        return self.model_name

    def on_state(self, running: int, waiting: int) -> None:
        """Set the running and waiting gauges (the engine calls this)."""
        self._running.set(running)
        if waiting != self._waiting_now:  # most changes are of running only
            self._waiting_now = waiting
            self._waiting.set(waiting)

    def on_tokens(self, model_name: str, count: int) -> None:
        """Count tokens as they go out (the engine calls this)."""
        counter = self._tokens.get(model_name)
        if counter is None:
            counter = self.generation_tokens.labels(self.label(model_name))
            self._tokens[model_name] = counter
        counter.inc(count)

    def on_finish(self, request: FinishedRequest) -> None:
        """Record a finished reply's timings and counts (the engine calls this)."""
        name = self.label(request.model_name)
        series = self._series.get(name)
        if series is None:
            series = self._series[name] = _ModelSeries(self, name)
        success = series.success.get(request.finished_reason)
        if success is None:
            success = self.request_success.labels(name, request.finished_reason)
            series.success[request.finished_reason] = success
        success.inc()
        series.prompt_tokens.inc(request.prompt_tokens)
        series.e2e.observe(request.e2e)
        series.queue_time.observe(request.queue_time)
        if (ttft := request.ttft) is not None:
            series.ttft.observe(ttft)
        if gaps := request.inter_token_latencies():
            _observe_all(series.itl, gaps)
            series.tpot.observe(sum(gaps) / len(gaps))

    def record_request(
        self, protocol: str, *, error: bool = False, model_name: str | None = None
    ) -> None:
        """Count one request of ``protocol``; with ``error``, count it failed too.

        What a protocol adapter calls once per request: as it starts, or when
        it is refused (``error=True``). A request that fails later (a stream
        broken mid-way) is counted as started first, then ``record_error``.
        """
        name = self.label(model_name or self.model_name)
        self._child(self.requests, name, protocol).inc()
        if error:
            self._child(self.request_errors, name, protocol).inc()

    def record_error(self, protocol: str, *, model_name: str | None = None) -> None:
        """Count a request of ``protocol``, already counted, as failed."""
        name = self.label(model_name or self.model_name)
        self._child(self.request_errors, name, protocol).inc()

    def count_request(self, protocol: str) -> Callable[[], None]:
        """Count one request of ``protocol`` as it starts; return what counts it failed.

        What a protocol's route calls once per request: the returned function
        records the request as an error (a refusal, an injected fault, a stream
        broken mid-way).
        """
        self.record_request(protocol)
        return lambda: self.record_error(protocol)

    def _child(self, counter: Counter, name: str, protocol: str) -> Any:
        """Return ``counter``'s child for a model and protocol, looked up once."""
        key = (counter, name, protocol)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(name, protocol)
        return child

    def record_fault(self, kind: str, protocol: str) -> None:
        """Count a fault injected on purpose (the fault middleware calls this)."""
        self.injected_faults.labels(kind, protocol).inc()

    # --- Reading ---------------------------------------------------------------------

    def collecting_registry(self) -> CollectorRegistry:
        """Return the registry to read: every worker's values in multiprocess mode."""
        directory = os.environ.get(MULTIPROC_ENV)
        if not directory:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        return registry

    def render(self) -> bytes:
        """Return the metrics in Prometheus's text format."""
        return generate_latest(self.collecting_registry())

    def totals(self) -> dict[str, int]:
        """Return the run counts ``/stats`` reports, read from the metrics.

        ``started`` is every reply the engine took (finished, failed or still
        running or waiting); ``failed`` counts aborts; ``tokens`` counts
        generated tokens.
        """
        finished = failed = tokens = active = 0
        for family in self.collecting_registry().collect():
            for sample in family.samples:
                value = int(sample.value)
                if sample.name == "vllm:request_success_total":
                    if sample.labels["finished_reason"] == ABORT:
                        failed += value
                    else:
                        finished += value
                elif sample.name == "vllm:generation_tokens_total":
                    tokens += value
                elif sample.name in (
                    "vllm:num_requests_running",
                    "vllm:num_requests_waiting",
                ):
                    active += value
        return {
            "started": finished + failed + active,
            "finished": finished,
            "failed": failed,
            "tokens": tokens,
            "active": active,
        }


class _ModelSeries:
    """One model name's children of the per-reply series, looked up once.

    ``labels()`` costs a lock and a dict lookup per call; a reply records
    seven series, so their children are kept (for the one served model name).
    """

    __slots__ = (
        "e2e", "itl", "prompt_tokens", "queue_time", "success", "tpot", "ttft"
    )  # fmt: skip

    def __init__(self, metrics: ServingMetrics, name: str) -> None:
        self.e2e = metrics.e2e.labels(name)
        self.itl = metrics.itl.labels(name)
        self.tpot = metrics.tpot.labels(name)
        self.ttft = metrics.ttft.labels(name)
        self.queue_time = metrics.queue_time.labels(name)
        self.prompt_tokens = metrics.prompt_tokens.labels(name)
        #: ``vllm:request_success_total`` children, by finished reason.
        self.success: dict[str, Any] = {}


#: Held while a histogram's sum is read and written back (``_observe_all``).
_BULK_LOCK = threading.Lock()


def _observe_all(histogram: Any, values: list[float]) -> None:
    """Observe ``values`` in a histogram child, in order, in one go.

    The counts and the sum come out exactly as one ``observe`` per value:
    the sum gets each value added in turn, each value counts in the first
    bucket whose bound it does not exceed. A 1000-token stream has 999 gaps,
    and 999 ``observe`` calls cost about 1.7 ms. prometheus-client has no
    bulk observe, so this reaches its child's ``_sum``, ``_buckets`` and
    ``_upper_bounds`` (the tests hold it to one ``observe`` per value); a
    client without them gets the plain calls.
    """
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    bounds = getattr(histogram, "_upper_bounds", None)
    if buckets is None or total is None or not bounds:
        for value in values:
            histogram.observe(value)
        return
    counts = [0] * len(bounds)
    with _BULK_LOCK:  # a reply finished in a thread (a sync call) records too
        running = total.get()
        for value in values:
            running += value
            counts[bisect_left(bounds, value)] += 1
        total.set(running)
    for index, count in enumerate(counts):
        if count:
            buckets[index].inc(count)


def metrics_route(metrics: ServingMetrics) -> Callable[[Request], Awaitable[Response]]:
    """Return the ``GET /metrics`` endpoint: Prometheus's text format."""

    async def scrape(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return scrape


class ProtocolCounter(BaseCallbackHandler):
    """Counts model runs of one protocol (LangServe's) as requests and errors.

    Attached to the served model as a callback: each run that starts counts
    one request of ``protocol``, each that fails (or is cancelled) one error.
    Timings are not taken here: the engine measures them.
    """

    run_inline = True  # cheap, never blocks: no thread pool

    def __init__(self, metrics: ServingMetrics, protocol: str = "langserve") -> None:
        self.metrics = metrics
        self.protocol = protocol

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        """Count a run that starts."""
        self.metrics.record_request(self.protocol)

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Count a run that failed or was cancelled."""
        self.metrics.record_error(self.protocol)


@contextmanager
def multiprocess_directory(workers: int) -> Iterator[str | None]:
    """Set up ``PROMETHEUS_MULTIPROC_DIR`` for ``workers`` worker processes.

    With more than one worker and no directory set by the user, make a
    temporary one, point the variable at it for the workers to inherit, and
    remove both when the block ends. Call before anything imports
    prometheus-client in the worker processes (they start fresh, so before
    uvicorn starts them). Yields the directory in use, or ``None``.
    """
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield os.environ.get(MULTIPROC_ENV)
        return
    with tempfile.TemporaryDirectory(prefix="echo-model-metrics-") as directory:
        os.environ[MULTIPROC_ENV] = directory
        try:
            yield directory
        finally:
            os.environ.pop(MULTIPROC_ENV, None)
