"""The tree stays clean: ruff, mypy and the layering contract run as tests."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
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


def test_import_contracts_are_kept() -> None:
    # import-linter reads the contracts from pyproject.toml: the model library
    # never imports the serving side; the serving layers (composition root ->
    # protocols -> core); protocols never import each other.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout
    assert len(contracts) >= 3


def import_cycles(package: str) -> list[list[str]]:
    """Return the import cycles among ``package``'s modules (Tarjan's SCCs)."""
    graph = grimp.build_graph(package)
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def test_no_module_of_echo_model_is_in_an_import_cycle() -> None:
    # A package's __init__ importing its own submodules is not a cycle of
    # layers; every other import runs one way.
    cycles = [
        [m for m in cycle if not _is_init_of(m, cycle)]
        for cycle in import_cycles("echo_model")
    ]
    assert [c for c in cycles if len(c) > 1] == []


def _is_init_of(module: str, cycle: list[str]) -> bool:
    return any(other.startswith(module + ".") for other in cycle)


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    # The check above must be able to fail: two modules importing each other.
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circle import b\n")
    (package / "b.py").write_text("from circle import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert import_cycles("circle") == [["circle.a", "circle.b"]]
    finally:
        sys.path.remove(str(tmp_path))


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
