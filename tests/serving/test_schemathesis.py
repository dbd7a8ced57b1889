"""Generated requests against every operation of the OpenAPI schema (schemathesis).

Whatever a client sends, the server answers without a 5xx and within the
response schemas it documents. The one 5xx on purpose, fault injection
(``fail_after_chunks``), is taken out of the generated configs.
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

# Short delays keep generated streams quick; longer ones are refused (422).
app = create_app(Settings(max_delay=0.01, max_n=200))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

pytestmark = pytest.mark.filterwarnings("ignore")


def without_injected_faults(body: object) -> None:
    configs = body.get("config") if isinstance(body, dict) else None
    for config in configs if isinstance(configs, list) else [configs]:
        if isinstance(config, dict) and isinstance(config.get("configurable"), dict):
            config["configurable"].pop("fail_after_chunks", None)


@schema.parametrize()
@settings(
    max_examples=25,
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
