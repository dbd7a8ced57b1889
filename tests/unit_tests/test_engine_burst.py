"""Tokens already due go out without suspending, ``max_burst`` at most in a row."""

from __future__ import annotations

import asyncio

import pytest

from echo_model.engine import MAX_BURST, Engine, ManualClock
from echo_model.latency import LatencyModel


async def loop_passes_while(work: asyncio.Task[object]) -> int:
    """Count the event loop passes another task gets while ``work`` runs."""
    passes = 0
    while not work.done():
        passes += 1
        await asyncio.sleep(0)
    return passes


async def hand_out(engine: Engine, model: LatencyModel, tokens: int) -> list[float]:
    async with engine.run(model.schedule()) as sequence:
        for _ in range(tokens):
            await sequence.next_token()
    return sequence.token_times


@pytest.mark.parametrize("burst", [1, 7, MAX_BURST])
async def test_an_unpaced_reply_suspends_once_per_burst(burst: int) -> None:
    engine = Engine(clock=ManualClock(), max_burst=burst)
    work = asyncio.create_task(hand_out(engine, LatencyModel(), 100))
    passes = await loop_passes_while(work)
    # The other task runs once before the first burst and once after each.
    assert passes == -(-100 // burst)
    assert len(await work) == 100


async def test_the_default_burst_keeps_two_streams_taking_turns() -> None:
    engine = Engine(clock=ManualClock())
    order: list[str] = []

    async def stream(name: str) -> None:
        async with engine.run(LatencyModel().schedule()) as sequence:
            for _ in range(4 * MAX_BURST):
                await sequence.next_token()
                order.append(name)

    await asyncio.gather(stream("a"), stream("b"))
    runs = [order[i : i + MAX_BURST] for i in range(0, len(order), MAX_BURST)]
    assert [set(run) for run in runs] == [{"a"}, {"b"}] * 4


async def test_overdue_tokens_catch_up_in_bursts_at_their_time() -> None:
    clock = ManualClock()
    engine = Engine(clock=clock, step_window=0.0, max_burst=4)
    model = LatencyModel.from_delays(0.0, 0.01)
    resume = asyncio.Event()

    async def behind() -> list[float]:
        async with engine.run(model.schedule()) as sequence:
            await sequence.next_token()  # on time, at 0
            await sequence.next_token()  # on time, at 0.01
            # Then the reader is slow: 10 tokens fall due. (A hold-up before
            # the second token would move decoding instead: it is the first
            # token going out late, see test_engine.py.)
            await resume.wait()
            for _ in range(10):
                await sequence.next_token()
        return sequence.token_times[2:]

    task = asyncio.create_task(behind())
    await clock.advance(0.01)
    clock.now = 1.0
    resume.set()
    passes = await loop_passes_while(task)
    assert await task == [1.0] * 10  # all overdue: all out now, pacing unchanged
    assert passes == -(-10 // 4)


def test_max_burst_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_burst"):
        Engine(max_burst=0)
