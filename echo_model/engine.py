"""A simulated inference engine: sequences advance together, in steps.

A real LLM server (vLLM, SGLang) runs *steps*: each decode step emits one token
for every running sequence; at most ``max_num_seqs`` sequences run at once and
the rest wait in a queue; a bigger batch makes a slower step. This engine
does the same for the echo model, on one asyncio timer per step:

- Each reply is a ``Sequence`` paced by a deadline ``Schedule``
  (``echo_model.latency``): token ``i`` is due at ``admitted + offset(i)``,
  where a reply that never waited for a place is admitted when it arrived.
- A sequence asking for its next token waits on a future; the engine keeps one
  heap of due times and one timer, set for the earliest. When it fires (a
  *step*), every waiting sequence whose token is due within ``step_window``
  is released at once. Streams started close together share every step, so
  the event loop wakes once per step, not once per token per stream.
- A sequence that is behind (its reader was slow) is not queued at all: its
  overdue tokens go out at once and it is back on schedule.
- A token already due (overdue, due within the step window, or of a reply
  with no delay) is handed out without suspending, up to ``max_burst`` in a
  row; then the sequence lets the event loop run once. So the tokens a step
  makes ready reach the stream loop (``serving.core.stream``) together, which
  writes them in one send, and a stream that is behind, or a long reply with
  no delay, still never holds the loop for more than ``max_burst`` tokens.
- With ``max_num_seqs`` set, a sequence beyond the limit waits (FIFO) until a
  running one finishes; its schedule, and so its first token, starts when it
  is admitted, so its TTFT includes the wait. Unset, nothing waits.
- With ``step_growth`` set, each inter-token gap is stretched by the batch:
  ``gap * (1 + step_growth * (running - 1))``, ``running`` counted when the
  gap starts. Off (0) by default, which keeps pacing exact.

The clock is injectable (``Clock``): ``LoopClock`` runs on the event loop,
``ManualClock`` lets tests move time by hand, so no test waits on a wall clock.
Listeners (``EngineListener``) hear the running/waiting counts change and get
one ``FinishedRequest`` per reply, with its measured timings: that is what
metrics record, once per request.

Synchronous callers (``Engine.run_sync``) follow the same schedule with
``Clock.sleep`` and are counted as running, but never wait in the queue.

A request's clock starts when it reaches the server, not the engine: a server
stamps the arrival in ``REQUEST_ARRIVAL`` (read with the engine's clock) as the
request starts. The engine measures TTFT, e2e and queue time from it, as a
client does, and a reply that did not wait is paced from it: the time the
server took to read and route the request is part of the TTFT asked for, not
added to it (a token already due then goes out at once). Without a stamp, a
reply arrives when it reaches the engine.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from echo_model.latency import Schedule

#: What ``finished_reason`` a reply gets when it fails or is cancelled (vLLM's).
ABORT = "abort"

#: How many tokens already due a sequence hands out in a row before it lets
#: the event loop run once (``Engine.max_burst``'s default). Handing out a due
#: token without suspending is what lets the stream loop write every token
#: ready at once in one send; this bound is what keeps that fair: a burst of
#: 32 is a few tenths of a millisecond of the echo stream's hot path here (a
#: 2-core VM), so a 100k-character reply with no delay never holds the loop
#: longer than that, and two streams of 50 characters still take turns.
#: Measured A/B over HTTP (one 1000-character unpaced stream), 8 gains least,
#: 64 most; the cost is a herd of streams started together: each loop pass
#: runs a burst of every stream, so their first chunks come later.
MAX_BURST = 32

#: When the current request reached the server (the engine clock's time), set
#: by the server as the request starts; ``None`` outside a request.
REQUEST_ARRIVAL: ContextVar[float | None] = ContextVar(
    "echo_model_request_arrival", default=None
)


class Timer(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Stop the callback from running."""


class Clock(Protocol):
    """Where the engine reads the time and sets its timer."""

    def time(self) -> float:
        """Return the current time in seconds (monotonic)."""

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` on the event loop at time ``when``."""

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds`` (synchronous callers)."""


class LoopClock:
    """The real clock: ``time.monotonic`` and the running event loop's timers.

    ``time.monotonic`` rather than ``loop.time()``: synchronous callers, in
    threads with no loop, read the same clock (asyncio's loop reads it too).
    """

    def time(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback`` on the running loop ``when - now`` from now."""
        delay = max(0.0, when - time.monotonic())
        return asyncio.get_running_loop().call_later(delay, callback)

    def sleep(self, seconds: float) -> None:
        """Sleep the thread."""
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told: for deterministic tests.

    ``advance`` runs the timers that fall due, in order, at their own times,
    and lets the event loop run the tasks they wake after each one.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, _ManualTimer]] = []
        self._ids = itertools.count()

    def time(self) -> float:
        """Return the clock's time."""
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Keep ``callback`` to run when ``advance`` passes ``when``."""
        timer = _ManualTimer(callback)
        heapq.heappush(self._timers, (when, next(self._ids), timer))
        return timer

    def sleep(self, seconds: float) -> None:
        """Move the time forward (a synchronous caller 'sleeping')."""
        self.now += max(0.0, seconds)

    async def advance(self, seconds: float) -> None:
        """Move forward ``seconds``, firing timers and running woken tasks."""
        await self.advance_to(self.now + seconds)

    async def advance_to(self, when: float) -> None:
        """Move forward to ``when``, firing timers and running woken tasks."""
        await settle()
        while self._timers and self._timers[0][0] <= when:
            due, _, timer = heapq.heappop(self._timers)
            self.now = max(self.now, due)
            if not timer.cancelled:
                timer.callback()
            await settle()
        self.now = max(self.now, when)
        await settle()


class _ManualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


async def settle(rounds: int = 20) -> None:
    """Let the event loop run ready tasks for a few rounds (no time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class FinishedRequest:
    """One reply's timings, as the engine measured them.

    Attributes:
        model_name: The model name the reply reported.
        finished_reason: ``stop``, ``length``, ``tool_calls``, or ``abort``
            for a reply that failed or was cancelled.
        prompt_tokens: Input tokens.
        arrival: When the request reached the server (``REQUEST_ARRIVAL``),
            or the engine if no server stamped it.
        admitted: When it started running: its arrival, or the end of its wait
            in the queue.
        finished: When it finished.
        token_times: When each token was handed out (streams), or fell due
            (a whole reply at once).
    """

    model_name: str
    finished_reason: str
    prompt_tokens: int
    arrival: float
    admitted: float
    finished: float
    token_times: tuple[float, ...]

    @property
    def generation_tokens(self) -> int:
        """Tokens handed out."""
        return len(self.token_times)

    @property
    def queue_time(self) -> float:
        """Seconds spent waiting for a place in the batch."""
        return self.admitted - self.arrival

    @property
    def ttft(self) -> float | None:
        """Seconds from arrival to the first token, if there was one."""
        return self.token_times[0] - self.arrival if self.token_times else None

    @property
    def e2e(self) -> float:
        """Seconds from arrival to finish."""
        return self.finished - self.arrival

    def inter_token_latencies(self) -> list[float]:
        """Seconds between consecutive tokens."""
        times = self.token_times
        return [later - earlier for earlier, later in itertools.pairwise(times)]


class EngineListener(Protocol):
    """What metrics implement to hear from the engine."""

    def on_state(self, running: int, waiting: int) -> None:
        """The number of running or waiting sequences changed."""

    def on_tokens(self, model_name: str, count: int) -> None:
        """``count`` tokens of a reply went out (counted live, not at the end)."""

    def on_finish(self, request: FinishedRequest) -> None:
        """A reply finished (or failed): record it, once."""


class Engine:
    """Runs sequences in steps on one timer; see the module docstring.

    Args:
        max_num_seqs: Sequences running at once; more wait in a FIFO queue.
            ``None``: no limit, nothing waits.
        step_growth: How much one more running sequence stretches each
            inter-token gap (``gap * (1 + step_growth * (running - 1))``).
        step_window: A step releases every token due within this many seconds
            of it, so streams started within it share steps.
        max_burst: Tokens already due that a sequence hands out in a row
            before it lets the event loop run once (see ``MAX_BURST``).
        clock: The time source; ``LoopClock()`` by default.
    """

    def __init__(
        self,
        *,
        max_num_seqs: int | None = None,
        step_growth: float = 0.0,
        step_window: float = 0.001,
        max_burst: int = MAX_BURST,
        clock: Clock | None = None,
    ) -> None:
        if max_num_seqs is not None and max_num_seqs < 1:
            msg = f"max_num_seqs must be >= 1 or None, got {max_num_seqs}"
            raise ValueError(msg)
        if step_growth < 0 or step_window < 0:
            msg = "step_growth and step_window must be >= 0"
            raise ValueError(msg)
        if max_burst < 1:
            msg = f"max_burst must be >= 1, got {max_burst}"
            raise ValueError(msg)
        self.max_num_seqs = max_num_seqs
        self.step_growth = step_growth
        self.step_window = step_window
        self.max_burst = max_burst
        self.clock: Clock = clock or LoopClock()
        self.listeners: list[EngineListener] = []
        #: Sequences admitted and not yet finished.
        self.running = 0
        #: Timer wake-ups so far: a step releases every token then due.
        self.steps = 0
        self._queue: deque[asyncio.Future[None]] = deque()
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()
        self._timer: Timer | None = None
        self._timer_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def waiting(self) -> int:
        """Sequences waiting for a place in the batch."""
        return len(self._queue)

    # --- Running a reply ---------------------------------------------------------

    @asynccontextmanager
    async def run(
        self, schedule: Schedule, *, model_name: str = "", prompt_tokens: int = 0
    ) -> AsyncIterator[Sequence]:
        """Admit a reply (waiting for a place if the batch is full) and run it.

        Set ``sequence.finished_reason`` before the block ends; a block that
        raises (a fault, a cancelled stream) finishes as ``"abort"``.

        Args:
            schedule: When its tokens are due, from the reply's start.
            model_name: Reported with its timings.
            prompt_tokens: Its input tokens, reported with its timings.
        """
        arrival = self._arrival()
        waited = await self._admit()
        now = self.clock.time()
        sequence = Sequence(
            self,
            schedule,
            model_name,
            prompt_tokens,
            arrival,
            now if waited else arrival,
            started=now,
        )
        try:
            yield sequence
        except BaseException:
            sequence.finished_reason = ABORT
            raise
        finally:
            self._finish(sequence)

    @contextmanager
    def run_sync(
        self, schedule: Schedule, *, model_name: str = "", prompt_tokens: int = 0
    ) -> Iterator[Sequence]:
        """Like ``run``, for synchronous callers: counted, never queued.

        The caller waits for tokens with ``Sequence.sleep_until_next`` or
        ``Sequence.sleep_until_done``.
        """
        arrival = self._arrival()
        self.running += 1
        self._notify_state()
        sequence = Sequence(
            self,
            schedule,
            model_name,
            prompt_tokens,
            arrival,
            arrival,
            started=self.clock.time(),
        )
        try:
            yield sequence
        except BaseException:
            sequence.finished_reason = ABORT
            raise
        finally:
            self._finish(sequence)

    def _arrival(self) -> float:
        """When the current request arrived: its server's stamp, else now.

        A stamp later than now cannot be of this clock (a test's manual clock
        behind the server's), so it is ignored.
        """
        now = self.clock.time()
        stamp = REQUEST_ARRIVAL.get()
        return stamp if stamp is not None and stamp <= now else now

    async def _admit(self) -> bool:
        """Take a place in the batch, waiting for one if needed; say if it waited."""
        limit = self.max_num_seqs
        if limit is None or (self.running < limit and not self._queue):
            self.running += 1
            self._notify_state()
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        self._notify_state()
        try:
            await turn  # ``_release`` hands this request its place
        except asyncio.CancelledError:
            if turn in self._queue:
                self._queue.remove(turn)
                self._notify_state()
            elif turn.done() and not turn.cancelled():
                self._release()  # the place was handed over: pass it on
            raise
        return True

    def _finish(self, sequence: Sequence) -> None:
        request = sequence.finish(self.clock.time())
        self._release()
        for listener in self.listeners:
            listener.on_finish(request)

    def _release(self) -> None:
        """Give a finished sequence's place to the next waiting one, or free it."""
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)  # running stays: the place changes hands
                self._notify_state()
                return
        self.running -= 1
        self._notify_state()

    def _notify_tokens(self, model_name: str, count: int) -> None:
        for listener in self.listeners:
            listener.on_tokens(model_name, count)

    def _notify_state(self) -> None:
        for listener in self.listeners:
            listener.on_state(self.running, len(self._queue))

    # --- Steps -------------------------------------------------------------------

    def wait_until(self, due: float) -> asyncio.Future[None] | None:
        """Return a future the step at ``due`` resolves, or ``None`` if it is due.

        Due means within ``step_window`` from now: the caller goes on at once.
        """
        if due <= self.clock.time() + self.step_window:
            return None
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (a new test, say): the old one's timer and
            # waiters can never fire, so forget them.
            self._loop, self._heap, self._timer = loop, [], None
        turn: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._heap, (due, next(self._ids), turn))
        if self._timer is None or due < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._set_timer(due)
        return turn

    def _set_timer(self, when: float) -> None:
        self._timer_at = when
        self._timer = self.clock.call_at(when, self._step)

    def _step(self) -> None:
        """Release every token due by now (plus the window); set the next timer."""
        self._timer = None
        self.steps += 1
        limit = self.clock.time() + self.step_window
        heap = self._heap
        while heap and heap[0][0] <= limit:
            turn = heapq.heappop(heap)[2]
            if not turn.done():  # a cancelled reader leaves a cancelled future
                turn.set_result(None)
        if heap:
            self._set_timer(heap[0][0])


class Sequence:
    """One running reply: asks the engine for its tokens, keeps their times.

    ``due()`` says when the next token is due; ``await next_token()`` waits for
    it (at once if it is overdue); ``await wait_done(n)`` waits for the last of
    ``n`` tokens (a reply sent whole). Synchronous callers use
    ``sleep_until_next`` and ``sleep_until_done``.
    """

    __slots__ = (
        "_anchor",
        "_burst",
        "_dues",
        "admitted",
        "arrival",
        "engine",
        "finished_reason",
        "model_name",
        "prompt_tokens",
        "schedule",
        "started",
        "token_times",
    )

    def __init__(
        self,
        engine: Engine,
        schedule: Schedule,
        model_name: str,
        prompt_tokens: int,
        arrival: float,
        admitted: float,
        started: float | None = None,
    ) -> None:
        self.engine = engine
        self.schedule = schedule
        self.model_name = model_name
        self.prompt_tokens = prompt_tokens
        self.arrival = arrival
        self.admitted = admitted
        #: When the engine started running it (``admitted`` may be earlier):
        #: no token of a reply sent whole counts as produced before this.
        self.started = admitted if started is None else started
        #: What the reply ended with; set by the caller before it finishes.
        self.finished_reason = "stop"
        #: When each token was handed out.
        self.token_times: list[float] = []
        self._dues: list[float] = []
        #: Where the schedule's offsets count from: ``admitted``, moved later
        #: by as much as the first token went out late (``_decode_from``).
        self._anchor = admitted
        #: Tokens handed out since the sequence last suspended (``next_token``).
        self._burst = 0

    def due(self, index: int | None = None) -> float:
        """Return when token ``index`` (default: the next one) is due.

        Without step growth, ``admitted + schedule.offset(index)``, fixed in
        advance, so a stream that falls behind catches up. Decoding follows
        the first token, as a real engine decodes after prefill: if the first
        token went out late, every later due time moves by as much (``duration
        = actual TTFT + the gaps``), so the gaps a client sees are the gaps
        asked and the lateness shows in the TTFT. With step growth, each gap
        is stretched by the batch running when the gap starts (which is when
        the token before it is due or asked for, whichever is later).
        """
        index = len(self.token_times) if index is None else index
        dues = self._dues
        growth = self.engine.step_growth
        while len(dues) <= index:
            i = len(dues)
            if not growth:
                dues.append(self._anchor + self.schedule.offset(i))
            elif i == 0:
                dues.append(self.admitted + self.schedule.interval(0))
            else:
                factor = 1.0 + growth * max(self.engine.running - 1, 0)
                dues.append(dues[-1] + self.schedule.interval(i) * factor)
        return dues[index]

    async def next_token(self) -> None:
        """Wait until the next token is due, then count it as handed out.

        A token already due (overdue, within the step window, or of a reply
        with no delay) goes at once, without suspending, so a step's tokens
        (or a whole burst of them) reach the reader together; after
        ``engine.max_burst`` such tokens in a row, one pass of the event loop,
        so a stream that is behind never starves the others.
        """
        # A reply with no delay has every token due at once: no due time to
        # work out, no step to wait for.
        engine = self.engine
        if len(self.token_times) == 1 and not self.schedule.is_instant:
            self._first_went_out(engine.clock.time())
        turn = None if self.schedule.is_instant else engine.wait_until(self.due())
        if turn is not None:
            self._burst = 1
            await turn
        elif self._burst >= engine.max_burst:
            self._burst = 1
            await asyncio.sleep(0)
        else:
            self._burst += 1
        self._hand_out(engine.clock.time())

    def _hand_out(self, now: float) -> None:
        """Count the next token as handed out at ``now``."""
        self.token_times.append(now)
        if len(self.token_times) == 1 and not self.schedule.is_instant:
            self._decode_from(now)
        self.engine._notify_tokens(self.model_name, 1)

    def _first_went_out(self, now: float) -> None:
        """Decode from when the first token went out: ``now``, its reader's next ask.

        A reader asks for the second token once it has sent the first, so
        that is when the first reached the wire. A reader held up between
        taking the first token and sending it (an event loop busy starting
        many streams) would otherwise find the second already due and send
        both at once, a time to second token of 0. The hold-up counts in the
        first token's time, the TTFT a client sees; the gaps stay the ones
        asked.
        """
        if now > self.token_times[0]:
            self.token_times[0] = now
            self._decode_from(now)

    def _decode_from(self, first: float) -> None:
        """Count the later tokens' due times from the first token's ``first``."""
        late = first - self.due(0)
        if late > 0:
            self._anchor += late
            self._dues = [first]

    async def wait_done(self, tokens: int) -> None:
        """Wait until the last of ``tokens`` tokens is due (a reply sent whole).

        Each token counts as produced at its due time, or when the reply
        started if that is later, or now if that is earlier; a reply of no
        tokens waits for the first token's due time.
        """
        if not self.schedule.is_instant:
            self._first_token_at_start(tokens)
            turn = self.engine.wait_until(self.due(max(tokens - 1, 0)))
            if turn is not None:
                await turn
        self._record_dues(tokens)

    def sleep_until_next(self) -> None:
        """Block until the next token is due (synchronous callers)."""
        clock = self.engine.clock
        if len(self.token_times) == 1 and not self.schedule.is_instant:
            self._first_went_out(clock.time())
        clock.sleep(self.due() - clock.time())
        self._hand_out(clock.time())

    def sleep_until_done(self, tokens: int) -> None:
        """Block until the last of ``tokens`` tokens is due (synchronous callers)."""
        clock = self.engine.clock
        if not self.schedule.is_instant:
            self._first_token_at_start(tokens)
        clock.sleep(self.due(max(tokens - 1, 0)) - clock.time())
        self._record_dues(tokens)

    def _first_token_at_start(self, tokens: int) -> None:
        """Anchor a reply sent whole at its first token, as a stream is.

        Its first token is produced when due, or when the model started if
        that is later; decoding follows it.
        """
        if tokens and not self.token_times:
            self._decode_from(max(self.due(0), self.started))

    def _record_dues(self, tokens: int) -> None:
        now = self.engine.clock.time()
        start = len(self.token_times)
        started = self.started
        if self.schedule.is_instant:
            # Every token is due at ``admitted`` (offsets and gaps are all 0):
            # the same times as below, without a due time per token.
            first = min(max(self.admitted, started), now)
            self.token_times.extend([first] * (tokens - start))
        else:
            self.token_times.extend(
                min(max(self.due(i), started), now) for i in range(start, tokens)
            )
        if tokens > start:
            self.engine._notify_tokens(self.model_name, tokens - start)

    def finish(self, now: float) -> FinishedRequest:
        """Return the reply's timings, finished at ``now``."""
        return FinishedRequest(
            model_name=self.model_name,
            finished_reason=self.finished_reason,
            prompt_tokens=self.prompt_tokens,
            arrival=self.arrival,
            admitted=self.admitted,
            finished=now,
            token_times=tuple(self.token_times),
        )


#: The engine of models given none: one per process, no limits, the real clock.
DEFAULT_ENGINE = Engine()
