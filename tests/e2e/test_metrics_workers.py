"""/metrics over HTTP with two worker processes: one scrape sums them both."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live_server import run_server

STREAMS = 24
TMP = Path(tempfile.gettempdir())


def totals(text: str) -> dict[str, float]:
    """Each sample's value summed over its labels, by sample name."""
    summed: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            summed[sample.name] = summed.get(sample.name, 0.0) + sample.value
    return summed


async def stream_all(url: str, body: dict) -> list[int]:
    async with httpx.AsyncClient(timeout=30) as client:
        replies = await asyncio.gather(
            *(client.post(url, json=body) for _ in range(STREAMS))
        )
    return [reply.status_code for reply in replies]


def test_one_scrape_sums_both_workers(tmp_path: Path) -> None:
    body = {"input": "abcd", "config": {"configurable": {"token_delay": 0.05}}}
    before = set(TMP.glob("echo-model-metrics-*"))
    with run_server(tmp_path, ["--workers", "2"]) as server:
        [directory] = set(TMP.glob("echo-model-metrics-*")) - before
        # Many connections at once, each held open ~0.15 s: both workers
        # accept some of them.
        statuses = asyncio.run(stream_all(server.url + "/echo/stream", body))
        assert statuses == [200] * STREAMS
        scrapes = [
            totals(httpx.get(server.url + "/metrics").text)
            for _ in range(6)  # whichever worker answers, the same sums
        ]
        # Each worker keeps its counters in a file named by its pid.
        writers = {path.stem.rsplit("_", 1)[-1] for path in directory.glob("counter_*")}
    assert len(writers) == 2, writers
    for scraped in scrapes:
        assert scraped["echo:requests_total"] == STREAMS
        assert scraped["vllm:request_success_total"] == STREAMS
        assert scraped["vllm:generation_tokens_total"] == 4 * STREAMS
        assert scraped["vllm:time_to_first_token_seconds_count"] == STREAMS
        assert scraped["vllm:num_requests_running"] == 0
    assert not directory.exists()  # the CLI removed its directory on shutdown
