"""The tree stays clean: ruff, mypy and the layering contract run as tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live_server import ROOT

BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    "command",
    [
        ("-m", "ruff", "check", "."),
        ("-m", "ruff", "format", "--check", "."),
        ("-m", "mypy"),
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_static_check(command: tuple[str, ...]) -> None:
    result = run(sys.executable, *command)
    assert result.returncode == 0, result.stdout + result.stderr


def test_model_layer_never_imports_the_serving_layer() -> None:
    # import-linter reads the contract from pyproject.toml.
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout
