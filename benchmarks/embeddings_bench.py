"""Embeddings: EchoEmbeddings in process, and ``/v1/embeddings`` over HTTP.

Run: ``python -m benchmarks.embeddings_bench``. In process, EchoEmbeddings
beside LangChain's ``DeterministicFakeEmbedding`` (texts per second, the two
interleaved round by round so the ratio holds on a noisy machine). Over HTTP,
one ``python server.py``: wrk on ``/v1/embeddings`` with a batch of 1 and of
64 short texts beside ``/v1/chat/completions`` ("hello"), requests per second
each; the target is a batch of 64 in under 2x the time of one completion.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding

from benchmarks.load import RateResult, wrk_invoke
from benchmarks.openai_bench import CHAT, OURS
from echo_model import EchoEmbeddings
from tests.support.processes import serve

#: Short texts, as a RAG app embeds chunks and queries (6 to 12 words each).
TEXTS = [
    f"document {i} about retrieval, vectors and the echo model number {i % 7}"
    for i in range(64)
]


def texts_per_second(embeddings: Any, seconds: float) -> float:
    """Embed ``TEXTS`` in batches for ``seconds``; return texts per second."""
    texts = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        embeddings.embed_documents(TEXTS)
        texts += len(TEXTS)
    return texts / elapsed


def in_process(seconds: float, rounds: int) -> dict[str, float]:
    """EchoEmbeddings and DeterministicFakeEmbedding, texts per second."""
    ours, fake = EchoEmbeddings(), DeterministicFakeEmbedding(size=512)
    texts_per_second(ours, seconds)  # warm up (the feature-hash cache)
    texts_per_second(fake, seconds)
    echo_rates, fake_rates = [], []
    for _ in range(rounds):
        echo_rates.append(texts_per_second(ours, seconds))
        fake_rates.append(texts_per_second(fake, seconds))
    echo, peer = statistics.median(echo_rates), statistics.median(fake_rates)
    return {"echo_texts_per_s": echo, "fake_texts_per_s": peer, "ratio": echo / peer}


def measure(url: str, body: dict[str, Any], seconds: float) -> RateResult:
    """wrk after a one-second warm-up: 2 threads, 8 connections."""
    wrk_invoke(url, body, 1, threads=2, connections=8)
    return wrk_invoke(url, body, seconds, threads=2, connections=8)


def over_http(seconds: float) -> dict[str, float]:
    """Requests per second of each body on one server, and the batch's cost."""
    with serve(OURS) as server:
        chat = measure(server.url + "/v1/chat/completions", CHAT, seconds)
        url = server.url + "/v1/embeddings"
        one = measure(url, {"model": "m", "input": TEXTS[0]}, seconds)
        batch = measure(url, {"model": "m", "input": TEXTS}, seconds)
    return {
        "chat_rps": chat.requests_per_second,
        "batch1_rps": one.requests_per_second,
        "batch64_rps": batch.requests_per_second,
        # Time per request, a batch of 64 against one completion.
        "batch64_x_chat": chat.requests_per_second / batch.requests_per_second,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run both parts; print a table; return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    figures = {**in_process(args.seconds / 3, args.rounds), **over_http(args.seconds)}
    print(f"{'figure':<20} {'value':>12}")
    for key, value in figures.items():
        print(f"{key:<20} {value:>12,.2f}")
    verdict = "met" if figures["batch64_x_chat"] < 2 else "NOT met"
    print(f"target: a batch of 64 under 2x one completion: {verdict}")
    return figures


if __name__ == "__main__":
    main()
