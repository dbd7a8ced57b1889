"""Parse the documents' examples and compare their outputs with the shown ones.

- Python blocks run in order, in one namespace per document, like a notebook.
  Comment lines right after a statement (``# ...``) are its expected output:
  what it printed, or else the ``repr`` of its value. Comments at the end of a
  line are remarks, not outputs. Top-level ``await`` and ``async for`` work.
- A ``bash`` block starting with ``curl`` is followed by a ``text`` block with
  its expected output, or a ``json`` block (compared as JSON, so it may be
  laid out for reading).
- In an expected output ``…`` stands for any text. Run ids, creation times and
  library version maps (``lc_versions``) are blanked on both sides; Python
  outputs are compared with runs of whitespace collapsed (so outputs may wrap).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from tests.support.processes import ROOT

FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
OUTPUT_LANGS = ("text", "json")
WILDCARD = "…"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COMPLETION_ID = re.compile(r"chatcmpl-[0-9a-f]{32}")
CREATED = re.compile(r'("created": ?)\d+')
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
    expected_lang: str  # "text" or "json"

    @property
    def id(self) -> str:
        """The example's place in its document, ``document:line``."""
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
    """Return each ``bash`` block that runs curl, with the output block after it.

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
        assert following.lang in OUTPUT_LANGS, f"{document}:{block.line}: no output"
        assert not gap.strip(), f"{document}:{block.line}: text before its output"
        found.append(
            CurlExample(
                document=document,
                line=block.line,
                command=block.body.rstrip("\n"),
                expected=following.body.rstrip("\n"),
                expected_lang=following.lang,
            )
        )
    return found


def blank_run_specifics(text: str) -> str:
    """Blank what differs between runs and installs: ids, times, library versions."""
    text = COMPLETION_ID.sub("chatcmpl-<id>", UUID.sub("<uuid>", text))
    text = CREATED.sub(r"\g<1>0", text)
    return VERSION_MAP.sub(r"\1{<versions>}", text).strip()


def matches(actual: str, expected: str) -> bool:
    """Whether ``actual`` is ``expected``, where ``…`` in it stands for any text."""
    assert expected.strip(WILDCARD + " \n"), "an expected output of only wildcards"
    pattern = ".*?".join(re.escape(part) for part in expected.split(WILDCARD))
    return re.fullmatch(pattern, actual, re.S) is not None


def curl_output_matches(actual: str, example: CurlExample) -> bool:
    """Whether curl printed ``actual`` where ``example`` shows its expected output."""
    actual = blank_run_specifics(actual)
    expected = blank_run_specifics(example.expected)
    if example.expected_lang == "json":
        return bool(json.loads(actual) == json.loads(expected))
    return matches(actual, expected)


def python_output_matches(actual: str, expected: str) -> bool:
    """Whether a statement's ``actual`` output is the ``expected`` one shown."""
    return matches(
        collapse_whitespace(blank_run_specifics(actual)),
        collapse_whitespace(blank_run_specifics(expected)),
    )


def collapse_whitespace(text: str) -> str:
    """``text`` with every run of whitespace made one space."""
    return " ".join(text.split())


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
