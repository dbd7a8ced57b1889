"""The step engine on a manual clock: pacing, steps, queueing, catch-up, growth."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echo_model.engine import (
    ABORT,
    REQUEST_ARRIVAL,
    Engine,
    FinishedRequest,
    ManualClock,
    Sequence,
    settle,
)
from echo_model.latency import LatencyModel


class Recorder:
    """An engine listener keeping everything it hears."""

    def __init__(self) -> None:
        self.states: list[tuple[int, int]] = []
        self.finished: list[FinishedRequest] = []
        self.tokens = 0

    def on_tokens(self, model_name: str, count: int) -> None:
        self.tokens += count

    def on_state(self, running: int, waiting: int) -> None:
        self.states.append((running, waiting))

    def on_finish(self, request: FinishedRequest) -> None:
        self.finished.append(request)


def make_engine(**options: object) -> tuple[Engine, ManualClock, Recorder]:
    clock = ManualClock(start=100.0)
    engine = Engine(clock=clock, step_window=0.0, **options)  # type: ignore[arg-type]
    recorder = Recorder()
    engine.listeners.append(recorder)
    return engine, clock, recorder


async def stream(
    engine: Engine, model: LatencyModel, tokens: int, key: str = ""
) -> Sequence:
    async with engine.run(model.schedule(key=key), model_name="echo") as sequence:
        for _ in range(tokens):
            await sequence.next_token()
        sequence.finished_reason = "length"
    return sequence


async def test_tokens_come_exactly_on_their_deadlines() -> None:
    engine, clock, recorder = make_engine()
    model = LatencyModel.from_delays(0.5, 0.02)
    task = asyncio.create_task(stream(engine, model, 5))
    await clock.advance(10)
    sequence = await task
    assert sequence.token_times == pytest.approx(
        [100.5, 100.52, 100.54, 100.56, 100.58], abs=1e-9
    )
    [finished] = recorder.finished
    assert finished.ttft == pytest.approx(0.5)
    assert finished.inter_token_latencies() == pytest.approx([0.02] * 4)
    assert finished.finished_reason == "length"
    assert finished.generation_tokens == 5
    assert finished.queue_time == 0
    assert recorder.tokens == 5


async def test_streams_started_together_share_one_timer_per_step() -> None:
    engine, clock, _ = make_engine()
    model = LatencyModel.from_delays(0.1, 0.02)
    tasks = [asyncio.create_task(stream(engine, model, 10)) for _ in range(64)]
    await clock.advance(10)
    sequences = await asyncio.gather(*tasks)
    assert engine.steps == 10  # one wake-up per token step, not 640
    assert all(s.token_times == sequences[0].token_times for s in sequences)


async def test_a_step_releases_tokens_due_within_its_window() -> None:
    clock = ManualClock()
    engine = Engine(clock=clock, step_window=0.001)
    model = LatencyModel.from_delays(0.1, 0.02)
    tasks = []
    for _ in range(4):  # started 0.2 ms apart
        tasks.append(asyncio.create_task(stream(engine, model, 3)))
        await clock.advance(0.0002)
    await clock.advance(1)
    await asyncio.gather(*tasks)
    assert engine.steps == 3


async def test_a_stream_that_stalls_catches_up_instead_of_drifting() -> None:
    engine, clock, _ = make_engine()
    model = LatencyModel.from_delays(0.1, 0.02)
    resume = asyncio.Event()

    async def stalling_reader() -> Sequence:
        async with engine.run(model.schedule()) as sequence:
            for index in range(10):
                if index == 3:
                    await resume.wait()  # the reader stops reading for a while
                await sequence.next_token()
        return sequence

    task = asyncio.create_task(stalling_reader())
    await clock.advance_to(100.5)  # tokens 3..20 would have been due by 100.5
    resume.set()
    await clock.advance(1)
    sequence = await task
    times = sequence.token_times
    assert times[:3] == pytest.approx([100.1, 100.12, 100.14])
    # Tokens 3..9 were due by 100.28: all overdue at 100.5, they go at once.
    assert times[3:] == pytest.approx([100.5] * 7)
    assert engine.steps == 3


async def test_after_a_stall_the_stream_is_back_on_its_schedule() -> None:
    engine, clock, _ = make_engine()
    model = LatencyModel.from_delays(0.1, 0.02)
    resume = asyncio.Event()

    async def reader() -> Sequence:
        async with engine.run(model.schedule()) as sequence:
            for index in range(20):
                if index == 2:
                    await resume.wait()
                await sequence.next_token()
        return sequence

    task = asyncio.create_task(reader())
    await clock.advance_to(100.2)  # tokens 2..5 (due 100.14..100.2) overdue
    resume.set()
    await clock.advance(1)
    times = (await task).token_times
    assert times[2:6] == pytest.approx([100.2] * 4)
    # From token 6 on, exactly on the original deadlines: no drift.
    assert times[6:] == pytest.approx([100.1 + 0.02 * i for i in range(6, 20)])


async def test_beyond_max_num_seqs_requests_wait_and_their_ttft_includes_it() -> None:
    engine, clock, recorder = make_engine(max_num_seqs=2)
    model = LatencyModel.from_delays(0.1, 0.02)  # 5 tokens: 0.18 s per reply
    tasks = [asyncio.create_task(stream(engine, model, 5)) for _ in range(4)]
    await settle()
    assert (engine.running, engine.waiting) == (2, 2)
    assert recorder.states[-1] == (2, 2)
    await clock.advance(10)
    await asyncio.gather(*tasks)
    first, second, third, fourth = sorted(recorder.finished, key=lambda r: r.admitted)
    assert first.ttft == second.ttft == pytest.approx(0.1)
    assert first.queue_time == second.queue_time == 0
    # The second pair starts when the first finishes, 0.18 s in.
    assert third.queue_time == fourth.queue_time == pytest.approx(0.18)
    assert third.ttft == pytest.approx(0.18 + 0.1)
    assert third.e2e == pytest.approx(2 * 0.18)
    assert (engine.running, engine.waiting) == (0, 0)
    assert recorder.states[-1] == (0, 0)


async def test_a_request_cancelled_while_waiting_leaves_the_queue() -> None:
    engine, clock, recorder = make_engine(max_num_seqs=1)
    model = LatencyModel.from_delays(0.1, 0.02)
    running = asyncio.create_task(stream(engine, model, 3))
    queued = asyncio.create_task(stream(engine, model, 3))
    behind = asyncio.create_task(stream(engine, model, 3))
    await settle()
    assert engine.waiting == 2
    queued.cancel()
    await settle()
    assert engine.waiting == 1
    await clock.advance(10)
    await running
    await behind
    assert len(recorder.finished) == 2  # the cancelled one never ran
    assert (engine.running, engine.waiting) == (0, 0)


async def test_a_failing_or_cancelled_reply_finishes_as_abort_and_frees_its_place() -> (
    None
):
    engine, clock, recorder = make_engine(max_num_seqs=1)
    model = LatencyModel.from_delays(0.1, 0.02)

    async def failing() -> None:
        async with engine.run(model.schedule()) as sequence:
            await sequence.next_token()
            raise RuntimeError("injected")

    task = asyncio.create_task(failing())
    cancelled = asyncio.create_task(stream(engine, model, 10))
    await clock.advance(0.1)
    with pytest.raises(RuntimeError):
        await task
    await clock.advance(0.15)  # the second is admitted and mid-stream
    cancelled.cancel()
    await settle()
    assert [r.finished_reason for r in recorder.finished] == [ABORT, ABORT]
    assert [r.generation_tokens for r in recorder.finished] == [1, 3]
    assert engine.running == 0


async def test_step_growth_stretches_gaps_by_the_batch() -> None:
    engine, clock, recorder = make_engine(step_growth=0.5)
    model = LatencyModel.from_delays(0.1, 0.02)
    tasks = [asyncio.create_task(stream(engine, model, 3)) for _ in range(3)]
    await clock.advance(10)
    await asyncio.gather(*tasks)
    # Three running: every gap is 0.02 * (1 + 0.5 * 2) = 0.04; the TTFT is not.
    for request in recorder.finished:
        assert request.ttft == pytest.approx(0.1)
        assert request.inter_token_latencies() == pytest.approx([0.04, 0.04])


async def test_without_growth_a_full_batch_keeps_exact_pacing() -> None:
    engine, clock, recorder = make_engine()
    model = LatencyModel.from_delays(0.1, 0.02)
    tasks = [asyncio.create_task(stream(engine, model, 3)) for _ in range(50)]
    await clock.advance(10)
    await asyncio.gather(*tasks)
    assert all(
        r.inter_token_latencies() == pytest.approx([0.02, 0.02])
        for r in recorder.finished
    )


async def test_a_reply_sent_whole_waits_once_for_its_last_token() -> None:
    engine, clock, recorder = make_engine()
    model = LatencyModel.from_delays(0.1, 0.02)

    async def whole() -> None:
        async with engine.run(model.schedule(), prompt_tokens=4) as sequence:
            await sequence.wait_done(5)

    task = asyncio.create_task(whole())
    await clock.advance(0.17)
    assert not task.done()
    await clock.advance(0.01)
    await task
    assert engine.steps == 1
    [finished] = recorder.finished
    assert finished.e2e == pytest.approx(0.18)
    assert finished.ttft == pytest.approx(0.1)
    assert finished.prompt_tokens == 4
    assert recorder.tokens == 5
    assert finished.inter_token_latencies() == pytest.approx([0.02] * 4)


def test_synchronous_callers_follow_the_same_schedule() -> None:
    engine, clock, recorder = make_engine()
    model = LatencyModel.from_delays(0.1, 0.02)
    with engine.run_sync(model.schedule()) as sequence:
        assert engine.running == 1
        for _ in range(3):
            sequence.sleep_until_next()
    assert sequence.token_times == pytest.approx([100.1, 100.12, 100.14])
    assert clock.now == pytest.approx(100.14)
    assert engine.running == 0
    assert recorder.finished[0].generation_tokens == 3


async def test_seeded_spreads_give_the_same_timings_through_the_engine() -> None:
    model = LatencyModel.from_delays(
        0.1, 0.02, ttft_spread=0.03, itl_spread=0.005, seed=3
    )

    async def timings() -> list[float]:
        engine, clock, recorder = make_engine()
        task = asyncio.create_task(stream(engine, model, 8, key="hello"))
        await clock.advance(10)
        await task
        [finished] = recorder.finished
        return [finished.ttft or 0.0, *finished.inter_token_latencies()]

    first, second = await timings(), await timings()
    assert first == second
    assert len(set(first[1:])) > 1  # the gaps do vary


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_num_seqs"):
        Engine(max_num_seqs=0)
    with pytest.raises(ValueError, match="step_growth"):
        Engine(step_growth=-1)


async def test_a_reply_is_paced_from_its_arrival_at_the_server() -> None:
    """The server's handling before the model starts is part of the asked TTFT."""
    engine, clock, recorder = make_engine()
    model = LatencyModel.from_delays(0.5, 0.02)
    token = REQUEST_ARRIVAL.set(100.0)  # the server stamped it at 100.0
    try:
        await clock.advance(0.3)  # reading and routing the request
        task = asyncio.create_task(stream(engine, model, 3))
    finally:
        REQUEST_ARRIVAL.reset(token)
    await clock.advance(10)
    sequence = await task
    assert sequence.token_times == pytest.approx([100.5, 100.52, 100.54], abs=1e-9)
    [finished] = recorder.finished
    assert finished.ttft == pytest.approx(0.5)
    assert finished.queue_time == 0


async def test_a_late_first_token_shifts_the_rest_of_the_reply() -> None:
    # Decoding follows the first token, as a real engine's does after
    # prefill: the lateness shows in the TTFT, every gap stays the one asked.
    engine, clock, recorder = make_engine()
    model = LatencyModel.from_delays(0.1, 0.1)
    token = REQUEST_ARRIVAL.set(100.0)
    try:
        await clock.advance(0.25)  # the first two tokens are due by now
        task = asyncio.create_task(stream(engine, model, 3))
        whole = asyncio.create_task(sent_whole(engine, model, 3))
    finally:
        REQUEST_ARRIVAL.reset(token)
    await clock.advance(10)
    sequence = await task
    assert sequence.token_times == pytest.approx([100.25, 100.35, 100.45], abs=1e-9)
    # A reply sent whole counts no token before the model started, and its
    # later tokens follow its first alike.
    assert (await whole).token_times == pytest.approx([100.25, 100.35, 100.45])
    assert [f.ttft for f in recorder.finished] == pytest.approx([0.25, 0.25])
    gaps = [f.inter_token_latencies() for f in recorder.finished]
    assert gaps == [pytest.approx([0.1, 0.1])] * 2


async def test_decoding_follows_when_the_first_token_went_out() -> None:
    # The reader takes the first token on time but sends it 30 ms later (a
    # busy event loop): the second is due an ITL after it went out, not at
    # once, and the TTFT shows the hold-up.
    engine, clock, recorder = make_engine()
    model = LatencyModel.from_delays(0.05, 0.01)
    token = REQUEST_ARRIVAL.set(100.0)
    try:

        async def held_up_reader() -> Sequence:
            async with engine.run(model.schedule(), model_name="echo") as sequence:
                await sequence.next_token()
                await clock.advance(0.03)  # sending the first token
                for _ in range(2):
                    await sequence.next_token()
            return sequence

        task = asyncio.create_task(held_up_reader())
    finally:
        REQUEST_ARRIVAL.reset(token)
    await clock.advance(0.05)
    await clock.advance(1)
    sequence = await task
    assert sequence.token_times == pytest.approx([100.08, 100.09, 100.10], abs=1e-9)
    [finished] = recorder.finished
    assert finished.ttft == pytest.approx(0.08)
    assert finished.inter_token_latencies() == pytest.approx([0.01, 0.01])


async def sent_whole(engine: Engine, model: LatencyModel, tokens: int) -> Sequence:
    async with engine.run(model.schedule(), model_name="echo") as sequence:
        await sequence.wait_done(tokens)
    return sequence


@settings(max_examples=30, deadline=None)
@given(
    ttft=st.floats(0.0, 0.2),
    itl=st.floats(0.001, 0.05),
    starts=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=4),
    tokens=st.integers(2, 8),
)
async def test_streams_started_late_keep_the_asked_gaps_after_their_first_token(
    ttft: float, itl: float, starts: list[float], tokens: int
) -> None:
    # Each stream's model starts some time after its request arrived (a busy
    # server: parsing, routing, other streams), often after its first token
    # was due. What a load tool measures as the inter-token latency (and the
    # time to second token) stays the one asked; the lateness is in the TTFT.
    engine, clock, recorder = make_engine()
    model = LatencyModel.from_delays(ttft, itl)
    tasks = []
    for late in starts:
        token = REQUEST_ARRIVAL.set(clock.time() - late)
        try:
            tasks.append(asyncio.create_task(stream(engine, model, tokens)))
        finally:
            REQUEST_ARRIVAL.reset(token)
    await clock.advance(1000)
    await asyncio.gather(*tasks)
    for finished in recorder.finished:
        assert finished.inter_token_latencies() == pytest.approx(
            [itl] * (tokens - 1), abs=1e-9
        )
    ttfts = sorted(f.ttft for f in recorder.finished)
    assert ttfts == pytest.approx(sorted(max(ttft, late) for late in starts), abs=1e-9)
