"""docs/anthropic.md's examples, run against a real server and compared.

The same rules as tests/test_docs_examples.py (whose helpers run them): curl
blocks are followed by their output, Python statements by comments showing
what they print or return; ``…`` stands for any text.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from typing import Any

import pytest

from tests.support.live_server import LiveServer
from tests.test_docs_examples import (
    DOC_SERVER,
    blank_run_specifics,
    blocks,
    collapse_whitespace,
    curl_examples,
    matches,
    run_step,
    steps,
)

DOCUMENT = "docs/anthropic.md"
CURL_EXAMPLES = curl_examples(DOCUMENT)


@pytest.mark.parametrize("example", CURL_EXAMPLES, ids=[e.id for e in CURL_EXAMPLES])
def test_curl_example(live_server: LiveServer, example: Any) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (apt-get install -y curl)")
    command = example.command.replace(DOC_SERVER, f"127.0.0.1:{live_server.port}")
    result = subprocess.run(
        ["/bin/bash", "-c", "set -o pipefail; " + command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    actual = blank_run_specifics(result.stdout)
    assert matches(actual, blank_run_specifics(example.expected)), actual


def test_the_curl_examples_cover_both_routes_and_a_stream() -> None:
    commands = " ".join(e.command for e in CURL_EXAMPLES)
    assert "/v1/messages " in commands
    assert "/v1/messages/count_tokens " in commands
    assert '"stream": true' in commands


async def test_python_examples(live_server: LiveServer) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    checked = 0
    for block in blocks(DOCUMENT):
        if block.lang != "python":
            continue
        local = block.body.replace(DOC_SERVER, f"127.0.0.1:{live_server.port}")
        for step in steps(replace(block, body=local)):
            actual = await run_step(step, namespace, DOCUMENT)
            if step.expected is None:
                continue
            assert matches(
                collapse_whitespace(blank_run_specifics(actual)),
                collapse_whitespace(blank_run_specifics(step.expected)),
            ), f"{DOCUMENT}:{step.statement.lineno}: printed {actual!r}"
            checked += 1
    assert checked >= 8
