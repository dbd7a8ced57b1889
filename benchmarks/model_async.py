"""In-process benchmark: EchoChatModel's native async against the guide's model.

Run: ``python -m benchmarks.model_async``. Both models run in the same process,
interleaved round by round, so the reported ratios hold on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.guide_model import GuideEchoModel
from echo_model import EchoChatModel

STREAM_TEXT = "x" * 1000


async def ainvoke_per_second(model: Any, seconds: float) -> float:
    calls = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        await model.ainvoke("hello")
        calls += 1
    return calls / elapsed


async def astream_chunks_per_second(model: Any, seconds: float) -> float:
    chunks = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        async for _chunk in model.astream(STREAM_TEXT):
            chunks += 1
    return chunks / elapsed


Measure = Callable[[Any, float], Awaitable[float]]


async def compare(measure: Measure, seconds: float, rounds: int) -> dict[str, float]:
    ours = EchoChatModel(n=len(STREAM_TEXT))
    guide = GuideEchoModel(parrot_buffer_length=len(STREAM_TEXT))
    await measure(ours, seconds)  # warm up both
    await measure(guide, seconds)
    ours_rates, guide_rates, ratios = [], [], []
    for _ in range(rounds):
        a = await measure(ours, seconds)
        b = await measure(guide, seconds)
        ours_rates.append(a)
        guide_rates.append(b)
        ratios.append(a / b)
    return {
        "echo_model": statistics.median(ours_rates),
        "guide": statistics.median(guide_rates),
        "ratio": statistics.median(ratios),
    }


async def run(rounds: int, seconds: float) -> dict[str, dict[str, float]]:
    return {
        "ainvoke (calls/s)": await compare(ainvoke_per_second, seconds, rounds),
        "astream 1000 chars (chunks/s)": await compare(
            astream_chunks_per_second, seconds, rounds
        ),
    }


TARGETS = {"ainvoke (calls/s)": 1.3, "astream 1000 chars (chunks/s)": 5.0}


def print_table(results: dict[str, dict[str, float]]) -> None:
    header = f"{'measure':<32}{'echo_model':>12}{'guide':>12}{'ratio':>8}{'target':>8}"
    print(header)
    print("-" * len(header))
    for name, row in results.items():
        print(
            f"{name:<32}{row['echo_model']:>12.0f}{row['guide']:>12.0f}"
            f"{row['ratio']:>7.2f}x{TARGETS[name]:>7.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--seconds", type=float, default=0.5, help="length of one measurement"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = asyncio.run(run(args.rounds, args.seconds))
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
