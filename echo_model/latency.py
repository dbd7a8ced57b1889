"""The latency model: when each token of a reply is due.

A reply's timing has three parts, as a real LLM server's has:

- **prefill**: ``prefill_per_token`` seconds for each input token;
- **time to first token** (TTFT): drawn once per reply;
- **inter-token latency** (ITL): drawn once per gap between two tokens.

So token ``i`` (from 0) is due ``prefill + ttft + itl_1 + ... + itl_i`` seconds
after the reply starts. That is a *deadline* schedule: each due time is an
absolute time fixed in advance, so a stream that falls behind (a slow reader,
a busy event loop) sends what is due at once and is back on time, instead of
drifting by its lateness on every later token.

TTFT and ITL are each a ``TruncatedNormal``: a normal distribution with the
given mean and spread (standard deviation), cut symmetrically to ``mean +/-
min(mean, 3 * spread)``. The cut is symmetric, so the mean stays exactly the
mean asked; it never goes below zero; and a zero spread is the constant mean
(which is what ``first_token_delay`` and ``token_delay`` alone give).

Draws come from a ``random.Random`` seeded by ``seed`` and a key the caller
gives (the conversation), so the same seed and the same input give the same
timings, run after run; without a seed each reply draws afresh.

This module is pure: no clock, no event loop, no serving imports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from statistics import NormalDist

#: The standard normal distribution, for its CDF and inverse CDF.
_STANDARD = NormalDist()

#: How many spreads either side of the mean a draw may land, at most.
TRUNCATE_AT_SPREADS = 3.0


@dataclass(frozen=True)
class TruncatedNormal:
    """A normal distribution cut to ``mean +/- min(mean, 3 * spread)``.

    Attributes:
        mean: The mean, in seconds; also the mean of every draw, since the cut
            is symmetric.
        spread: The standard deviation of the normal before the cut, in
            seconds; 0 makes every draw the mean. After the cut the standard
            deviation is a little smaller (``truncated_std`` gives it).
    """

    mean: float
    spread: float = 0.0
    _cdf_low: float = field(init=False, repr=False, compare=False)
    _cdf_width: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mean < 0 or self.spread < 0:
            msg = f"mean and spread must be >= 0, got {self.mean}, {self.spread}"
            raise ValueError(msg)
        low = _STANDARD.cdf(-self.half_width / self.spread) if self.spread else 0.5
        object.__setattr__(self, "_cdf_low", low)
        object.__setattr__(self, "_cdf_width", 1.0 - 2.0 * low)

    @property
    def half_width(self) -> float:
        """How far from the mean a draw may land: ``min(mean, 3 * spread)``."""
        return min(self.mean, TRUNCATE_AT_SPREADS * self.spread)

    @property
    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value a draw can take."""
        return self.mean - self.half_width, self.mean + self.half_width

    def truncated_std(self) -> float:
        """The standard deviation of the draws (of the normal after the cut)."""
        if not self.spread or not self.half_width:
            return 0.0
        a = self.half_width / self.spread
        inside = 1.0 - 2.0 * _STANDARD.cdf(-a)
        variance = 1.0 - 2.0 * a * _STANDARD.pdf(a) / inside
        return self.spread * variance**0.5

    def draw(self, rng: random.Random) -> float:
        """Draw one value by inverting the CDF over the kept range (no retries)."""
        if not self.spread or not self.half_width:
            return self.mean
        # The cut is at most 3 spreads out, so the kept probabilities lie in
        # [0.00135, 0.99865]: inv_cdf never meets 0 or 1.
        p = self._cdf_low + rng.random() * self._cdf_width
        value = self.mean + self.spread * _STANDARD.inv_cdf(p)
        low, high = self.bounds
        return min(max(value, low), high)  # against rounding at the edges


@dataclass(frozen=True)
class LatencyModel:
    """How long a simulated reply takes: prefill, TTFT and ITL, all seeded.

    Attributes:
        ttft: Time to first token, after the prefill.
        itl: Time between two consecutive tokens.
        prefill_per_token: Seconds added before the first token per input token.
        seed: Seed for the draws; ``None`` draws afresh for every reply.
    """

    ttft: TruncatedNormal = TruncatedNormal(0.0)
    itl: TruncatedNormal = TruncatedNormal(0.0)
    prefill_per_token: float = 0.0
    seed: int | None = None

    @classmethod
    def from_delays(
        cls,
        first_token_delay: float = 0.0,
        token_delay: float = 0.0,
        *,
        ttft_spread: float = 0.0,
        itl_spread: float = 0.0,
        prefill_per_token: float = 0.0,
        seed: int | None = None,
    ) -> LatencyModel:
        """Build the model from the chat model's delay fields (means) and spreads."""
        return cls(
            ttft=TruncatedNormal(first_token_delay, ttft_spread),
            itl=TruncatedNormal(token_delay, itl_spread),
            prefill_per_token=prefill_per_token,
            seed=seed,
        )

    @property
    def is_instant(self) -> bool:
        """Whether every token is due at once (no delay of any kind)."""
        return not (self.ttft.mean or self.itl.mean or self.prefill_per_token)

    def schedule(self, prompt_tokens: int = 0, key: str = "") -> Schedule:
        """Return the schedule of one reply.

        Args:
            prompt_tokens: Input tokens, each costing ``prefill_per_token``.
            key: What, with the seed, fixes the draws (e.g. the conversation).
        """
        rng = None
        if self.ttft.spread or self.itl.spread:
            # Seeded by the input too: the same request gets the same timings.
            seed = None if self.seed is None else f"{self.seed}:{key}"
            rng = random.Random(seed)  # noqa: S311 - simulated latency, not security
        return Schedule(self, prompt_tokens, rng)


class Schedule:
    """When each token of one reply is due, in seconds from the reply's start.

    Offsets are drawn lazily, one gap at a time, and kept: ``offset(i)`` is
    the same every time it is asked, and costs one draw the first time.
    """

    __slots__ = ("_model", "_offsets", "_rng", "is_instant", "prefill")

    def __init__(
        self, model: LatencyModel, prompt_tokens: int, rng: random.Random | None
    ) -> None:
        self._model = model
        self._rng = rng
        #: Seconds of prefill before the TTFT starts.
        self.prefill = model.prefill_per_token * prompt_tokens
        #: Whether every offset is 0: every token is due at the start.
        self.is_instant = model.is_instant
        self._offsets: list[float] = []

    def offset(self, index: int) -> float:
        """Seconds from the reply's start until token ``index`` is due."""
        offsets = self._offsets
        while len(offsets) <= index:
            if offsets:
                offsets.append(offsets[-1] + self._draw(self._model.itl))
            else:
                offsets.append(self.prefill + self._draw(self._model.ttft))
        return offsets[index]

    def interval(self, index: int) -> float:
        """Seconds between token ``index - 1`` and token ``index``.

        For ``index == 0``: the prefill and the TTFT.
        """
        if index == 0:
            return self.offset(0)
        return self.offset(index) - self.offset(index - 1)

    def duration(self, tokens: int) -> float:
        """Seconds from the start until the last of ``tokens`` tokens is due."""
        return self.offset(tokens - 1) if tokens > 0 else self.offset(0)

    def _draw(self, distribution: TruncatedNormal) -> float:
        if self._rng is None:
            return distribution.mean
        return distribution.draw(self._rng)
