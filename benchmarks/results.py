"""The results file every published figure comes from, and the docs' quotes of it.

``python -m benchmarks`` writes ``docs/figures.json``: when and where it ran
(date, CPU model, cores, load average before and after, library versions, git
commit) and every figure, each as its value and the text the docs print. The
docs quote a figure as its text followed by a marker naming its key::

    served 4,020<!-- fig:openai.v1.rps --> req/s

The marker is an HTML comment, so it does not show on a rendered page.
``update_documents`` rewrites each quoted text from the file, and
``tests/test_figures.py`` checks that every quote equals the file, so a figure
in the docs cannot drift from the run that measured it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures.json"
#: The documents that may quote figures.
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: A quote: the figure's text (no spaces), then its marker.
QUOTE = re.compile(r"(?P<text>[^\s|(]+)<!-- fig:(?P<key>[\w.\-]+) -->")
LIBRARIES = [
    "langchain-core",
    "langserve",
    "fastapi",
    "starlette",
    "uvicorn",
    "sse-starlette",
    "pydantic",
    "openai",
    "anthropic",
]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    """The checkout's commit, with ``-dirty`` if tracked files were changed."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    """Python's and the serving stack's versions."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def fmt(value: float, spec: str) -> str:
    """Render ``value`` as the docs print it (``spec`` is a format spec)."""
    return format(value, spec)


@dataclass
class Figures:
    """Figures collected during a run, by key: value and printed text."""

    quick: bool = False
    started: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    load_before: list[float] = field(default_factory=load_average)
    #: The commit measured, read when the run starts.
    commit: str = field(default_factory=git_commit)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, key: str, value: float, spec: str = ",.0f") -> None:
        """Record one figure, printed with ``spec`` (thousands separated by default)."""
        self.values[key] = {"value": value, "text": fmt(value, spec)}

    def report(self, command: str) -> dict[str, Any]:
        """The results file's content: how the run was made, then the figures."""
        return with_run_figures(
            {
                "command": command,
                "quick": self.quick,
                "date": self.started,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {
                    "cpu_model": cpu_model(),
                    "cores": os.cpu_count(),
                    "cores_usable": len(os.sched_getaffinity(0)),
                    "platform": platform.platform(),
                    "load_average_before": self.load_before,
                    "load_average_after": load_average(),
                },
                "versions": versions(),
                "commit": self.commit,
                "figures": dict(sorted(self.values.items())),
            }
        )


def with_run_figures(report: dict[str, Any]) -> dict[str, Any]:
    """Add how the run was made as quotable figures (``run.*``): text, no value."""
    machine = report["machine"]
    run = {
        "run.date": report["date"][:10],
        "run.time": report["date"][11:16] + "-" + report["finished"][11:16],
        "run.commit": report["commit"][:10],
        "run.cores": str(machine["cores"]),
        "run.load_before": f"{machine['load_average_before'][0]:.1f}",
        "run.load_after": f"{machine['load_average_after'][0]:.1f}",
    }
    figures = report["figures"] | {
        k: {"value": None, "text": v} for k, v in run.items()
    }
    return report | {"figures": dict(sorted(figures.items()))}


def read(path: Path = FIGURES) -> dict[str, Any]:
    """The results file."""
    return json.loads(path.read_text())


def write(report: dict[str, Any], path: Path = FIGURES) -> None:
    """Write the results file."""
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")


def quotes(text: str) -> list[tuple[str, str]]:
    """Every quoted figure in ``text``: (key, the text printed)."""
    return [(m["key"], m["text"]) for m in QUOTE.finditer(text)]


def rewrite(text: str, figures: dict[str, Any]) -> tuple[str, list[str]]:
    """``text`` with every quote set from ``figures``, and the keys it lacks."""
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        entry = figures.get(match["key"])
        if entry is None:
            unknown.append(match["key"])
            return match[0]
        return f"{entry['text']}<!-- fig:{match['key']} -->"

    return QUOTE.sub(replace, text), unknown


def update_documents(figures: dict[str, Any]) -> list[str]:
    """Rewrite every quote in the documents from ``figures``; return unknown keys."""
    unknown: list[str] = []
    for path in DOCUMENTS:
        text = path.read_text()
        updated, missing = rewrite(text, figures)
        unknown += missing
        if updated != text:
            path.write_text(updated)
    return unknown


@dataclass(frozen=True)
class Check:
    """One target of a benchmark, and whether this run met it.

    Attributes:
        name: What is compared.
        value: This run's value.
        goal: The target, as printed (``">= 1.5x"``).
        met: Whether ``value`` meets it.
    """

    name: str
    value: float
    goal: str
    met: bool
