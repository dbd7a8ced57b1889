"""Every figure the docs quote is the one in docs/figures.json (fast, no run).

``python -m benchmarks`` writes the file and rewrites the quotes; a quote is the
figure's text followed by ``<!-- fig:KEY -->`` (``benchmarks/results.py``).
"""

from __future__ import annotations

import re

import pytest

from benchmarks import results

REPORT = results.read()


def test_the_results_file_says_how_and_where_it_was_made() -> None:
    assert REPORT["command"] == "python -m benchmarks"
    assert REPORT["quick"] is False
    machine = REPORT["machine"]
    assert machine["cpu_model"]
    assert machine["cores"] >= 1
    assert len(machine["load_average_before"]) == 3
    assert len(machine["load_average_after"]) == 3
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", REPORT["commit"])
    assert {"python", "langserve", "langchain-core", "fastapi"} <= set(
        REPORT["versions"]
    )


@pytest.mark.parametrize("path", results.DOCUMENTS, ids=lambda p: p.name)
def test_every_quoted_figure_is_the_file_s(path: object) -> None:
    figures = REPORT["figures"]
    for key, text in results.quotes(path.read_text()):  # type: ignore[attr-defined]
        assert key in figures, f"{path}: {key} is not in docs/figures.json"
        assert text == figures[key]["text"], f"{path}: {key}"


def test_the_speed_figures_live_in_performance_md() -> None:
    quoted = {p.name: len(results.quotes(p.read_text())) for p in results.DOCUMENTS}
    assert quoted["performance.md"] >= 40
    for name in ("README.md", "deploy.md", "latency.md"):
        path = next(p for p in results.DOCUMENTS if p.name == name)
        assert "performance.md" in path.read_text(), f"{name} must link to it"


def test_the_run_date_and_load_are_quoted_with_the_figures() -> None:
    text = (results.ROOT / "docs" / "performance.md").read_text()
    assert REPORT["date"][:10] in text
    assert REPORT["commit"][:10] in text


def test_a_quote_is_rewritten_from_the_file() -> None:
    text = "served 1<!-- fig:a.rps --> req/s, 0.5<!-- fig:a.x -->x"
    assert results.quotes(text) == [("a.rps", "1"), ("a.x", "0.5")]
    figures = {"a.rps": {"value": 4020.0, "text": "4,020"}}
    assert results.rewrite(text, figures) == (
        "served 4,020<!-- fig:a.rps --> req/s, 0.5<!-- fig:a.x -->x",
        ["a.x"],
    )
