"""Generated requests against Anthropic's routes (schemathesis): never a 5xx.

Whatever a client sends to ``/v1/messages`` and ``/v1/messages/count_tokens``,
the server answers within the response schemas it documents, in Anthropic's
shape, and without a server error, save the faults a request asks the model
to inject (``echo.fail_after_chunks``, ``echo.error_rate``): a 500
``api_error`` saying so, or a stream's ``event: error``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from echo_model.serving.app import create_app
from echo_model.serving.settings import Settings

# Tiny delays and echoes keep generated streams quick; more is refused (400).
app = create_app(Settings(n=20, max_n=20, max_delay=0.001))
schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
    path_regex="^/v1/messages"
)
# schemathesis stops reading an event stream after 20 events by default;
# read each to its end, so that a stream cut short is the server's doing.
schema.config.max_stream_events = 2000

pytestmark = pytest.mark.filterwarnings("ignore")


def requested_fault(case: Any) -> bool:
    """Whether the request's ``echo`` options ask for an injected fault."""
    body = case.body if isinstance(case.body, dict) else {}
    options = body.get("echo")
    return isinstance(options, dict) and (
        options.get("fail_after_chunks") is not None or bool(options.get("error_rate"))
    )


def no_server_error_but_injected_faults(ctx: Any, response: Any, case: Any) -> None:
    """Fail on a 5xx, or a stream's error event, that no requested fault explains.

    Every error reply must have Anthropic's shape; a stream must end with
    ``message_stop``, or with an ``error`` event for a requested fault.
    """
    content_type = response.headers.get("content-type", [""])[0]
    if response.status_code >= 400:
        reply = json.loads(response.content)
        assert reply["type"] == "error", response.text
        assert set(reply["error"]) == {"type", "message"}, response.text
        if response.status_code >= 500:
            assert requested_fault(case), response.text
            assert reply["error"]["type"] == "api_error", response.text
            assert "injected fault" in reply["error"]["message"], response.text
        return
    if not content_type.startswith("text/event-stream"):
        return
    if b"event: error" in response.content:
        assert requested_fault(case), response.text
    else:
        assert response.content.rstrip().endswith(b'{"type":"message_stop"}'), (
            response.text
        )


def test_only_anthropic_s_operations_are_generated() -> None:
    generated = {
        (result.ok().method.upper(), result.ok().path)
        for result in schema.get_all_operations()
    }
    assert generated == {
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
    }


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_responses_match_the_schema(case: Any) -> None:
    case.call_and_validate(
        checks=[
            no_server_error_but_injected_faults,
            response_schema_conformance,
            content_type_conformance,
        ]
    )
