"""An engine listener for tests: the replies it hears finish."""

from __future__ import annotations

from echo_model.engine import FinishedRequest


class Finished:
    """An engine listener keeping the replies that finished."""

    def __init__(self) -> None:
        self.requests: list[FinishedRequest] = []

    def on_state(self, running: int, waiting: int) -> None:
        """Ignore the engine's state."""

    def on_tokens(self, model_name: str, count: int) -> None:
        """Ignore the token counts."""

    def on_finish(self, request: FinishedRequest) -> None:
        """Keep the finished reply."""
        self.requests.append(request)
