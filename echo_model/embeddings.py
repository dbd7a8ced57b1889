r"""EchoEmbeddings: deterministic lexical embeddings, no model and no download.

A text's vector is built by *feature hashing* (the "hashing trick"), so texts
that share words are close and texts that share nothing are nearly orthogonal:
retrieval over these vectors behaves like a small lexical retriever, and the
same text gives bit-for-bit the same vector in every process, on every machine.

The scheme, version 1 (``SCHEME``), step by step:

1. **Normalise.** Unicode NFKC, then ``str.casefold()``.
2. **Words.** The runs of word characters (``\w+``). A text with none (only
   punctuation or symbols) uses its whitespace-separated pieces instead.
3. **Stop words.** Words in ``STOP_WORDS`` (27 very common English function
   words such as "the", "a", "of") are dropped, unless that would leave no
   word at all: then every word is kept, so "to be or not to be" still has a
   vector of its own.
4. **Features**, of three kinds, each with a weight (``KIND_WEIGHTS``):

   - ``w``: each word (unigram), weight 1.0;
   - ``b``: each pair of neighbouring words after step 3 (bigram), weight 0.5;
   - ``c``: the character 3-, 4- and 5-grams of each word padded as
     ``<word>``, weight 0.25 (about 15 of them per 6-letter word, so a word's
     n-grams weigh about as much as the word itself; they make inflections and
     typos such as "retriever"/"retrieval" land near each other).

   A text with no feature at all (empty, or only whitespace) has one feature,
   ``e`` (the empty text), weight 1.0, so its vector is a fixed unit vector.
5. **Term weight.** A feature seen ``tf`` times in the text weighs
   ``kind weight * (1 + ln tf)`` (sub-linear, so repeating a word does not
   drown the rest of the text).
6. **Signed hashing.** The feature's key, ``kind + "\x00" + feature`` in
   UTF-8 (lone surrogates passed through), is hashed with BLAKE2b (8-byte
   digest, ``person=b"echo-embed-v1"``), read as a little-endian 64-bit
   integer ``h``: the feature adds its weight at index ``(h >> 1) %
   dimensions``, with sign ``+`` if ``h`` is odd, else ``-`` (signs make
   collisions cancel out on average instead of piling up).
7. **L2 normalisation.** The vector is divided by its Euclidean norm (the
   square root of the exactly rounded ``math.fsum`` of the squares): every
   vector has length 1 (to rounding), so the dot product is the cosine. In
   the rare case where every feature cancels out (a tiny ``dimensions``), the
   vector is ``[1.0, 0.0, ...]``.

Determinism: features are accumulated in the order they first occur in the
text (never in set order), each feature hash is keyed BLAKE2b (never Python's
salted ``hash()``), ``ln`` is computed by a fixed series of IEEE-754 basic
operations (``_ln``; the platform's ``math.log`` may differ in the last bit
between C libraries) and the norm with ``math.sqrt`` (correctly rounded by
IEEE 754). A text's vector depends only on the text and ``dimensions``: not
on the rest of its batch, not on a model name. Words and case are decided by
Python's Unicode database, so a character that a newer Unicode version
assigns or re-classifies can embed differently across Python versions;
text in characters assigned by Unicode 14 (Python 3.11) does not.

A *token*, for usage counts, is what the chat model counts: one Unicode code
point (``count_tokens``, the rule of ``echo_model.echo``).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Final

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field

from echo_model.echo import count_tokens

__all__ = [
    "DEFAULT_DIMENSIONS",
    "KIND_WEIGHTS",
    "MAX_DIMENSIONS",
    "SCHEME",
    "STOP_WORDS",
    "EchoEmbeddings",
    "count_tokens",
    "embed_text",
    "text_features",
    "words",
]

#: The scheme's name; a change of any rule or constant below changes it.
SCHEME: Final = "echo-embed-v1"
#: The default vector length (see docs/embeddings.md for the measurement).
DEFAULT_DIMENSIONS: Final = 512
#: The largest vector length accepted.
MAX_DIMENSIONS: Final = 65536
#: Weight of each feature kind: word, bigram, character n-gram, empty text.
KIND_WEIGHTS: Final = {"w": 1.0, "b": 0.5, "c": 0.25, "e": 1.0}
#: Lengths of the character n-grams taken from each padded word.
CHAR_NGRAM_SIZES: Final = (3, 4, 5)
#: Very common English function words, dropped unless a text has nothing else.
STOP_WORDS: Final = frozenset(
    ("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have",
     "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was",
     "were", "will", "with")
)  # fmt: skip

_WORD = re.compile(r"\w+")
_PERSON: Final = SCHEME.encode("ascii")  # BLAKE2b's personalisation, <= 16 bytes
_LN2: Final = 0.6931471805599453  # ln 2, the double nearest to it
_SQRT_HALF: Final = 0.7071067811865476


def words(text: str) -> list[str]:
    """The words of ``text`` that make its features (steps 1 to 3 of the scheme).

    Args:
        text: Any text.

    Returns:
        The normalised words in text order, stop words dropped unless nothing
        else is left; empty for an empty or whitespace-only text.
    """
    normal = unicodedata.normalize("NFKC", text).casefold()
    found = _WORD.findall(normal) or normal.split()
    content = [word for word in found if word not in STOP_WORDS]
    return content or found


def text_features(text: str) -> dict[tuple[str, str], float]:
    """The weighted features of ``text`` (steps 1 to 5), in first-seen order.

    Args:
        text: Any text.

    Returns:
        ``{(kind, feature): weight}``, kinds as in ``KIND_WEIGHTS``: ``"w"`` a
        word, ``"b"`` two neighbouring words joined by a space, ``"c"`` a
        character n-gram of a ``<word>``, ``"e"`` the empty text's one feature.
    """
    counts: dict[tuple[str, str], int] = {}
    for feature in _raw_features(words(text)):
        counts[feature] = counts.get(feature, 0) + 1
    if not counts:
        counts[("e", "")] = 1
    return {
        feature: KIND_WEIGHTS[feature[0]] * (1.0 + _ln(tf))
        for feature, tf in counts.items()
    }


def embed_text(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """Embed one text: its unit-length vector by the scheme of this module.

    The server and ``EchoEmbeddings`` both call this, so their vectors agree.

    Args:
        text: Any text (an empty one gets the fixed empty-text vector).
        dimensions: The vector's length, 1 to ``MAX_DIMENSIONS``.

    Returns:
        ``dimensions`` Python floats whose squares sum to 1 (to rounding).

    Raises:
        ValueError: If ``dimensions`` is out of range.
    """
    if isinstance(dimensions, bool) or not 1 <= dimensions <= MAX_DIMENSIONS:
        msg = f"dimensions must be an integer from 1 to {MAX_DIMENSIONS}"
        raise ValueError(msg)
    # Accumulated sparsely (a text touches ~100 of the slots), in feature
    # order: the same additions, so the same bits, as a dense vector; fsum is
    # exactly rounded, so the zeros left out change nothing in the norm.
    touched: dict[int, float] = {}
    for (kind, feature), weight in text_features(text).items():
        index, positive = _slot(kind, feature, dimensions)
        touched[index] = touched.get(index, 0.0) + (weight if positive else -weight)
    vector = [0.0] * dimensions
    norm = math.sqrt(math.fsum(x * x for x in touched.values()))
    if norm == 0.0:  # every feature cancelled out in a tiny space: no direction
        vector[0] = 1.0
        return vector
    for index, value in touched.items():
        vector[index] = value / norm
    return vector


class EchoEmbeddings(BaseModel, Embeddings):
    """Deterministic lexical embeddings: texts that share words are close.

    No model, no download, no network: each vector is feature hashing of the
    text's words, word pairs and character n-grams, L2-normalised (the scheme
    is in this module's docstring and docs/embeddings.md). The same text gives
    the same vector, bit for bit, in any process, batch or order, so retrieval
    over it is reproducible and a test can assert which document comes back.

    Setup:
        ``pip install echo-model``; nothing else.

    Key init args:
        dimensions: int
            Length of each vector (default 512).
        model: str
            A name, reported only; it never changes a vector.

    Instantiate:
        .. code-block:: python

            from echo_model import EchoEmbeddings

            embeddings = EchoEmbeddings(dimensions=256)

    Embed:
        .. code-block:: python

            vector = embeddings.embed_query("hello world")
            len(vector)  # 256
            vectors = embeddings.embed_documents(["hello", "world"])

    Async:
        .. code-block:: python

            vector = await embeddings.aembed_query("hello world")

    Retrieve:
        .. code-block:: python

            from langchain_core.vectorstores import InMemoryVectorStore

            store = InMemoryVectorStore.from_texts(
                ["Cats purr.", "Dogs bark."], embedding=embeddings
            )
            store.similarity_search("why do cats purr", k=1)[0].page_content
            # 'Cats purr.'

    Token usage:
        .. code-block:: python

            from echo_model.embeddings import count_tokens

            count_tokens("hello")  # 5: one token per character, as the chat model
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dimensions: int = Field(
        default=DEFAULT_DIMENSIONS, ge=1, le=MAX_DIMENSIONS, strict=True
    )
    """Length of each vector, 1 to 65536; below about 256 collisions hurt."""

    model: str = "echo"
    """A model name for reports; it never changes a vector."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts, each on its own: a vector never depends on its batch.

        Args:
            texts: The texts to embed.

        Returns:
            One unit vector of ``dimensions`` floats per text, in order.
        """
        return [embed_text(text, self.dimensions) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed a query: the same vector as the text embedded as a document.

        Args:
            text: The text to embed.

        Returns:
            A unit vector of ``dimensions`` floats.
        """
        return embed_text(text, self.dimensions)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts asynchronously, as ``embed_documents`` (native: no thread pool).

        Args:
            texts: The texts to embed.

        Returns:
            One unit vector of ``dimensions`` floats per text, in order.
        """
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Embed a query asynchronously, as ``embed_query`` (native: no thread pool).

        Args:
            text: The text to embed.

        Returns:
            A unit vector of ``dimensions`` floats.
        """
        return self.embed_query(text)


# --- the scheme's parts -----------------------------------------------------------


def _raw_features(text_words: Sequence[str]) -> Iterator[tuple[str, str]]:
    """Every feature occurrence of a text's words, in text order."""
    for i, word in enumerate(text_words):
        yield ("w", word)
        if i:
            yield ("b", f"{text_words[i - 1]} {word}")
        padded = f"<{word}>"
        for size in CHAR_NGRAM_SIZES:
            for start in range(len(padded) - size + 1):
                yield ("c", padded[start : start + size])


@lru_cache(maxsize=1 << 16)
def _feature_hash(kind: str, feature: str) -> int:
    """The feature's 64-bit keyed BLAKE2b hash (never Python's salted ``hash``)."""
    key = f"{kind}\x00{feature}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(key, digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "little")


def _slot(kind: str, feature: str, dimensions: int) -> tuple[int, bool]:
    """The index a feature adds to and whether it adds (True) or subtracts."""
    h = _feature_hash(kind, feature)
    return (h >> 1) % dimensions, bool(h & 1)


def _ln(n: int) -> float:
    """Natural log of a positive integer by a fixed series: the same on any machine.

    ``n = m * 2**e`` with ``m`` in [sqrt(1/2), sqrt(2)) (``frexp`` is exact), and
    ``ln m = 2 atanh(s)``, ``s = (m - 1) / (m + 1)``, ``|s| < 0.172``, summed to
    the 23rd power (the next term is below 1e-19 of the result).
    """
    if n == 1:
        return 0.0
    m, e = math.frexp(float(n))
    if m < _SQRT_HALF:
        m, e = m * 2.0, e - 1
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    total = 0.0
    for k in range(23, 0, -2):  # Horner, highest power first
        total = total * s2 + 1.0 / k
    return e * _LN2 + 2.0 * s * total
