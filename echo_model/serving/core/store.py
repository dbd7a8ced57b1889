"""Where the server's runtime state lives: added fixtures, sequence counts, journal.

``RuntimeStore`` is what the rest of the server asks of it; ``MemoryStore``
keeps everything in the process (one worker). A server with several workers
uses one store they all open (``core.sqlite_store``), so a fixture added
through one worker, a sequence count, and the journal are the same whichever
worker a request reaches.

A store is also the ``SequenceCounter`` the served model claims from.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Protocol

from echo_model.fixtures import InMemorySequenceCounter

#: Most journal entries kept (the oldest go first).
MAX_JOURNAL_ENTRIES = 1000


class RuntimeStore(Protocol):
    """The runtime state of a server (see the module doc)."""

    # --- fixtures added at run time ---
    def fixtures_version(self) -> object:
        """Return a value that changes whenever the added fixtures change."""

    def runtime_fixtures(self) -> list[dict[str, Any]]:
        """Return the added fixtures (their JSON), in the order added."""

    def add_fixtures(self, fixtures: list[dict[str, Any]]) -> int:
        """Append fixtures (already checked); return the index of the first."""

    def clear_fixtures(self) -> None:
        """Forget every added fixture."""

    def remove_fixtures(self, context: str) -> int:
        """Forget the added fixtures whose match has ``context``; return how many."""

    # --- sequence counts (``SequenceCounter``) ---
    def claim(self, context: str, pattern: str, expected: int) -> bool:
        """Count a match of ``pattern`` if it has matched ``expected`` times."""

    def count(self, context: str, pattern: str) -> int:
        """Return how many times ``pattern`` has matched in ``context``."""

    def reset(self, context: str | None = None) -> None:
        """Forget the counts of ``context``, or every count for ``None``."""

    # --- the journal ---
    def append_entry(self, entry: dict[str, Any]) -> None:
        """Add a journal entry (the oldest goes when the journal is full)."""

    def entries(self) -> list[dict[str, Any]]:
        """Return the journal, oldest first."""

    def clear_entries(self) -> None:
        """Empty the journal."""


def fixture_context(fixture: dict[str, Any]) -> object:
    """Return the ``context`` of an added fixture's match (``None``: any)."""
    match = fixture.get("match")
    return match.get("context") if isinstance(match, dict) else None


class MemoryStore(InMemorySequenceCounter):
    """A ``RuntimeStore`` in the process, for a server with one worker."""

    def __init__(self, max_entries: int = MAX_JOURNAL_ENTRIES) -> None:
        super().__init__()
        self._fixtures: list[dict[str, Any]] = []
        self._version = 0
        self._journal: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._journal_lock = threading.Lock()

    def fixtures_version(self) -> object:
        """The number of changes made to the added fixtures."""
        return self._version

    def runtime_fixtures(self) -> list[dict[str, Any]]:
        """The added fixtures, in the order added."""
        return list(self._fixtures)

    def add_fixtures(self, fixtures: list[dict[str, Any]]) -> int:
        """Append fixtures; return the index of the first."""
        first = len(self._fixtures)
        self._fixtures = [*self._fixtures, *fixtures]
        self._version += 1
        return first

    def clear_fixtures(self) -> None:
        """Forget every added fixture."""
        self._fixtures = []
        self._version += 1

    def remove_fixtures(self, context: str) -> int:
        """Forget the added fixtures of ``context``; return how many."""
        kept = [f for f in self._fixtures if fixture_context(f) != context]
        removed = len(self._fixtures) - len(kept)
        if removed:
            self._fixtures = kept
            self._version += 1
        return removed

    def append_entry(self, entry: dict[str, Any]) -> None:
        """Add a journal entry."""
        with self._journal_lock:
            self._journal.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        """The journal, oldest first."""
        with self._journal_lock:
            return list(self._journal)

    def clear_entries(self) -> None:
        """Empty the journal."""
        with self._journal_lock:
            self._journal.clear()


__all__ = ["MAX_JOURNAL_ENTRIES", "MemoryStore", "RuntimeStore", "fixture_context"]
