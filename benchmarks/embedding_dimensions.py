"""How retrieval with EchoEmbeddings falls off as ``dimensions`` shrinks.

Run: ``python -m benchmarks.embedding_dimensions``. Offline and deterministic:
the corpus is the first paragraph of the docstrings of public functions and
classes in a fixed list of standard-library modules (so the figures depend
on the Python version only). Each document with at least ``MIN_WORDS`` content
words is queried ``--rounds`` times by ``QUERY_WORDS`` of its own content
words, drawn with a fixed seed; a hit is the document scoring strictly above
every other one.
Recall@1 at each size is printed beside the size's loss against 65536
dimensions, where collisions are negligible.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import random

from echo_model.embeddings import MAX_DIMENSIONS, embed_text, words

MODULES = [
    "argparse", "asyncio", "base64", "bisect", "calendar", "collections",
    "csv", "datetime", "decimal", "difflib", "email.utils", "fractions",
    "functools", "glob", "gzip", "hashlib", "heapq", "html", "http.client",
    "inspect", "io", "ipaddress", "itertools", "json", "logging", "math",
    "os", "os.path", "pathlib", "pickle", "pprint", "queue", "random", "re",
    "secrets", "shlex", "shutil", "socket", "statistics", "string",
    "subprocess", "tarfile", "tempfile", "textwrap", "threading", "time",
    "typing", "unittest", "urllib.parse", "uuid", "zipfile", "zlib",
]  # fmt: skip
MIN_WORDS = 8
QUERY_WORDS = 3
SIZES = [32, 64, 128, 256, 384, 512, 768, 1024, 2048, 4096, MAX_DIMENSIONS]


def corpus() -> list[str]:
    """The first paragraph of each distinct public docstring, in a fixed order."""
    seen: dict[str, None] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in sorted(vars(module)):
            value = getattr(module, attr)
            if attr.startswith("_") or not callable(value):
                continue
            doc = inspect.getdoc(value) or ""
            paragraph = " ".join(doc.split("\n\n")[0].split())
            if len(set(words(paragraph))) >= MIN_WORDS:
                seen.setdefault(paragraph)
    return list(seen)


def queries(documents: list[str], seed: int, rounds: int) -> list[tuple[int, str]]:
    """``rounds`` queries per document: its index and ``QUERY_WORDS`` of its words."""
    draw = random.Random(seed)  # noqa: S311 - a fixed draw, not a secret
    return [
        (own, " ".join(draw.sample(sorted(set(words(doc))), QUERY_WORDS)))
        for _ in range(rounds)
        for own, doc in enumerate(documents)
    ]


def sparse(vector: list[float]) -> dict[int, float]:
    return {i: x for i, x in enumerate(vector) if x}


def recall_at_1(
    documents: list[str], asked: list[tuple[int, str]], dimensions: int
) -> float:
    """The share of queries whose own document scores strictly highest."""
    vectors = [sparse(embed_text(doc, dimensions)) for doc in documents]
    hits = 0
    for own, query in asked:
        q = sparse(embed_text(query, dimensions))
        scores = [sum(x * v.get(i, 0.0) for i, x in q.items()) for v in vectors]
        best = max(scores)
        hits += scores[own] == best and scores.count(best) == 1
    return hits / len(asked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    documents = corpus()
    asked = queries(documents, args.seed, args.rounds)
    print(f"{len(documents)} documents, {len(asked)} queries of {QUERY_WORDS} words")
    results = {size: recall_at_1(documents, asked, size) for size in SIZES}
    reference = results[MAX_DIMENSIONS]
    print("dimensions  recall@1  loss vs 65536")
    for size, recall in results.items():
        print(f"{size:>10}  {recall:8.3f}  {reference - recall:+.3f}")


if __name__ == "__main__":
    main()
