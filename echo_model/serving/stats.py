"""Counting what the model does in this server process."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler


@dataclass
class RunCounts:
    """Model runs and tokens seen by one server process since it started."""

    started: int = 0
    finished: int = 0
    failed: int = 0
    tokens: int = 0

    @property
    def active(self) -> int:
        """Runs in progress: started, neither finished nor failed."""
        return self.started - self.finished - self.failed

    def as_dict(self) -> dict[str, int]:
        """Return the counts and the active runs, for a JSON reply."""
        return {**asdict(self), "active": self.active}


class StatsHandler(BaseCallbackHandler):
    """A callback handler that keeps ``RunCounts`` for every model run.

    Attached to the served model, it sees each run start, each streamed token,
    and each run end or fail (a client that disconnects mid-stream cancels its
    run, which LangChain reports as a failure). Counts are per process: with
    several workers, each keeps its own.
    """

    # Counting is cheap and never blocks: run inline, not in a thread pool.
    run_inline = True

    def __init__(self) -> None:
        self.counts = RunCounts()

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        """Count a run that starts."""
        self.counts.started += 1

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        """Count a streamed token (the final, empty metadata chunk is not one)."""
        if token:
            self.counts.tokens += 1

    def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        """Count a run that finished."""
        self.counts.finished += 1

    def on_llm_error(self, *args: Any, **kwargs: Any) -> None:
        """Count a run that failed or was cancelled."""
        self.counts.failed += 1
