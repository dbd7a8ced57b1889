"""One test's scripted replies and journal, on the session's echo server.

``EchoFixtures`` is what the ``echo_fixtures`` fixture gives a test: fixtures
it adds match only requests carrying its context (``X-Echo-Context``, which
every client fixture of the test sends), and ``requests()`` reads the journal
entries of that context only. So tests running side by side (pytest-xdist, or
one server shared by several sessions) never answer or see each other's.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from echo_model.testing.options import scoped
from echo_model.testing.server import EchoServer

#: The longest context the plugin makes (a readable part, then a hash).
MAX_CONTEXT_CHARS = 120

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/\[\]=,+-]+")


def test_context(nodeid: str) -> str:
    """Return a fresh context for one run of the test ``nodeid``.

    The test's id, cut and made header-safe (ASCII, no spaces), then a hash of
    the whole id and a random part: two runs of one test (a rerun, a repeat)
    never share fixtures, sequence counts or journal entries.
    """
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:8]
    readable = _UNSAFE.sub("_", nodeid)[: MAX_CONTEXT_CHARS - 20]
    return f"{readable}#{digest}{secrets.token_hex(3)}"


class EchoFixtures:
    """A test's own fixtures and journal on the echo server (module doc).

    Args:
        server: The session's server.
        context: The test's context.
    """

    __test__ = False  # not a test class, whatever pytest's naming rules say

    def __init__(self, server: EchoServer, context: str) -> None:
        self.server = server
        self.context = context
        self._added = 0

    def add(self, fixtures: Sequence[Mapping[str, Any]]) -> list[str]:
        """Add fixtures (aimock's format) for this test; return their labels.

        Each one's match gets ``"context": <the test's>``; they match before
        the server's files, in the order added.

        Raises:
            ValueError: A fixture names another context.
            AdminError: The server refused one (the field is named).
        """
        if isinstance(fixtures, Mapping):
            fixtures = fixtures.get("fixtures", [fixtures])
        labels = self.server.add_fixtures([scoped(f, self.context) for f in fixtures])
        self._added += len(labels)
        return labels

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Return this test's journal entries, oldest first (of ``path``)."""
        return self.server.requests(context=self.context, path=path)

    def clear(self) -> None:
        """Forget the fixtures this test added (the plugin does it at its end)."""
        if self._added:
            self.server.remove_fixtures(self.context)
            self._added = 0
