"""One test's request options: what ``@pytest.mark.echo(...)`` asks for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from echo_model.options import OPTION_NAMES

#: The header that makes the server fail a request on purpose, the same on
#: every protocol: ``status=429; retry_after=0``, ``error; after=3``, ...
FAULT_HEADER = "X-Echo-Fault"

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
    """

    simulation: Mapping[str, Any] = field(default_factory=dict)
    fault: str | None = None

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
        for marker in markers:
            if marker.args:
                msg = "@pytest.mark.echo takes keyword arguments only"
                raise ValueError(msg)
            unknown = set(marker.kwargs) - SIMULATION_OPTIONS - {"fault"}
            if unknown:
                known = ", ".join(sorted(SIMULATION_OPTIONS | {"fault"}))
                msg = (
                    f"unknown @pytest.mark.echo option(s) {', '.join(sorted(unknown))}"
                    f" (known: {known})"
                )
                raise ValueError(msg)
            merged = {**marker.kwargs, **merged}
        fault = merged.pop("fault", None)
        if fault is not None and not isinstance(fault, str):
            msg = f"@pytest.mark.echo(fault=...) must be a string, got {fault!r}"
            raise ValueError(msg)
        return cls(simulation=merged, fault=fault)

    @property
    def headers(self) -> dict[str, str]:
        """The headers every request of the test carries (the fault, if any)."""
        return {FAULT_HEADER: self.fault} if self.fault else {}

    @property
    def body(self) -> dict[str, Any]:
        """The ``echo`` body field for the OpenAI and Anthropic routes, if any.

        Pass it as the SDKs' ``extra_body``.
        """
        return {"echo": dict(self.simulation)} if self.simulation else {}
