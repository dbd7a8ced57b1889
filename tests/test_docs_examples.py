"""Every example the README and docs/ show with an output, run and compared.

- Python blocks run in order, in one namespace per document, like a notebook.
  Comment lines right after a statement (``# ...``) are its expected output:
  what it printed, or else the ``repr`` of its value. Comments at the end of a
  line are remarks, not outputs. Top-level ``await`` and ``async for`` work.
- A ``bash`` block starting with ``curl`` is followed by a ``text`` block with
  its expected output, and runs against a real server.
- In an expected output ``…`` stands for any text. Run ids and library version
  maps (``lc_versions``) are blanked on both sides; Python outputs are compared
  with runs of whitespace collapsed (so outputs may wrap).

Examples written for ``127.0.0.1:8000`` are pointed at the test's server.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, fields, replace
from typing import Any

import pytest
from langserve import RemoteRunnable

from echo_model.serving.settings import Settings, env_name
from tests.support.live_server import ROOT, LiveServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: The documents whose examples run here, in the order a reader meets them.
DOCUMENTS = ["README.md", "docs/model.md", "docs/http.md", "docs/performance.md"]
DOC_SERVER = "127.0.0.1:8000"

FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
WILDCARD = "…"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VERSION_MAP = re.compile(r'("lc_versions": ?)\{[^{}]*\}')


@dataclass(frozen=True)
class Block:
    """A fenced block of a document."""

    document: str
    lang: str
    body: str
    line: int  # of the block's first body line, 1-based
    start: int  # character offsets of the whole fence in the document
    end: int


@dataclass(frozen=True)
class CurlExample:
    """A curl command and the output the document shows for it."""

    document: str
    line: int
    command: str
    expected: str

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def blocks(document: str) -> list[Block]:
    """Return the fenced blocks of ``document`` (a path relative to the repo)."""
    text = (ROOT / document).read_text()
    return [
        Block(
            document=document,
            lang=m["lang"],
            body=m["body"],
            line=text.count("\n", 0, m.start("body")) + 1,
            start=m.start(),
            end=m.end(),
        )
        for m in FENCE.finditer(text)
    ]


def curl_examples(document: str) -> list[CurlExample]:
    """Return each ``bash`` block that runs curl, with the ``text`` block after it.

    A curl block without an output block right after it fails here: an example
    shown without its output would go untested.
    """
    text = (ROOT / document).read_text()
    found = []
    document_blocks = blocks(document)
    for block, following in zip(
        document_blocks, [*document_blocks[1:], None], strict=True
    ):
        if block.lang != "bash" or not block.body.startswith("curl "):
            continue
        assert following is not None, f"{document}:{block.line}: no output block"
        gap = text[block.end : following.start]
        assert following.lang == "text", f"{document}:{block.line}: no output block"
        assert not gap.strip(), f"{document}:{block.line}: text before its output"
        found.append(
            CurlExample(
                document=document,
                line=block.line,
                command=block.body.rstrip("\n"),
                expected=following.body.rstrip("\n"),
            )
        )
    return found


ALL_CURL_EXAMPLES = [example for doc in DOCUMENTS for example in curl_examples(doc)]


def blank_run_specifics(text: str) -> str:
    """Blank what differs between runs and installs: ids and library versions."""
    return VERSION_MAP.sub(r"\1{<versions>}", UUID.sub("<uuid>", text)).strip()


def matches(actual: str, expected: str) -> bool:
    """Whether ``actual`` is ``expected``, where ``…`` in it stands for any text."""
    assert expected.strip(WILDCARD + " \n"), "an expected output of only wildcards"
    pattern = ".*?".join(re.escape(part) for part in expected.split(WILDCARD))
    return re.fullmatch(pattern, actual, re.S) is not None


# --- Python examples -----------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One top-level statement of a Python block and the output shown after it."""

    statement: ast.stmt
    expected: str | None


def steps(block: Block) -> list[Step]:
    """Split a Python block into statements, each with its expected output, if any."""
    tree = ast.parse(block.body, filename=block.document)
    lines = block.body.splitlines()
    result = []
    for statement, following in zip(tree.body, [*tree.body[1:], None], strict=True):
        stop = following.lineno - 1 if following else len(lines)
        expected = []
        assert statement.end_lineno is not None
        for line in lines[statement.end_lineno : stop]:
            if not line.startswith("#"):
                break
            expected.append(line.removeprefix("#").strip())
        ast.increment_lineno(statement, block.line - 1)  # tracebacks name the doc line
        result.append(Step(statement, " ".join(expected) if expected else None))
    return result


async def run_step(step: Step, namespace: dict[str, Any], filename: str) -> str:
    """Run one statement; return what it printed, or else its value's repr."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    if isinstance(step.statement, ast.Expr):
        code = compile(ast.Expression(step.statement.value), filename, "eval", flags)
    else:
        code = compile(ast.Module([step.statement], []), filename, "exec", flags)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        value = eval(code, namespace)  # noqa: S307 - the documents' own examples
        if inspect.iscoroutine(value):
            value = await value
    if printed.getvalue():
        return printed.getvalue()
    return repr(value) if isinstance(step.statement, ast.Expr) else ""


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


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
                assert matches(
                    collapse_whitespace(blank_run_specifics(actual)),
                    collapse_whitespace(blank_run_specifics(step.expected)),
                ), f"{where}: printed {actual!r}, the document shows {step.expected!r}"
                checked += 1
    finally:
        for value in namespace.values():
            if isinstance(value, RemoteRunnable):  # closed on the loop that used it
                value.sync_client.close()
                await value.async_client.aclose()
    if python_blocks:
        assert checked, f"{document}: Python examples without a shown output"


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
    actual = blank_run_specifics(result.stdout)
    expected = blank_run_specifics(example.expected)
    assert matches(actual, expected), f"{example.id}:\n{actual}"


def test_the_curl_examples_cover_every_langserve_endpoint() -> None:
    commands = " ".join(e.command for e in ALL_CURL_EXAMPLES) + " "
    for endpoint in ["invoke", "batch", "stream", "stream_events"]:
        assert f"/echo/{endpoint} " in commands
    assert "curl -sN" in commands
    assert '"configurable": {"n":' in commands


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
    settings = {s.name.replace("_", "-"): s for s in fields(Settings)}
    assert sorted(rows) == sorted(settings)
    for flag, setting in settings.items():
        assert rows[flag]["env"] == env_name(setting), flag
        default = documented_default(rows[flag]["default"])
        if isinstance(setting.default, bool) or setting.default is None:
            assert default == setting.default, flag
        else:
            assert type(setting.default)(default) == setting.default, flag
