"""The server's fixtures: those of ``--fixtures``, those added at run time, headers.

- ``ServedFixtures``: the set the served model reads on every call (a
  ``LiveFixtures``): fixtures added through ``POST /admin/fixtures`` first, in
  the order added, then the files' (a test's own fixtures win over a file's
  catch-all). The added ones live in a ``RuntimeStore`` (``core.store``), so
  every worker sees the same set.
- ``fixture_call``: the one reading of the ``X-Echo-Context`` and
  ``X-Echo-Strict`` headers every protocol's routes use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from echo_model.fixtures import (
    Fixture,
    FixtureLoadError,
    load_fixtures,
    parse_fixture,
    parse_fixture_file,
)
from echo_model.serving.core.options import InvalidRequest
from echo_model.serving.core.store import RuntimeStore

#: The header naming a request's context (fixtures and sequence counters).
CONTEXT_HEADER = "x-echo-context"
#: The header turning strict mode on or off for one request.
STRICT_HEADER = "x-echo-strict"
#: The ``source`` of fixtures added at run time (labels ``<admin>#N``).
ADMIN_SOURCE = "<admin>"


@dataclass(frozen=True, slots=True)
class FixtureCall:
    """What a request's headers say about fixtures.

    Attributes:
        context: ``X-Echo-Context``, or ``None`` when absent or empty.
        strict: ``X-Echo-Strict`` (``true``/``false``), or ``None``: the
            server's ``--strict``.
    """

    context: str | None = None
    strict: bool | None = None


def fixture_call(headers: Mapping[str, str]) -> FixtureCall:
    """Read ``X-Echo-Context`` and ``X-Echo-Strict`` from ``headers``.

    Args:
        headers: The request's headers (names in lower case, as Starlette's).

    Raises:
        InvalidRequest: ``X-Echo-Strict`` is neither ``true`` nor ``false``.
    """
    context = headers.get(CONTEXT_HEADER) or None
    text = headers.get(STRICT_HEADER)
    if text is None:
        return FixtureCall(context)
    value = text.strip().lower()
    if value not in ("true", "false"):
        msg = f"X-Echo-Strict must be 'true' or 'false', got {text!r}"
        raise InvalidRequest(msg, "X-Echo-Strict")
    return FixtureCall(context, value == "true")


def load_file_fixtures(path: str | None) -> list[Fixture]:
    """Read ``--fixtures`` (a file or a folder); none for ``None``.

    Raises:
        FixtureLoadError: One line naming the file, the fixture and the field.
    """
    return load_fixtures(path) if path else []


def parse_admin_fixtures(data: Any, first_index: int = 0) -> list[Fixture]:
    """Check fixtures posted at run time: a fixture file's JSON, or its list.

    Args:
        data: ``{"fixtures": [...]}`` (as in a file) or the list alone.
        first_index: The index the first of them takes among the runtime
            fixtures (their labels are ``<admin>#index``).

    Raises:
        FixtureLoadError: One names the fixture (its index in ``data``) and
            the field.
    """
    if isinstance(data, list):
        data = {"fixtures": data}
    fixtures = parse_fixture_file(data, ADMIN_SOURCE)
    return [replace(f, index=first_index + i) for i, f in enumerate(fixtures)]


class ServedFixtures:
    """The fixtures the served model reads on every call (a ``LiveFixtures``).

    Args:
        files: The fixtures of ``--fixtures``, already read.
        store: Where runtime fixtures live (shared by the workers).
    """

    def __init__(self, files: Sequence[Fixture], store: RuntimeStore) -> None:
        self.files = list(files)
        self.store = store
        self._version: object = None
        self._rules: list[Fixture] = list(self.files)

    def current(self) -> Sequence[Fixture]:
        """The runtime fixtures, in the order added, then the files'."""
        version = self.store.fixtures_version()
        if version != self._version:
            added = self.store.runtime_fixtures()
            self._rules = [
                *(parse_fixture(d, ADMIN_SOURCE, i) for i, d in enumerate(added)),
                *self.files,
            ]
            self._version = version
        return self._rules

    def add(self, data: Any) -> list[Fixture]:
        """Check and add fixtures (``POST /admin/fixtures``); return them.

        Raises:
            FixtureLoadError: Nothing is added; it names the fixture and field.
        """
        fixtures = parse_admin_fixtures(data)
        raw = data["fixtures"] if isinstance(data, dict) else data
        first = self.store.add_fixtures(list(raw))
        return [replace(f, index=first + f.index) for f in fixtures]

    def runtime(self) -> list[dict[str, Any]]:
        """The fixtures added at run time, as posted."""
        return self.store.runtime_fixtures()

    def clear(self, context: str | None = None) -> int | None:
        """Forget the fixtures added at run time (back to the files).

        Args:
            context: Forget only those whose match has this ``context`` (a
                test's own, when it ends); ``None``: every one.

        Returns:
            How many were forgotten for a ``context``; ``None`` otherwise.
        """
        if context is not None:
            return self.store.remove_fixtures(context)
        self.store.clear_fixtures()
        return None


__all__ = [
    "ADMIN_SOURCE",
    "CONTEXT_HEADER",
    "STRICT_HEADER",
    "FixtureCall",
    "FixtureLoadError",
    "ServedFixtures",
    "fixture_call",
    "load_file_fixtures",
    "parse_admin_fixtures",
]
