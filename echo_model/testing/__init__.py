"""Testing helpers: a pytest plugin that runs the real echo server for your tests.

Installing echo-model makes the plugin available (``pytest -p no:echo_model``
turns it off); see ``echo_model.testing.plugin`` for its fixtures and
``docs/testing.md`` for a walk-through. The names below load on first use, so
loading the plugin costs a pytest session nothing until a fixture is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from echo_model.testing.metrics import Metrics, Sample
    from echo_model.testing.options import FAULT_HEADER, EchoOptions
    from echo_model.testing.scripted import EchoFixtures
    from echo_model.testing.server import EchoServer, run_echo_server

_EXPORTS = {
    "EchoFixtures": "echo_model.testing.scripted",
    "EchoOptions": "echo_model.testing.options",
    "EchoServer": "echo_model.testing.server",
    "FAULT_HEADER": "echo_model.testing.options",
    "Metrics": "echo_model.testing.metrics",
    "Sample": "echo_model.testing.metrics",
    "run_echo_server": "echo_model.testing.server",
}

__all__ = [
    "FAULT_HEADER",
    "EchoFixtures",
    "EchoOptions",
    "EchoServer",
    "Metrics",
    "Sample",
    "run_echo_server",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
