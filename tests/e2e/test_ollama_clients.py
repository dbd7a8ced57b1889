"""The ``ollama`` client, ChatOllama and OllamaEmbeddings against ``/api``."""

from __future__ import annotations

from datetime import datetime

import ollama
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings

from echo_model.embeddings import embed_text
from tests.support.clients import API_KEY, Joke
from tests.support.live_server import LiveServer

AUTH = {"Authorization": f"Bearer {API_KEY}"}
USER = [{"role": "user", "content": "hello world"}]
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


@pytest.fixture
def client(server: LiveServer) -> ollama.Client:
    return ollama.Client(host=server.url, headers=AUTH)


@pytest.fixture
def chat(server: LiveServer) -> ChatOllama:
    return ChatOllama(
        model="echo", base_url=server.url, client_kwargs={"headers": AUTH}
    )


# --- The ollama client ------------------------------------------------------------


def test_ollama_chat_whole_and_streamed(client: ollama.Client) -> None:
    reply = client.chat(model="llama3.2", messages=USER)
    assert reply.message.role == "assistant"
    assert reply.message.content == "hello world"
    assert (reply.done, reply.done_reason) == (True, "stop")
    assert (reply.prompt_eval_count, reply.eval_count) == (11, 11)
    assert reply.model == "llama3.2"
    parts = list(client.chat(model="llama3.2", messages=USER, stream=True))
    assert "".join(p.message.content or "" for p in parts) == "hello world"
    assert [p.done for p in parts] == [False] * 11 + [True]
    assert parts[-1].eval_count == 11
    assert (parts[-1].total_duration or 0) > 0


def test_ollama_chat_tool_call_has_object_arguments(client: ollama.Client) -> None:
    reply = client.chat(
        model="m", messages=[{"role": "user", "content": "add(2, 3)"}], tools=[ADD]
    )
    [call] = reply.message.tool_calls or []
    assert call.function.name == "add"
    assert dict(call.function.arguments) == {"a": 2, "b": 3}
    # The result goes back with its tool's name; the echo of it ends the round.
    follow = client.chat(
        model="m",
        messages=[
            {"role": "user", "content": "add(2, 3)"},
            reply.message,
            {"role": "tool", "content": "5", "tool_name": "add"},
        ],
        tools=[ADD],
    )
    assert follow.message.content == "5"
    assert not follow.message.tool_calls


def test_ollama_generate(client: ollama.Client) -> None:
    reply = client.generate(model="m", prompt="why is the sky blue?", system="brief")
    assert reply.response == "why is the sky blue?"
    assert reply.prompt_eval_count == len("brief") + len("why is the sky blue?")
    parts = list(client.generate(model="m", prompt="abc", stream=True))
    assert [p.response for p in parts] == ["a", "b", "c", ""]
    assert parts[-1].done_reason == "stop"


def test_ollama_list_show_ps(client: ollama.Client) -> None:
    [listed] = client.list().models
    assert listed.model == "echo:latest"
    assert isinstance(listed.modified_at, datetime)
    shown = client.show("echo")
    assert shown.modelinfo is not None
    assert shown.modelinfo["general.architecture"] == "echo"
    [running] = client.ps().models
    assert running.model == "echo:latest"
    assert isinstance(running.expires_at, datetime)


def test_ollama_embed(client: ollama.Client) -> None:
    reply = client.embed(model="m", input=["cats purr", "dogs bark"], dimensions=64)
    assert [list(v) for v in reply.embeddings] == [
        embed_text("cats purr", 64),
        embed_text("dogs bark", 64),
    ]
    legacy = client.embeddings(model="m", prompt="cats")
    assert list(legacy.embedding) == embed_text("cats")


def test_ollama_errors_are_response_errors(
    client: ollama.Client, server: LiveServer
) -> None:
    with pytest.raises(ollama.ResponseError) as missing:
        client._request_raw("POST", "/api/chat", json={"messages": USER})
    assert (missing.value.status_code, missing.value.error) == (
        400,
        "model is required",
    )
    with pytest.raises(ollama.ResponseError) as unauthorized:
        ollama.Client(host=server.url).chat(model="m", messages=USER)
    assert unauthorized.value.status_code == 401
    # A fault after the stream started: an {"error"} line, raised mid-stream.
    stream = client.chat(
        model="m",
        messages=USER,
        stream=True,
        options={"echo": {"fail_after_chunks": 3}},
    )
    received: list[str | None] = []

    def read() -> None:
        for part in stream:
            received.append(part.message.content)

    with pytest.raises(ollama.ResponseError, match="injected"):
        read()
    assert received == ["h", "e", "l"]
    # The same from the X-Echo-Fault header, which the server carries out.
    faulty = ollama.Client(
        host=server.url, headers={**AUTH, "X-Echo-Fault": "error; after=2"}
    )
    stream = faulty.chat(model="m", messages=USER, stream=True)
    received.clear()
    with pytest.raises(ollama.ResponseError, match="injected"):
        read()
    assert received == ["h", "e"]


# --- ChatOllama ---------------------------------------------------------------------


def test_chat_ollama_invoke_stream_and_usage(chat: ChatOllama) -> None:
    message = chat.invoke("hello world")
    assert isinstance(message, AIMessage)
    assert message.content == "hello world"
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 11
    assert message.usage_metadata["output_tokens"] == 11
    assert message.response_metadata["done_reason"] == "stop"
    chunks = list(chat.stream("hello world"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks) == message.content
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.usage_metadata == message.usage_metadata


async def test_chat_ollama_async(chat: ChatOllama) -> None:
    assert (await chat.ainvoke("hi there")).content == "hi there"
    assert "".join([str(c.content) async for c in chat.astream("abc")]) == "abc"


def test_chat_ollama_num_predict_and_stop(server: LiveServer) -> None:
    capped = ChatOllama(
        model="m", base_url=server.url, client_kwargs={"headers": AUTH}, num_predict=4
    )
    message = capped.invoke("hello world")
    assert message.content == "hell"
    assert message.response_metadata["done_reason"] == "length"
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 11
    assert message.usage_metadata["output_tokens"] == 4
    chat = ChatOllama(model="m", base_url=server.url, client_kwargs={"headers": AUTH})
    assert chat.invoke("hello world", stop=["o"]).content == "hell"


def test_chat_ollama_validates_the_model_on_init(server: LiveServer) -> None:
    for name in ("echo", "echo:latest"):
        ChatOllama(
            model=name,
            base_url=server.url,
            client_kwargs={"headers": AUTH},
            validate_model_on_init=True,
        )
    with pytest.raises(ValueError, match="not found"):
        ChatOllama(
            model="llama3",
            base_url=server.url,
            client_kwargs={"headers": AUTH},
            validate_model_on_init=True,
        )


def test_chat_ollama_key_in_the_url(server: LiveServer) -> None:
    url = server.url.replace("http://", f"http://user:{API_KEY}@")
    assert ChatOllama(model="m", base_url=url).invoke("hi").content == "hi"


def test_chat_ollama_bind_tools(chat: ChatOllama) -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    message = chat.bind_tools([add]).invoke("add(1, 2)")
    assert isinstance(message, AIMessage)
    [call] = message.tool_calls
    assert (call["name"], call["args"]) == ("add", {"a": 1, "b": 2})
    assert call["id"]


def test_chat_ollama_structured_output_sends_format(chat: ChatOllama) -> None:
    structured = chat.with_structured_output(Joke, method="json_schema")
    result = structured.invoke("cats, 7 of 10")
    assert isinstance(result, Joke)
    assert result.rating == 7
    as_json = chat.with_structured_output(method="json_mode", schema=Joke)
    assert as_json.invoke('{"setup": "dogs", "rating": 3}') == Joke(
        setup="dogs", rating=3
    )


def test_agent_calls_a_real_tool_and_ends(chat: ChatOllama) -> None:
    calls: list[str] = []

    @tool
    def lookup_capital(country: str) -> str:
        """Return the capital of a country."""
        calls.append(country)
        return "Paris"

    agent = create_agent(chat, tools=[lookup_capital])
    result = agent.invoke({"messages": [HumanMessage("capital of France?")]})
    assert calls == ["capital of France?"]
    assert result["messages"][-1].content == "Paris"


def test_ollama_embeddings(server: LiveServer) -> None:
    embeddings = OllamaEmbeddings(
        model="m", base_url=server.url, client_kwargs={"headers": AUTH}
    )
    assert embeddings.embed_query("cats purr") == embed_text("cats purr")
    assert embeddings.embed_documents(["a b", "c"]) == [
        embed_text("a b"),
        embed_text("c"),
    ]
