"""Generated requests against the ``/api`` operations (Ollama's) of the schema.

Whatever a client sends to Ollama's routes, the server answers without a 5xx,
within the response schemas it documents (Ollama's error shape included). The
one 5xx on purpose, an injected fault, is taken out of the generated bodies.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from echo_model.serving.app import create_app
from echo_model.serving.settings import Settings

# Short delays keep generated streams quick; longer ones are refused (400).
app = create_app(Settings(max_delay=0.01, max_n=200))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
    path_regex="^/api/"
)
# schemathesis stops reading an event stream after 20 events by default;
# read each to its end, so that a stream cut short is the server's doing.
schema.config.max_stream_events = 2000

pytestmark = pytest.mark.filterwarnings("ignore")


def without_injected_faults(body: object) -> None:
    options = body.get("options") if isinstance(body, dict) else None
    echo = options.get("echo") if isinstance(options, dict) else None
    if isinstance(echo, dict):
        for name in ("fail_after_chunks", "error_rate", "fault"):
            echo.pop(name, None)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_responses_match_the_schema(case) -> None:
    without_injected_faults(case.body)
    case.call_and_validate(
        checks=[
            not_a_server_error,
            response_schema_conformance,
            content_type_conformance,
        ]
    )
