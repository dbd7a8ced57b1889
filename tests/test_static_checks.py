"""The tree stays clean: ruff, mypy and the layering contract run as tests."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.live_server import ROOT

BIN = Path(sys.executable).parent
#: Subpackages of echo_model that belong to the model library (not serving,
#: not the pytest plugin in testing/).
MODEL_SUBPACKAGES = ("fixtures",)


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


def test_the_contract_covers_every_model_module() -> None:
    # A new model module must join the contract, or nothing checks its imports.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = config["tool"]["importlinter"]["contracts"][0]
    modules = {
        f"echo_model.{path.stem}"
        for path in (ROOT / "echo_model").glob("*.py")
        if path.stem != "__init__"
    }
    # The model library's own subpackages (fixtures): the package and each module.
    for package in MODEL_SUBPACKAGES:
        modules.add(f"echo_model.{package}")
        modules |= {
            f"echo_model.{package}.{path.stem}"
            for path in (ROOT / "echo_model" / package).glob("*.py")
            if path.stem != "__init__"
        }
    assert modules == set(contract["source_modules"])
