"""A ``RuntimeStore`` in SQLite, shared by the worker processes of one server.

With ``--workers N`` (N > 1) each worker builds its own app, so a fixture added
through one worker, a sequence count and the journal must live outside them:
here, in one SQLite database (WAL mode: readers never wait for the writer) in
a run directory the CLI makes before the workers start (``run_directory``) and
names in ``ECHO_RUN_DIR``; it goes when the server stops.

- Added fixtures: one row each, in the order added; a version row changes with
  every change, so a worker re-reads them only then.
- ``claim``: one ``BEGIN IMMEDIATE`` transaction (insert the count if absent,
  add one if it is the expected one): of concurrent claims, from any worker,
  exactly one wins.
- The journal: one row per entry (its JSON); the oldest beyond
  ``max_entries`` go in the same transaction as each new one.

Each operation takes the store's lock (one connection per process, used by
the event loop and by the threads LangChain runs sync code in) and SQLite's
(``busy_timeout`` waits for the other workers).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from echo_model.serving.core.store import MAX_JOURNAL_ENTRIES, fixture_context

#: The variable naming the run directory the workers share (set by the CLI).
RUN_DIR_ENV = "ECHO_RUN_DIR"
#: The database's file name in the run directory.
DATABASE = "runtime.sqlite3"
#: Milliseconds an operation waits for another worker's transaction.
BUSY_TIMEOUT_MS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS fixtures (
    id INTEGER PRIMARY KEY AUTOINCREMENT, context TEXT, json BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS versions (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counts (
    context TEXT NOT NULL, pattern TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (context, pattern)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, json BLOB NOT NULL);
INSERT OR IGNORE INTO versions VALUES ('fixtures', 0);
"""


@contextmanager
def run_directory(workers: int) -> Iterator[str | None]:
    """Make the run directory of a server with ``workers`` workers, if several.

    Like the metrics' ``multiprocess_directory``: a temporary directory named
    in ``ECHO_RUN_DIR`` for the workers to inherit, holding the database
    (created here, before any worker opens it); both go when the block ends.
    Yields the directory, or ``None`` for one worker (it keeps its own).
    """
    if workers <= 1:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="echo-model-run-") as directory:
        SqliteStore(Path(directory) / DATABASE).close()
        os.environ[RUN_DIR_ENV] = directory
        try:
            yield directory
        finally:
            os.environ.pop(RUN_DIR_ENV, None)


def shared_store_path() -> Path | None:
    """Return the database of the run directory the CLI made, if it made one."""
    directory = os.environ.get(RUN_DIR_ENV)
    return Path(directory) / DATABASE if directory else None


class SqliteStore:
    """A ``RuntimeStore`` in a SQLite file several processes open (module doc).

    Args:
        path: The database file (created if absent).
        max_entries: The most journal entries kept.
    """

    def __init__(self, path: Path, max_entries: int = MAX_JOURNAL_ENTRIES) -> None:
        self.path = path
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        # In WAL mode a commit is durable against a crash of the process (all
        # this needs): no fsync per request.
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._transaction() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock at once: no upgrade deadlock between
        # two workers that both read first.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, *args: Any) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- fixtures added at run time ---
    def fixtures_version(self) -> object:
        """The number of changes made to the added fixtures (by any worker)."""
        return self._query("SELECT value FROM versions WHERE name = 'fixtures'")[0][0]

    def runtime_fixtures(self) -> list[dict[str, Any]]:
        """The added fixtures, in the order added."""
        rows = self._query("SELECT json FROM fixtures ORDER BY id")
        return [orjson.loads(json) for (json,) in rows]

    def add_fixtures(self, fixtures: list[dict[str, Any]]) -> int:
        """Append fixtures; return the index of the first."""
        with self._transaction() as db:
            (first,) = db.execute("SELECT count(*) FROM fixtures").fetchone()
            db.executemany(
                "INSERT INTO fixtures (context, json) VALUES (?, ?)",
                [(_text(fixture_context(f)), orjson.dumps(f)) for f in fixtures],
            )
            _bump(db)
        return int(first)

    def clear_fixtures(self) -> None:
        """Forget every added fixture."""
        with self._transaction() as db:
            db.execute("DELETE FROM fixtures")
            _bump(db)

    def remove_fixtures(self, context: str) -> int:
        """Forget the added fixtures of ``context``; return how many."""
        with self._transaction() as db:
            removed = db.execute("DELETE FROM fixtures WHERE context = ?", (context,))
            if removed.rowcount:
                _bump(db)
        return removed.rowcount

    # --- sequence counts ---
    def claim(self, context: str, pattern: str, expected: int) -> bool:
        """Count a match of ``pattern`` if it has matched ``expected`` times."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO counts VALUES (?, ?, 0)", (context, pattern)
            )
            claimed = db.execute(
                "UPDATE counts SET n = n + 1"
                " WHERE context = ? AND pattern = ? AND n = ?",
                (context, pattern, expected),
            )
        return claimed.rowcount == 1

    def count(self, context: str, pattern: str) -> int:
        """Return how many times ``pattern`` has matched in ``context``."""
        rows = self._query(
            "SELECT n FROM counts WHERE context = ? AND pattern = ?", context, pattern
        )
        return int(rows[0][0]) if rows else 0

    def reset(self, context: str | None = None) -> None:
        """Forget the counts of ``context``, or every count for ``None``."""
        with self._transaction() as db:
            if context is None:
                db.execute("DELETE FROM counts")
            else:
                db.execute("DELETE FROM counts WHERE context = ?", (context,))

    # --- the journal ---
    def append_entry(self, entry: dict[str, Any]) -> None:
        """Add a journal entry; the oldest beyond ``max_entries`` go."""
        with self._transaction() as db:
            added = db.execute(
                "INSERT INTO journal (json) VALUES (?)", (orjson.dumps(entry),)
            )
            db.execute(
                "DELETE FROM journal WHERE id <= ?",
                ((added.lastrowid or 0) - self.max_entries,),
            )

    def entries(self) -> list[dict[str, Any]]:
        """The journal, oldest first."""
        rows = self._query("SELECT json FROM journal ORDER BY id")
        return [orjson.loads(json) for (json,) in rows]

    def clear_entries(self) -> None:
        """Empty the journal."""
        with self._transaction() as db:
            db.execute("DELETE FROM journal")


def _bump(db: sqlite3.Connection) -> None:
    db.execute("UPDATE versions SET value = value + 1 WHERE name = 'fixtures'")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


__all__ = [
    "DATABASE",
    "RUN_DIR_ENV",
    "SqliteStore",
    "run_directory",
    "shared_store_path",
]
