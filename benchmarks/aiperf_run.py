"""NVIDIA's aiperf against this server: ``python -m benchmarks.aiperf_run``.

aiperf is the load tool NVIDIA uses on vLLM and its other inference servers;
it measures what a user of a streaming LLM endpoint sees (time to first and
second token, inter-token latency, output lengths) and scrapes the server's
``/metrics`` beside it. This script runs it against ``python server.py`` on
127.0.0.1: 200 streamed ``/v1/chat/completions`` requests, 16 at a time, each
asking (per request, through ``--extra-inputs``) for its first token after
50 ms and one token every 10 ms, 100 output tokens from a 120-token prompt.

aiperf lives in a virtual environment of its own (it is not a dependency of
this project)::

    python3 -m venv /tmp/aiperf && /tmp/aiperf/bin/pip install aiperf
    AIPERF=/tmp/aiperf/bin/aiperf python -m benchmarks.aiperf_run

aiperf counts tokens with a Hugging Face tokenizer. Offline, this script
builds one whose token is one character, as this model's is (a ``tokenizers``
WordLevel vocabulary over printable characters, each character split alone,
saved with ``transformers``), with the Python of aiperf's environment, which
has both libraries. ``HF_HUB_OFFLINE`` must stay unset: with it, aiperf takes
the tokenizer's path for a hub id.

The report parses aiperf's exports (``profile_export_aiperf.json``,
``server_metrics_export.json``) and checks the issue's acceptance: ITL about
the asked 10 ms, time to second token p5 at least 0.8 times the asked ITL, every
output exactly as long as asked, and the server's own ``vllm:*`` ITL agreeing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.results import Check
from tests.support.processes import serve

#: The environment variable naming the ``aiperf`` executable (else: PATH).
AIPERF_ENV = "AIPERF"
ECHO = ["{python}", "server.py", "--port", "{port}", "--log-level", "warning"]
PROFILE_EXPORT = "profile_export_aiperf.json"
SERVER_EXPORT = "server_metrics_export.json"

#: Builds the character tokenizer; run by aiperf's Python, argv[1] = the folder.
TOKENIZER_SCRIPT = """
import string
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

vocab = {"[UNK]": 0}
for char in string.printable:
    vocab.setdefault(char, len(vocab))
tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tokenizer.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
tokenizer.decoder = decoders.Fuse()
fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]")
fast.save_pretrained(sys.argv[1])
assert len(fast.encode("hello world")) == 11
"""


@dataclass(frozen=True)
class Plan:
    """What aiperf is asked to do."""

    requests: int = 200
    concurrency: int = 16
    first_token_delay: float = 0.050
    token_delay: float = 0.010
    input_tokens: int = 120
    #: Shorter than the prompt: the echo is cut at ``max_tokens``, so every
    #: reply should be exactly this long.
    output_tokens: int = 100

    def extra_inputs(self) -> str:
        """The per-request options, as aiperf's ``--extra-inputs`` JSON."""
        return json.dumps(
            {
                "echo": {
                    "first_token_delay": self.first_token_delay,
                    "token_delay": self.token_delay,
                }
            }
        )


@dataclass(frozen=True)
class Distribution:
    """One of aiperf's per-request metrics: its unit and statistics."""

    unit: str
    avg: float
    min: float
    p5: float
    p50: float
    p99: float
    max: float
    count: int


@dataclass
class AiperfResult:
    """What aiperf measured, and the server's ``vllm:*`` series it scraped."""

    ttft: Distribution
    ttst: Distribution
    itl: Distribution
    output_length: Distribution
    input_length: Distribution
    request_throughput: float
    requests: int
    errors: int
    #: ``vllm:*`` metric name -> statistic -> value (summed over labels).
    server: dict[str, dict[str, float]] = field(default_factory=dict)


def find_aiperf(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The ``aiperf`` executable: ``$AIPERF``, else on PATH, else None."""
    named = environ.get(AIPERF_ENV) or shutil.which("aiperf", path=environ.get("PATH"))
    if named and Path(named).is_file():
        return Path(named)
    return None


def build_tokenizer(aiperf: Path, folder: Path) -> None:
    """Save the character tokenizer in ``folder`` with aiperf's own Python."""
    python = aiperf.parent / "python"
    subprocess.run(
        [str(python), "-c", TOKENIZER_SCRIPT, str(folder)],
        check=True,
        capture_output=True,
    )


def aiperf_command(
    aiperf: Path, url: str, tokenizer: Path, artifacts: Path, plan: Plan
) -> list[str]:
    """The aiperf command line for ``plan`` against the server at ``url``."""
    return [
        str(aiperf),
        "profile",
        "--model",
        "echo",
        "--url",
        url,
        "--endpoint-type",
        "chat",
        "--streaming",
        "--tokenizer",
        str(tokenizer),
        "--request-count",
        str(plan.requests),
        "--concurrency",
        str(plan.concurrency),
        "--synthetic-input-tokens-mean",
        str(plan.input_tokens),
        "--synthetic-input-tokens-stddev",
        "0",
        "--output-tokens-mean",
        str(plan.output_tokens),
        "--output-tokens-stddev",
        "0",
        "--extra-inputs",
        plan.extra_inputs(),
        "--random-seed",
        "1",
        "--artifact-dir",
        str(artifacts),
        "--ui-type",
        "none",
    ]


def _distribution(entry: Mapping[str, Any]) -> Distribution:
    return Distribution(
        unit=str(entry["unit"]),
        avg=float(entry["avg"]),
        min=float(entry["min"]),
        p5=float(entry["p5"]),
        p50=float(entry["p50"]),
        p99=float(entry["p99"]),
        max=float(entry["max"]),
        count=int(entry["count"]),
    )


def parse_profile(data: Mapping[str, Any]) -> AiperfResult:
    """Read aiperf's summary export (``profile_export_aiperf.json``)."""
    # Failed requests are listed by kind, each with its count.
    errors = sum(int(entry["count"]) for entry in data.get("error_summary", []))
    return AiperfResult(
        ttft=_distribution(data["time_to_first_token"]),
        ttst=_distribution(data["time_to_second_token"]),
        itl=_distribution(data["inter_token_latency"]),
        output_length=_distribution(data["output_sequence_length"]),
        input_length=_distribution(data["input_sequence_length"]),
        request_throughput=float(data["request_throughput"]["avg"]),
        requests=int(data["request_count"]["avg"]),
        errors=errors,
    )


def parse_server_metrics(data: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The ``vllm:*`` series of aiperf's ``server_metrics_export.json``.

    Counters give their increase over the run (``total``); histograms their
    ``count`` and ``sum`` (and so ``avg``); gauges their ``avg`` and ``max``
    over aiperf's scrapes. Series of one metric (labels such as
    ``finished_reason``) are summed, maxima taken.
    """
    found: dict[str, dict[str, float]] = {}
    for name, metric in data["metrics"].items():
        if not name.startswith("vllm:"):
            continue
        kind = metric["type"]
        summary: dict[str, float] = {}
        for series in metric["series"]:
            stats = series["stats"]
            if kind == "counter":
                summary["total"] = summary.get("total", 0.0) + stats["total"]
            elif kind == "histogram":
                summary["count"] = summary.get("count", 0.0) + stats["count"]
                summary["sum"] = summary.get("sum", 0.0) + stats["sum"]
            elif kind == "gauge":
                # One series per model here: its average over the scrapes.
                summary["avg"] = summary.get("avg", 0.0) + stats["avg"]
                summary["max"] = max(summary.get("max", 0.0), stats["max"])
        if kind == "histogram" and summary.get("count"):
            summary["avg"] = summary["sum"] / summary["count"]
        found[name] = summary
    return found


def read_exports(artifacts: Path) -> AiperfResult:
    """Parse the exports aiperf wrote into ``artifacts``."""
    result = parse_profile(json.loads((artifacts / PROFILE_EXPORT).read_text()))
    server = artifacts / SERVER_EXPORT
    if server.exists():
        result.server = parse_server_metrics(json.loads(server.read_text()))
    return result


def checks(result: AiperfResult, plan: Plan) -> list[Check]:
    """The issue's acceptance: pacing as asked, exact lengths, metrics agreeing."""
    itl_ms = plan.token_delay * 1e3
    itl_error = abs(result.itl.p50 / itl_ms - 1)
    ttst_ratio = result.ttst.p5 / itl_ms
    lengths = result.output_length
    exact = lengths.min == lengths.max == plan.output_tokens
    # aiperf scrapes /metrics every few hundred ms over its profiling phase
    # only, so the server's counters miss the run's edges: compare the
    # server's own mean ITL, not its totals.
    server_itl = result.server.get("vllm:inter_token_latency_seconds", {})
    server_error = abs(server_itl.get("avg", 0.0) / plan.token_delay - 1)
    ok = result.requests == plan.requests
    return [
        Check("requests completed", result.requests, f"== {plan.requests}", ok),
        Check("request errors", result.errors, "== 0", result.errors == 0),
        Check("ITL p50 vs asked, relative", itl_error, "<= 0.10", itl_error <= 0.10),
        Check(
            "time to 2nd token p5 / asked ITL", ttst_ratio, ">= 0.8", ttst_ratio >= 0.8
        ),
        Check(
            "output length min = max (tokens)",
            lengths.max,
            f"== {plan.output_tokens}",
            exact,
        ),
        Check(
            "server's ITL mean vs asked, relative",
            server_error,
            "<= 0.10",
            server_error <= 0.10,
        ),
    ]


def print_report(result: AiperfResult, results: list[Check]) -> None:
    """Print aiperf's figures, the server's, and the acceptance checks."""
    print(f"{'metric':<26}{'min':>9}{'p5':>9}{'p50':>9}{'p99':>9}{'max':>9}")
    rows = [
        ("TTFT ms", result.ttft),
        ("time to 2nd token ms", result.ttst),
        ("ITL ms (per request)", result.itl),
        ("output length tokens", result.output_length),
        ("input length tokens", result.input_length),
    ]
    for name, d in rows:
        print(
            f"{name:<26}{d.min:>9.2f}{d.p5:>9.2f}{d.p50:>9.2f}{d.p99:>9.2f}"
            f"{d.max:>9.2f}"
        )
    print(
        f"\nrequests {result.requests}, errors {result.errors},"
        f" {result.request_throughput:.2f} requests/s"
    )
    print("\nthe server's /metrics over the run, as aiperf scraped it:")
    for name, stats in sorted(result.server.items()):
        shown = ", ".join(f"{key} {value:.4g}" for key, value in stats.items())
        print(f"  {name}: {shown}")
    print(f"\n{'acceptance':<36}{'this run':>10}  goal")
    for check in results:
        mark = "met" if check.met else "NOT met"
        print(f"{check.name:<36}{check.value:>10.3f}  {check.goal:<10} {mark}")


def run(aiperf: Path, plan: Plan = Plan(), keep: Path | None = None) -> AiperfResult:
    """Build the tokenizer, start the server, run aiperf, parse its exports.

    Args:
        aiperf: The ``aiperf`` executable (its folder holds its Python).
        plan: The requests, concurrency and pacing to ask for.
        keep: A folder to keep aiperf's artifacts in (default: a temporary one).

    Raises:
        RuntimeError: aiperf failed (with the end of its output).
    """
    with tempfile.TemporaryDirectory(prefix="aiperf-run-") as scratch:
        tokenizer = Path(scratch) / "tokenizer"
        artifacts = keep or Path(scratch) / "artifacts"
        build_tokenizer(aiperf, tokenizer)
        with serve(ECHO) as server:
            command = aiperf_command(aiperf, server.url, tokenizer, artifacts, plan)
            env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, check=False
            )
        if done.returncode != 0 or not (artifacts / PROFILE_EXPORT).exists():
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            msg = f"aiperf failed ({done.returncode}):\n{tail}"
            raise RuntimeError(msg)
        return read_exports(artifacts)


def main(argv: Sequence[str] | None = None) -> AiperfResult | None:
    """Run aiperf as the issue asks and print the report (None: no aiperf)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aiperf", type=Path, help=f"aiperf (default: ${AIPERF_ENV})")
    parser.add_argument("--requests", type=int, default=Plan.requests)
    parser.add_argument("--concurrency", type=int, default=Plan.concurrency)
    parser.add_argument("--keep", type=Path, help="keep aiperf's artifacts here")
    args = parser.parse_args(argv)
    aiperf = args.aiperf or find_aiperf()
    if aiperf is None:
        print(f"aiperf not found: install it in a venv of its own, set ${AIPERF_ENV}")
        return None
    plan = Plan(requests=args.requests, concurrency=args.concurrency)
    result = run(aiperf, plan, args.keep)
    print_report(result, checks(result, plan))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 2)
