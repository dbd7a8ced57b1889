"""Every example the README and docs/ show with an output, run and compared.

The format (``tests/support/doc_examples.py`` parses and compares):

- Python blocks run in order, in one namespace per document, like a notebook.
  Comment lines right after a statement (``# ...``) are its expected output:
  what it printed, or else the ``repr`` of its value.
- A ``bash`` block starting with ``curl`` is followed by a ``text`` (or
  ``json``) block with its expected output, and runs against a real server.
- In an expected output ``…`` stands for any text.

Examples written for ``127.0.0.1:8000`` are pointed at the test's server.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from typing import Any

import pytest
from langserve import RemoteRunnable

from echo_model.serving.settings import Settings, env_name
from tests.support.doc_examples import (
    CurlExample,
    blocks,
    curl_examples,
    curl_output_matches,
    python_output_matches,
    run_step,
    steps,
)
from tests.support.live_server import ROOT, LiveServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: The documents whose examples run here, in the order a reader meets them.
#: Not here: docs/testing.md (its examples are a pytest project, run as one by
#: tests/plugin/test_docs_testing.py); docs/latency.md, docs/faults.md and
#: docs/deploy.md show no output for their examples (deploy.md's start
#: containers and Kubernetes objects).
DOCUMENTS = [
    "README.md",
    "docs/model.md",
    "docs/embeddings.md",
    "docs/fixtures.md",
    "docs/http.md",
    "docs/performance.md",
    "docs/openai.md",
    "docs/anthropic.md",
    "docs/ollama.md",
]
DOC_SERVER = "127.0.0.1:8000"
#: How many Python outputs a document shows at least (1 unless listed).
MIN_PYTHON_OUTPUTS = {
    "docs/openai.md": 15,
    "docs/anthropic.md": 8,
    "docs/ollama.md": 10,
}

ALL_CURL_EXAMPLES = [example for doc in DOCUMENTS for example in curl_examples(doc)]


# --- Python examples -----------------------------------------------------------


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_python_examples(document: str, request: pytest.FixtureRequest) -> None:
    python_blocks = [b for b in blocks(document) if b.lang == "python"]
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    checked = 0
    try:
        for block in python_blocks:
            if DOC_SERVER in block.body:
                server: LiveServer = request.getfixturevalue("live_server")
                local = block.body.replace(DOC_SERVER, f"127.0.0.1:{server.port}")
                block = replace(block, body=local)
            for step in steps(block):
                actual = await run_step(step, namespace, document)
                if step.expected is None:
                    continue
                where = f"{document}:{step.statement.lineno}"
                assert python_output_matches(actual, step.expected), (
                    f"{where}: printed {actual!r}, the document shows {step.expected!r}"
                )
                checked += 1
    finally:
        for value in namespace.values():
            if isinstance(value, RemoteRunnable):  # closed on the loop that used it
                value.sync_client.close()
                await value.async_client.aclose()
    if python_blocks:
        least = MIN_PYTHON_OUTPUTS.get(document, 1)
        assert checked >= least, f"{document}: {checked} Python outputs shown"


# --- curl examples -------------------------------------------------------------


@pytest.mark.parametrize(
    "example", ALL_CURL_EXAMPLES, ids=[e.id for e in ALL_CURL_EXAMPLES]
)
def test_curl_example(live_server: LiveServer, example: CurlExample) -> None:
    if shutil.which("curl") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the documents' curl examples: install curl")
        pytest.skip("curl is not installed (apt-get install -y curl)")
    assert DOC_SERVER in example.command
    command = example.command.replace(DOC_SERVER, f"127.0.0.1:{live_server.port}")
    result = subprocess.run(
        ["/bin/bash", "-c", "set -o pipefail; " + command],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert curl_output_matches(result.stdout, example), (
        f"{example.id}:\n{result.stdout}"
    )


def test_the_curl_examples_cover_every_langserve_endpoint() -> None:
    commands = " ".join(e.command for e in ALL_CURL_EXAMPLES) + " "
    for endpoint in ["invoke", "batch", "stream", "stream_events"]:
        assert f"/echo/{endpoint} " in commands
    assert "curl -sN" in commands
    assert '"configurable": {"n":' in commands


def test_openai_md_shows_a_completion_a_stream_and_an_error() -> None:
    examples = curl_examples("docs/openai.md")
    commands = " ".join(e.command for e in examples)
    assert len(examples) >= 3
    assert "/v1/chat/completions " in commands
    assert '"stream": true' in commands
    assert any('"error"' in e.expected for e in examples)
    python_blocks = [b for b in blocks("docs/openai.md") if b.lang == "python"]
    assert len(python_blocks) >= 4


def test_anthropic_md_covers_both_routes_and_a_stream() -> None:
    commands = " ".join(e.command for e in curl_examples("docs/anthropic.md"))
    assert "/v1/messages " in commands
    assert "/v1/messages/count_tokens " in commands
    assert '"stream": true' in commands


# --- The two commands ------------------------------------------------------------


def test_readme_test_command_is_the_one_ci_runs() -> None:
    (command,) = [
        b.body.splitlines()[1]
        for b in blocks("README.md")
        if b.lang == "bash" and b.body.startswith("# install and run the tests\n")
    ]
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


# --- The flags table ---------------------------------------------------------------


FLAG_ROW = re.compile(
    r"^\| `--(?P<flag>[a-z-]+)`[^|]*\| `(?P<env>ECHO_\w+)` \| (?P<default>[^|]+) \|",
    re.M,
)


def documented_default(cell: str) -> Any:
    """The value a default cell of the flags table stands for."""
    cell = cell.strip()
    if cell in ("off", "none"):
        return False if cell == "off" else None
    return cell.strip("`")


def test_the_flags_table_lists_every_setting_with_its_variable_and_default() -> None:
    rows = {
        m["flag"]: m for m in FLAG_ROW.finditer((ROOT / "docs/http.md").read_text())
    }
    settings = {
        name.replace("_", "-"): (name, s) for name, s in Settings.model_fields.items()
    }
    assert sorted(rows) == sorted(settings)
    for flag, (name, setting) in settings.items():
        assert rows[flag]["env"] == env_name(name), flag
        default = documented_default(rows[flag]["default"])
        if isinstance(setting.default, bool) or setting.default is None:
            assert default == setting.default, flag
        else:
            assert type(setting.default)(default) == setting.default, flag
