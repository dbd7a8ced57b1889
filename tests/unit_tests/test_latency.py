"""The latency model: deadline schedules, seeded truncated-normal draws."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from echo_model.latency import LatencyModel, TruncatedNormal


def test_zero_spread_is_the_delays_exactly() -> None:
    model = LatencyModel.from_delays(0.25, 0.02)
    schedule = model.schedule(prompt_tokens=7, key="anything")
    assert [schedule.offset(i) for i in range(4)] == pytest.approx(
        [0.25, 0.27, 0.29, 0.31], abs=1e-12
    )
    assert schedule.interval(0) == 0.25
    assert schedule.interval(3) == pytest.approx(0.02)
    assert schedule.duration(4) == schedule.offset(3)


def test_prefill_costs_per_input_token_before_the_first_token() -> None:
    model = LatencyModel.from_delays(0.1, 0.01, prefill_per_token=0.001)
    schedule = model.schedule(prompt_tokens=50)
    assert schedule.prefill == pytest.approx(0.05)
    assert schedule.offset(0) == pytest.approx(0.15)
    assert schedule.offset(1) == pytest.approx(0.16)


def test_offsets_are_fixed_once_drawn() -> None:
    schedule = LatencyModel.from_delays(0.1, 0.01, itl_spread=0.005).schedule()
    later = schedule.offset(9)
    assert [schedule.offset(9) for _ in range(3)] == [later] * 3
    # Deadlines are cumulative: each offset is the previous one plus a gap.
    gaps = [schedule.interval(i) for i in range(10)]
    assert sum(gaps) == pytest.approx(later)


def _offsets(model: LatencyModel, key: str, count: int = 20) -> list[float]:
    schedule = model.schedule(prompt_tokens=3, key=key)
    return [schedule.offset(i) for i in range(count)]


def test_same_seed_and_input_give_the_same_timings() -> None:
    seeded = LatencyModel.from_delays(
        0.2, 0.02, ttft_spread=0.05, itl_spread=0.01, seed=42
    )
    assert _offsets(seeded, "hello") == _offsets(seeded, "hello")
    assert _offsets(seeded, "hello") != _offsets(seeded, "other input")
    reseeded = LatencyModel.from_delays(
        0.2, 0.02, ttft_spread=0.05, itl_spread=0.01, seed=43
    )
    assert _offsets(seeded, "hello") != _offsets(reseeded, "hello")


def test_without_a_seed_each_reply_draws_afresh() -> None:
    model = LatencyModel.from_delays(0.2, 0.02, ttft_spread=0.05, itl_spread=0.01)
    assert _offsets(model, "hello") != _offsets(model, "hello")


@pytest.mark.parametrize(
    ("mean", "spread"),
    [(0.02, 0.002), (0.02, 0.01), (0.5, 0.1), (0.05, 0.5)],
)
def test_draws_keep_the_mean_and_the_truncated_spread(
    mean: float, spread: float
) -> None:
    distribution = TruncatedNormal(mean, spread)
    rng = random.Random(7)  # noqa: S311
    draws = [distribution.draw(rng) for _ in range(40_000)]
    assert statistics.fmean(draws) == pytest.approx(mean, rel=0.02)
    expected_std = distribution.truncated_std()
    assert 0 < expected_std <= spread
    assert statistics.pstdev(draws) == pytest.approx(expected_std, rel=0.03)


def test_truncation_is_symmetric_and_never_negative() -> None:
    narrow = TruncatedNormal(0.1, 0.01)
    assert narrow.bounds == pytest.approx((0.07, 0.13))
    wide = TruncatedNormal(0.1, 1.0)  # a plain normal would go negative half the time
    assert wide.bounds == (0.0, 0.2)
    rng = random.Random(1)  # noqa: S311
    draws = [wide.draw(rng) for _ in range(5_000)]
    assert min(draws) >= 0.0
    assert max(draws) <= 0.2
    assert min(draws) < 0.01  # the whole kept range is used
    assert max(draws) > 0.19


@given(
    mean=st.floats(0, 10),
    spread=st.floats(0, 10),
    seed=st.integers(0, 2**32),
)
def test_every_draw_lies_within_the_bounds(
    mean: float, spread: float, seed: int
) -> None:
    distribution = TruncatedNormal(mean, spread)
    low, high = distribution.bounds
    rng = random.Random(seed)  # noqa: S311
    for _ in range(20):
        assert low <= distribution.draw(rng) <= high
    assert low >= 0.0


def test_negative_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        TruncatedNormal(-0.1)
    with pytest.raises(ValueError, match=">= 0"):
        TruncatedNormal(0.1, -1.0)


def test_an_instant_model_has_no_delay() -> None:
    assert LatencyModel().is_instant
    assert not LatencyModel.from_delays(token_delay=0.01).is_instant
    assert not LatencyModel.from_delays(prefill_per_token=0.001).is_instant
