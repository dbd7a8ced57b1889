"""The openai SDK's embeddings and LangChain's OpenAIEmbeddings against the real
server, equal to the in-process vectors; a small RAG chain on this server."""

from __future__ import annotations

import base64
import struct

import openai
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from echo_model import EchoEmbeddings
from echo_model.embeddings import embed_text
from tests.support.clients import API_KEY
from tests.support.live_server import LiveServer

CORPUS = [
    "Volcanoes erupt when magma rises through the crust.",
    "The stock market closed higher on strong earnings.",
    "Bees pollinate flowers while collecting nectar.",
    "A retriever fetches documents relevant to a query.",
    "Glaciers carve valleys over thousands of years.",
]
QUERIES = {
    "why does a volcano erupt": 0,
    "market earnings today": 1,
    "how do bees collect nectar": 2,
    "what does a retriever fetch": 3,
    "glaciers and valleys": 4,
}


def f32(vector: list[float]) -> list[float]:
    """The vector as float32s: what the SDK's default base64 transfer carries."""
    return list(
        struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector))
    )


@pytest.fixture
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=API_KEY, max_retries=0)


def test_the_sdk_embeds_one_and_many(client: openai.OpenAI) -> None:
    # The SDK asks for base64 unless told otherwise: float32s, exactly.
    one = client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert one.data[0].embedding == f32(embed_text("hello"))
    assert one.model == "text-embedding-3-small"
    assert one.usage.prompt_tokens == 5
    many = client.embeddings.create(model="m", input=CORPUS, encoding_format="float")
    assert [d.embedding for d in many.data] == [embed_text(t) for t in CORPUS]


def test_the_sdk_decodes_base64_to_the_same_floats(client: openai.OpenAI) -> None:
    # The SDK asks for base64 by default and decodes it itself; asked for
    # explicitly, the raw string decodes to the float32s of the vector.
    default = client.embeddings.create(model="m", input="hello")
    assert default.data[0].embedding == f32(embed_text("hello"))
    raw = client.embeddings.with_raw_response.create(
        model="m", input="hello", encoding_format="base64"
    ).http_response.json()
    data = base64.b64decode(raw["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(data) // 4}f", data)) == f32(embed_text("hello"))


def test_the_sdk_asks_for_dimensions(client: openai.OpenAI) -> None:
    reply = client.embeddings.create(model="m", input="hello", dimensions=32)
    assert reply.data[0].embedding == f32(embed_text("hello", 32))


def test_a_bad_input_raises_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model="m", input="")
    assert raised.value.body["param"] == "input"  # type: ignore[index]


def openai_embeddings(server: LiveServer) -> OpenAIEmbeddings:
    # check_embedding_ctx_length=False: the default tokenizes with tiktoken,
    # whose encodings are downloaded; this server counts code points.
    return OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=server.url + "/v1",
        api_key=API_KEY,
        check_embedding_ctx_length=False,
    )


def test_openai_embeddings_equal_the_in_process_ones(server: LiveServer) -> None:
    remote = openai_embeddings(server)
    local = EchoEmbeddings()
    # OpenAIEmbeddings transfers base64 float32s, as OpenAI does.
    assert remote.embed_documents(CORPUS) == [
        f32(v) for v in local.embed_documents(CORPUS)
    ]
    assert remote.embed_query("hello") == f32(local.embed_query("hello"))


async def test_openai_embeddings_async(server: LiveServer) -> None:
    remote = openai_embeddings(server)
    vectors = await remote.aembed_documents(CORPUS[:2])
    assert vectors == [f32(v) for v in EchoEmbeddings().embed_documents(CORPUS[:2])]


def top(store: InMemoryVectorStore, query: str) -> int:
    best = store.similarity_search(query, k=1)[0]
    return CORPUS.index(best.page_content)


def test_retrieval_ranks_the_right_document_where_the_fake_does_not(
    server: LiveServer,
) -> None:
    documents = [Document(page_content=text) for text in CORPUS]
    echo = InMemoryVectorStore.from_documents(documents, openai_embeddings(server))
    fake = InMemoryVectorStore.from_documents(
        documents, DeterministicFakeEmbedding(size=512)
    )
    assert {q: top(echo, q) for q in QUERIES} == QUERIES
    assert {q: top(fake, q) for q in QUERIES} != QUERIES


def test_a_rag_chain_on_this_server(server: LiveServer) -> None:
    store = InMemoryVectorStore.from_texts(CORPUS, openai_embeddings(server))
    retriever = store.as_retriever(search_kwargs={"k": 1})
    model = ChatOpenAI(
        model="gpt-4o-mini", base_url=server.url + "/v1", api_key=API_KEY
    )
    question = "why does a volcano erupt"
    context = retriever.invoke(question)[0].page_content
    answer = model.invoke(f"Answer from this context: {context}")
    # The echo model's reply is the last message's first 50 characters.
    assert answer.content == f"Answer from this context: {context}"[:50]
    assert "Volcanoes" in context
