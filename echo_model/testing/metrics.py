"""Read a running echo server's metrics as numbers a test can compare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    """One value of a metric: its sample name, labels and value."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Metrics:
    """A reading of the server's metrics.

    Attributes:
        samples: Every sample read, e.g. ``echo:requests_total`` with
            ``{"protocol": "openai"}``, or from ``/stats``, ``finished``.
        source: The path they were read from: ``/metrics`` or ``/stats``.
    """

    samples: tuple[Sample, ...]
    source: str

    def value(self, name: str, **labels: str) -> float:
        """Sum the samples called ``name`` that carry all of ``labels``.

        ``value("echo:requests_total", protocol="openai")`` counts the OpenAI
        route's requests; without labels it sums over all of them. A name with
        no sample (nothing counted yet) is 0.

        Args:
            name: A sample name as the text format writes it (a counter's
                ``_total``, a histogram's ``_count``, ...).
            **labels: Label values the samples must have.
        """
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name
            and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def names(self) -> set[str]:
        """Return the names of every sample read."""
        return {sample.name for sample in self.samples}


def read_metrics(url: str, headers: Mapping[str, str]) -> Metrics:
    """Read ``url``'s ``/metrics`` (Prometheus text), or ``/stats`` (JSON) if absent.

    Raises:
        httpx.HTTPStatusError: The server refused both.
    """
    response = httpx.get(url + "/metrics", headers=dict(headers), timeout=10.0)
    if response.status_code != 404:
        response.raise_for_status()
        return parse_prometheus(response.text)
    response = httpx.get(url + "/stats", headers=dict(headers), timeout=10.0)
    response.raise_for_status()
    return Metrics(
        samples=tuple(
            Sample(name, {}, float(value))
            for name, value in response.json().items()
            if isinstance(value, int | float)
        ),
        source="/stats",
    )


def parse_prometheus(text: str) -> Metrics:
    """Parse Prometheus' text format with prometheus-client's own parser."""
    return Metrics(
        samples=tuple(
            Sample(sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ),
        source="/metrics",
    )
