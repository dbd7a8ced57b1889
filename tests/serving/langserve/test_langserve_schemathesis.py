"""Generated requests against every operation of the OpenAPI schema (schemathesis).

Whatever a client sends, the server answers within the response schemas it
documents, and without a server error, save one kind: the faults a request
asks the model to inject (``fail_after_chunks``, ``error_rate``), which stay
in the generated configs. A 5xx is judged by its cause: a 500 whose body says
``"type": "EchoFaultError"``, or a stream's ``error`` event when the request
set a fault, is expected; any other is a failure.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from langserve.lzstring import LZString
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sse_starlette.sse import AppStatus

from echo_model.serving.app import create_app
from echo_model.serving.settings import Settings

# Tiny delays and echoes keep generated streams quick; more is refused (422).
app = create_app(Settings(n=20, max_n=20, max_delay=0.001))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# schemathesis stops reading an event stream after 20 events by default;
# read each to its end, so that a stream cut short is the server's doing.
schema.config.max_stream_events = 2000
# The coverage phase sends some 2,000 requests per operation (minutes in all);
# 20 generated examples per operation keep this test in the default run.
schema.config.phases.coverage.enabled = False

pytestmark = pytest.mark.filterwarnings("ignore")


#: How a complete stream ends: LangServe's, OpenAI's and Anthropic's protocols.
STREAM_ENDS = (b"event: end", b"data: [DONE]", b"event: message_stop")


def requested_faults(case: Any) -> bool:
    """Whether the request asks for an injected fault, in its body or its path."""
    configs: list[Any] = []
    body = case.body if isinstance(case.body, dict) else {}
    config = body.get("config")
    configs.extend(config if isinstance(config, list) else [config])
    config_hash = (case.path_parameters or {}).get("config_hash")
    if isinstance(config_hash, str):
        try:
            text = LZString.decompressFromEncodedURIComponent(config_hash)
            configs.append(json.loads(text) if text else None)
        except (ValueError, TypeError, KeyError, IndexError):
            pass  # not a config LangServe can read: it refuses it itself
    for one in configs:
        configurable = one.get("configurable") if isinstance(one, dict) else None
        if isinstance(configurable, dict) and (
            configurable.get("fail_after_chunks") is not None
            or configurable.get("error_rate")
        ):
            return True
    return False


def no_server_error_but_injected_faults(ctx: Any, response: Any, case: Any) -> None:
    """Fail on a 5xx or a stream's error event not caused by an injected fault.

    A stream that stops with neither an ``end`` nor an ``error`` event failed
    after it started (``ErrorReplies`` ends it cleanly): a server error too.
    """
    if response.status_code >= 500 and not says_injected_fault(response):
        msg = f"{response.status_code} not caused by an injected fault: {response.text}"
        raise AssertionError(msg)
    if not is_event_stream(response):
        return
    if b"event: error" in response.content:
        if not requested_faults(case):
            msg = f"a stream error event with no fault requested: {response.text}"
            raise AssertionError(msg)
    elif not any(end in response.content for end in STREAM_ENDS):
        # The server failed after the response started, and ended it.
        msg = f"a stream cut short, with no end or error event: {response.text}"
        raise AssertionError(msg)


def says_injected_fault(response: Any) -> bool:
    try:
        reply = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(reply, dict) and reply.get("type") == "EchoFaultError"


def is_event_stream(response: Any) -> bool:
    return any(
        value.startswith("text/event-stream")
        for value in response.headers.get("content-type", [])
    )


def test_every_operation_is_generated() -> None:
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    generated = {
        (result.ok().method.upper(), result.ok().path)
        for result in schema.get_all_operations()
    }
    assert generated == documented


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors_and_responses_match_the_schema(case: Any) -> None:
    # Each call runs on a new event loop; see tests/conftest.py.
    AppStatus.should_exit_event = None
    case.call_and_validate(
        checks=[
            no_server_error_but_injected_faults,
            response_schema_conformance,
            content_type_conformance,
        ]
    )
