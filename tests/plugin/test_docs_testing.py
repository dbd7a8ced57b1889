"""docs/testing.md's example project, run as its reader would run it."""

from __future__ import annotations

import re

import pytest

from tests.plugin.support import SESSION_TIMEOUT
from tests.support.processes import ROOT

pytest_plugins = ["pytester"]

DOCUMENT = ROOT / "docs" / "testing.md"

#: A fenced block whose first line names the file it is: ``# my_app.py``.
FILE_BLOCK = re.compile(
    r"^```\w*\n# (?P<name>[\w.-]+\.(?:py|toml))\n(?P<body>.*?)^```$", re.M | re.S
)


def example_files() -> dict[str, str]:
    """Return the document's files by name, each block's text after its name line."""
    return {m["name"]: m["body"] for m in FILE_BLOCK.finditer(DOCUMENT.read_text())}


def test_the_document_names_its_example_files() -> None:
    assert set(example_files()) == {
        "test_quickstart.py",
        "my_app.py",
        "test_my_app.py",
        "test_my_app_on_both_apis.py",
        "test_my_app_scripted.py",
        "pyproject.toml",
        "conftest.py",
    }


def test_the_example_project_passes(pytester: pytest.Pytester) -> None:
    for name, text in example_files().items():
        pytester.path.joinpath(name).write_text(text)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", timeout=SESSION_TIMEOUT
    )
    # 1 quick-start test, 5 for the agent, 2 x 2 on both APIs, 2 scripted.
    result.assert_outcomes(passed=12)
