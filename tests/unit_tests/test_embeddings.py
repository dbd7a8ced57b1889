"""EchoEmbeddings: LangChain's standard suites, the scheme's properties, retrieval."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from pydantic import ValidationError

from echo_model import EchoChatModel, EchoEmbeddings
from echo_model.embeddings import (
    DEFAULT_DIMENSIONS,
    MAX_DIMENSIONS,
    _ln,
    count_tokens,
    embed_text,
    text_features,
    words,
)
from tests.support.live_server import ROOT

texts = st.text(max_size=60)
# In the texts below, "\uff26\uff35\uff2c\uff2c" is FULL in full-width letters.
batches = st.lists(texts, max_size=6)


def digest(vector: list[float]) -> str:
    """The first 16 hex digits of SHA-256 over the vector as little-endian doubles."""
    packed = struct.pack(f"<{len(vector)}d", *vector)
    return hashlib.sha256(packed).hexdigest()[:16]


def dot(x: list[float], y: list[float]) -> float:
    return math.fsum(a * b for a, b in zip(x, y, strict=True))


# --- LangChain's standard suites (the integration one runs in process: no network)


class TestEchoEmbeddingsStandardUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[EchoEmbeddings]:
        return EchoEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"dimensions": 64}


class TestEchoEmbeddingsStandardIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[EchoEmbeddings]:
        return EchoEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"dimensions": 64}


# --- Properties ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(text=texts)
def test_a_text_embeds_the_same_every_time_as_a_unit_vector(text: str) -> None:
    vector = EchoEmbeddings().embed_query(text)
    assert vector == EchoEmbeddings().embed_query(text)
    assert len(vector) == DEFAULT_DIMENSIONS
    assert all(type(x) is float for x in vector)
    assert math.sqrt(dot(vector, vector)) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(batch=batches, extra=batches)
def test_a_vector_never_depends_on_its_batch(batch: list[str], extra: list[str]):
    model = EchoEmbeddings(dimensions=128)
    alone = [model.embed_query(text) for text in batch]
    assert model.embed_documents(batch) == alone
    assert model.embed_documents(extra + batch)[len(extra) :] == alone
    assert model.embed_documents(batch[::-1]) == alone[::-1]


@settings(max_examples=100, deadline=None)
@given(text=texts, dimensions=st.integers(1, 4096))
def test_dimensions_are_honoured(text: str, dimensions: int) -> None:
    model = EchoEmbeddings(dimensions=dimensions)
    vector = model.embed_query(text)
    assert len(vector) == dimensions
    assert vector == embed_text(text, dimensions)
    assert model.embed_documents([text]) == [vector]
    assert math.sqrt(dot(vector, vector)) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(batch=batches)
def test_async_equals_sync(batch: list[str]) -> None:
    model = EchoEmbeddings(dimensions=64)

    async def both() -> tuple[list[list[float]], list[list[float]]]:
        return (
            await model.aembed_documents(batch),
            [await model.aembed_query(text) for text in batch],
        )

    documents, queries = asyncio.run(both())
    assert documents == queries == model.embed_documents(batch)


async def test_async_is_native_not_a_thread_hop() -> None:
    # Embeddings' default async runs the sync method in an executor.
    assert EchoEmbeddings.aembed_documents is not Embeddings.aembed_documents
    assert EchoEmbeddings.aembed_query is not Embeddings.aembed_query
    model = EchoEmbeddings()
    assert await model.aembed_query("cat") == model.embed_query("cat")


def test_the_model_name_never_changes_a_vector() -> None:
    text = "any text at all"
    assert (
        EchoEmbeddings(model="a").embed_query(text)
        == EchoEmbeddings(model="text-embedding-3-small").embed_query(text)
        == embed_text(text)
    )


# --- Same bits in every process ----------------------------------------------------

CROSS_PROCESS_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé \uff26\uff35\uff2c\uff2c-width ﬁne 東京 🦜",
    "cat cat cat dog",
    "",
]
CROSS_PROCESS_SCRIPT = """
import hashlib, json, struct, sys
import echo_model
assert "langchain_core" not in sys.modules  # the export stays lazy
from echo_model import EchoEmbeddings
texts = json.loads(sys.argv[1])
out = []
for dims in (7, 512):
    for v in EchoEmbeddings(dimensions=dims).embed_documents(texts):
        out.append(hashlib.sha256(struct.pack(f"<{len(v)}d", *v)).hexdigest())
print(json.dumps(out))
"""


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_another_process_with_another_hash_seed_gets_the_same_bits(
    hash_seed: str,
) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run(
        [sys.executable, "-c", CROSS_PROCESS_SCRIPT, json.dumps(CROSS_PROCESS_TEXTS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    expected = [
        hashlib.sha256(struct.pack(f"<{len(v)}d", *v)).hexdigest()
        for dims in (7, 512)
        for v in EchoEmbeddings(dimensions=dims).embed_documents(CROSS_PROCESS_TEXTS)
    ]
    assert json.loads(result.stdout) == expected


# --- The scheme, pinned ------------------------------------------------------------

GOLDEN = {
    # text: (digest at 512 dimensions, digest at 64)
    "The quick brown fox jumps over the lazy dog.": (
        "b74233c87e3adaf1",
        "979e9d36565fb665",
    ),
    "": ("b8c1afada3067587", "3da528aa8ac04e5b"),
    "Ünïcödé \uff26\uff35\uff2c\uff2c-width ﬁne 東京": (
        "257bb939d786ab5c",
        "45448ef6e1e9f2cb",
    ),
    "!!!": ("6df714c71bcb1e63", "ebb69da094ed5736"),
    # repeats: 1 + ln 3 by the scheme's own ln, one unit in the last place off libm's
    "cat cat cat dog": ("315057a267a9f606", "491fd16060bc6c6f"),
}


@pytest.mark.parametrize("text", list(GOLDEN))
def test_golden_vectors(text: str) -> None:
    # A change here is a change of scheme: bump SCHEME and say so in the docs.
    assert (digest(embed_text(text)), digest(embed_text(text, 64))) == GOLDEN[text]


def test_golden_small_vector_in_full() -> None:
    a, b = 0.10425720702853739, 0.20851441405707477
    assert embed_text("hello world", 16) == [
        a, -a, -a, 0.0, 0.0, 0.0, a, -0.6255432421712244,
        0.5212860351426869, -a, -b, 0.0, -a, -b, -0.41702882811414954, a,
    ]  # fmt: skip


def test_features_weigh_one_plus_log_of_their_count_by_kind() -> None:
    features = text_features("the cat sat, the cat ran")
    exact = pytest.approx  # the scheme's own ln may differ from libm's in the last bit
    assert features[("w", "cat")] == exact(1.0 + math.log(2), rel=1e-15)
    assert features[("w", "sat")] == 1.0
    assert features[("b", "cat sat")] == 0.5
    assert features[("b", "sat cat")] == 0.5
    assert features[("c", "<ca")] == exact(0.25 * (1.0 + math.log(2)), rel=1e-15)
    # "at>" ends cat, sat and cat again
    assert features[("c", "at>")] == exact(0.25 * (1.0 + math.log(3)), rel=1e-15)
    assert ("w", "the") not in features  # a stop word
    assert list(features)[:3] == [("w", "cat"), ("c", "<ca"), ("c", "cat")]


def test_the_log_is_the_platforms_to_one_unit_in_the_last_place() -> None:
    for n in [*range(1, 5000), 2**20 + 1, 10**9 + 7, 2**53]:
        assert _ln(n) == pytest.approx(math.log(n), rel=2.3e-16, abs=0)


def test_stop_words_are_dropped_unless_nothing_else_is_left() -> None:
    assert words("The Cat of the house") == ["cat", "house"]
    assert words("to be or not to be") == ["not"]
    assert words("to be, or to be") == ["to", "be", "or", "to", "be"]
    assert embed_text("the cat") == embed_text("cat")
    assert embed_text("the") != embed_text("a")


def test_words_are_normalised_and_punctuation_alone_still_counts() -> None:
    assert words("\uff26\uff35\uff2c\uff2c ﬁne STRASSE Straße") == [
        "full",
        "fine",
        "strasse",
        "strasse",
    ]
    assert embed_text("Hello, WORLD!") == embed_text("hello world")
    assert words("?! :-)") == ["?!", ":-)"]
    assert embed_text(":-)") != embed_text(":-(")


def test_word_order_matters_through_bigrams() -> None:
    assert embed_text("new york") != embed_text("york new")
    assert dot(embed_text("new york"), embed_text("york new")) > 0.8


def test_an_empty_or_blank_text_is_one_fixed_unit_vector() -> None:
    empty = embed_text("")
    assert embed_text("   \n\t") == empty
    assert sorted(abs(x) for x in empty) == [0.0] * (DEFAULT_DIMENSIONS - 1) + [1.0]
    assert abs(dot(empty, embed_text("hello world"))) < 0.2


def test_every_feature_cancelling_out_still_gives_a_unit_vector() -> None:
    # At one dimension every feature lands on index 0, with signs that can cancel.
    for text in ["a b", "ab", "cat dog", "x"]:
        assert embed_text(text, 1) in ([1.0], [-1.0])


@pytest.mark.parametrize("dimensions", [0, -1, MAX_DIMENSIONS + 1, True, "512", 2.0])
def test_dimensions_out_of_range_are_refused(dimensions: object) -> None:
    with pytest.raises(ValidationError):
        EchoEmbeddings(dimensions=dimensions)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        embed_text("x", dimensions)  # type: ignore[arg-type]


def test_the_largest_dimensions_work() -> None:
    assert len(EchoEmbeddings(dimensions=MAX_DIMENSIONS).embed_query("x")) == 65536


@pytest.mark.parametrize("text", ["", "hello", "Ünïcödé 🦜", "a\nb"])
def test_tokens_are_counted_as_the_chat_model_counts_them(text: str) -> None:
    usage = EchoChatModel().invoke(text or " ").usage_metadata
    assert usage is not None
    assert count_tokens(text or " ") == usage["input_tokens"]
    assert count_tokens(text) == len(text)


# --- Retrieval -----------------------------------------------------------------------

CORPUS = [
    "Cats purr when they are content and sleep most of the day.",
    "Dogs bark at strangers and love long walks in the park.",
    "The stock market fell sharply after the interest rate announcement.",
    "Photosynthesis lets plants turn sunlight and water into sugar.",
    "A retriever fetches relevant documents for a language model prompt.",
    "Volcanoes erupt when magma pressure builds beneath the crust.",
]
QUERIES = {
    "why do cats purr": 0,
    "which animal barks at strangers": 1,
    "interest rate and the stock market": 2,
    "how do plants use sunlight": 3,
    "retrievers for language models": 4,  # inflections: character n-grams
    "what makes a volcano erupt": 5,
    "magma": 5,
    "phototsynthesis": 3,  # a typo
}


@pytest.mark.parametrize(("query", "expected"), list(QUERIES.items()))
def test_the_document_sharing_the_querys_words_ranks_first(
    query: str, expected: int
) -> None:
    store = InMemoryVectorStore.from_texts(CORPUS, embedding=EchoEmbeddings())
    found = store.similarity_search_with_score(query, k=2)
    assert found[0][0].page_content == CORPUS[expected]
    assert found[0][1] > found[1][1]


def test_deterministic_fake_embedding_ranks_at_random_where_echo_does_not() -> None:
    def hits(embedding: Embeddings) -> int:
        store = InMemoryVectorStore.from_texts(CORPUS, embedding=embedding)
        return sum(
            store.similarity_search(query, k=1)[0].page_content == CORPUS[expected]
            for query, expected in QUERIES.items()
        )

    assert hits(EchoEmbeddings()) == len(QUERIES)
    assert hits(DeterministicFakeEmbedding(size=DEFAULT_DIMENSIONS)) <= 3


async def test_async_retrieval_ranks_the_same() -> None:
    store = await InMemoryVectorStore.afrom_texts(CORPUS, embedding=EchoEmbeddings())
    for query, expected in QUERIES.items():
        found = await store.asimilarity_search(query, k=1)
        assert found[0].page_content == CORPUS[expected]
