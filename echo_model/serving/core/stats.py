"""``/stats``: the run counts, a JSON view of the Prometheus metrics.

One source of truth: the numbers are read from the metrics that ``/metrics``
serves (``echo_model.serving.core.metrics``), so with several workers they are
summed over all of them, as a scrape is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from echo_model.serving.core.metrics import ServingMetrics


def stats_route(metrics: ServingMetrics) -> Callable[[], Awaitable[dict[str, int]]]:
    """Return the ``GET /stats`` endpoint.

    It reports ``started`` (replies the engine took), ``finished``,
    ``failed`` (failed or cancelled, such as a stream whose client left),
    ``tokens`` (generated, counted as they go out) and ``active`` (running or
    waiting for a place).
    """

    async def run_stats() -> dict[str, int]:
        """Count the model's replies (active ones too) and generated tokens."""
        return metrics.totals()

    return run_stats
