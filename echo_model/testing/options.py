"""One test's request options: what ``@pytest.mark.echo(...)`` asks for.

Besides the request options (``echo_model.options``) the marker takes
``fixtures``: scripted replies for this test only (aimock's fixture format, a
list of fixtures or a file's ``{"fixtures": [...]}``). They are not a request
option: the plugin posts them to the server's ``/admin/fixtures`` scoped by the
test's context, which every client fixture sends as ``X-Echo-Context``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from echo_model.options import OPTION_NAMES

#: The header that makes the server fail a request on purpose, the same on
#: every protocol: ``status=429; retry_after=0``, ``error; after=3``, ...
FAULT_HEADER = "X-Echo-Fault"

#: The header naming a request's context: the fixtures it may match, its
#: sequence counts and its journal entries (the server's ``X-Echo-Context``).
CONTEXT_HEADER = "X-Echo-Context"

#: The marker's arguments that are not request options.
MARKER_ONLY = frozenset(["fault", "fixtures"])

#: The per-request options every route accepts (LangServe's ``configurable``
#: fields; the ``echo`` body object of the OpenAI and Anthropic routes), from
#: the one list of options; ``fault`` is sent as the header instead.
SIMULATION_OPTIONS = OPTION_NAMES - {"fault"}


@dataclass(frozen=True)
class EchoOptions:
    """Per-request options for one test, sent by every client fixture.

    Attributes:
        simulation: Simulation options (``n``, ``stop``, delays, faults by
            ``fail_after_chunks``/``error_rate``, ``seed``), sent the way each
            protocol takes them.
        fault: The ``X-Echo-Fault`` header's value, or ``None``.
        fixtures: The test's own fixtures (aimock's format), the closest
            marker's first.
        context: The test's context, sent as ``X-Echo-Context`` (``None``:
            none).
    """

    simulation: Mapping[str, Any] = field(default_factory=dict)
    fault: str | None = None
    fixtures: tuple[dict[str, Any], ...] = ()
    context: str | None = None

    @classmethod
    def from_markers(cls, markers: Iterable[Any]) -> EchoOptions:
        """Merge ``echo`` markers, the closest first (a test's over its module's).

        Args:
            markers: ``pytest.Mark`` objects, as ``item.iter_markers("echo")``
                gives them.

        Raises:
            ValueError: A marker has a positional argument or an unknown option.
        """
        merged: dict[str, Any] = {}
        fixtures: list[dict[str, Any]] = []
        for marker in markers:
            if marker.args:
                msg = "@pytest.mark.echo takes keyword arguments only"
                raise ValueError(msg)
            unknown = set(marker.kwargs) - SIMULATION_OPTIONS - MARKER_ONLY
            if unknown:
                known = ", ".join(sorted(SIMULATION_OPTIONS | MARKER_ONLY))
                msg = (
                    f"unknown @pytest.mark.echo option(s) {', '.join(sorted(unknown))}"
                    f" (known: {known})"
                )
                raise ValueError(msg)
            kwargs = dict(marker.kwargs)
            fixtures += _fixture_list(kwargs.pop("fixtures", []))
            merged = {**kwargs, **merged}
        fault = merged.pop("fault", None)
        if fault is not None and not isinstance(fault, str):
            msg = f"@pytest.mark.echo(fault=...) must be a string, got {fault!r}"
            raise ValueError(msg)
        return cls(simulation=merged, fault=fault, fixtures=tuple(fixtures))

    @property
    def headers(self) -> dict[str, str]:
        """The headers every request of the test carries: fault and context."""
        headers = {FAULT_HEADER: self.fault} if self.fault else {}
        if self.context:
            headers[CONTEXT_HEADER] = self.context
        return headers

    def scoped_fixtures(self) -> list[dict[str, Any]]:
        """The test's fixtures, each matching the test's context only."""
        return [scoped(f, self.context) for f in self.fixtures]

    @property
    def body(self) -> dict[str, Any]:
        """The ``echo`` body field for the OpenAI and Anthropic routes, if any.

        Pass it as the SDKs' ``extra_body``.
        """
        return {"echo": dict(self.simulation)} if self.simulation else {}


def scoped(fixture: Mapping[str, Any], context: str | None) -> dict[str, Any]:
    """Return ``fixture`` with its match limited to ``context`` (``None``: as is).

    Raises:
        ValueError: ``fixture`` is not an object with a ``match`` object, or
            names another context.
    """
    match = fixture.get("match") if isinstance(fixture, Mapping) else None
    if not isinstance(match, Mapping):
        msg = f"an echo fixture needs a 'match' object, got {fixture!r}"
        raise ValueError(msg)
    if context is None:
        return dict(fixture)
    if match.get("context", context) != context:
        msg = (
            f"fixture {fixture!r} names context {match['context']!r}; a test's"
            f" fixtures match only its own context ({context!r})"
        )
        raise ValueError(msg)
    return {**fixture, "match": {**match, "context": context}}


def _fixture_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, Mapping) and "fixtures" in value:
        value = value["fixtures"]
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list | tuple):
        msg = (
            "@pytest.mark.echo(fixtures=...) takes a list of fixtures (aimock's"
            f" format) or a fixture file's {{'fixtures': [...]}}, got {value!r}"
        )
        raise ValueError(msg)
    for fixture in value:
        if not isinstance(fixture, Mapping):
            msg = f"an echo fixture is an object, got {fixture!r}"
            raise ValueError(msg)
    return [dict(f) for f in value]
