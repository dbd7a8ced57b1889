"""Sample sessions using the plugin's per-test fixtures and journal."""

from __future__ import annotations

import pytest

from tests.plugin.support import SESSION_TIMEOUT

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
"""

# The app under test: an agent with one tool.
APP = '''
from langchain.agents import create_agent
from langchain_core.tools import tool

CALLS = []


@tool
def search_flights(origin: str) -> str:
    """Search flights leaving from an airport."""
    CALLS.append(origin)
    return f"3 flights from {origin}"


def ask(model, question):
    agent = create_agent(model, tools=[search_flights])
    state = agent.invoke({"messages": [{"role": "user", "content": question}]})
    return state["messages"][-1].content
'''

# Turn 1 calls the tool, the turn after its result answers (first match wins).
SAMPLE = """
import httpx
import pytest

import my_app

FLIGHTS = [
    {
        "match": {"userMessage": "flights", "hasToolResult": True},
        "response": {"content": "I found 3 flights"},
    },
    {
        "match": {"userMessage": "flights"},
        "response": {
            "toolCalls": [
                {"name": "search_flights", "arguments": {"origin": "SFO"}, "id": "c1"}
            ]
        },
    },
]


@pytest.fixture(params=["echo_chat_openai", "echo_chat_anthropic"])
def chat_model(request):
    return request.getfixturevalue(request.param)


@pytest.mark.echo(fixtures=FLIGHTS)
def test_the_agent_runs_the_scripted_tool_round(chat_model, echo_requests):
    my_app.CALLS.clear()
    assert my_app.ask(chat_model, "any flights from SFO?") == "I found 3 flights"
    assert my_app.CALLS == ["SFO"]
    first, second = echo_requests()  # this test's requests only
    assert [e["fixture"] for e in (first, second)] == ["<admin>#1", "<admin>#0"]
    assert first["reply"]["tool_calls"][0]["arguments"] == {"origin": "SFO"}
    sent = second["body"]["messages"]
    # What the app sent back: the tool's result, in the protocol's own shape.
    assert "3 flights from SFO" in str(sent[-1])
    assert second["path"] in ("/v1/chat/completions", "/v1/messages")


@pytest.mark.echo(fixtures=FLIGHTS)
def test_the_fixtures_answer_this_test_s_context_only(
    echo_server, echo_chat_openai, echo_context
):
    assert echo_chat_openai.invoke("flights?").tool_calls[0]["name"] == "search_flights"
    body = {"model": "m", "messages": [{"role": "user", "content": "flights?"}]}
    url = echo_server.openai_base_url + "/chat/completions"
    bare = httpx.post(url, json=body, headers=echo_server.auth_headers)
    assert bare.json()["choices"][0]["message"]["content"] == "flights?"
    other = {**echo_server.auth_headers, "X-Echo-Context": "someone-else"}
    assert httpx.post(url, json=body, headers=other).json()["choices"][0][
        "message"]["content"] == "flights?"
    # The journal of this context holds the client's request, not the others.
    assert [e["context"] for e in echo_server.requests(context=echo_context)] == [
        echo_context
    ]


def test_the_last_test_s_fixtures_are_gone(echo_server):
    assert echo_server.admin("GET", "fixtures")["fixtures"] == []


def test_fixtures_added_by_the_test_and_every_client(
    echo_fixtures, echo_remote_runnable, echo_http_client
):
    labels = echo_fixtures.add(
        [
            {"match": {"userMessage": "hello"}, "response": {"content": "Hi!"}},
            {"match": {"sequenceIndex": 0}, "response": {"content": "first"}},
        ]
    )
    assert len(labels) == 2
    assert echo_remote_runnable.invoke("hello").content == "Hi!"
    assert echo_remote_runnable.invoke("anything").content == "first"
    assert echo_remote_runnable.invoke("anything").content == "anything"
    reply = echo_http_client.post("/echo/invoke", json={"input": "hello"})
    assert reply.json()["output"]["content"] == "Hi!"
    assert [e["path"] for e in echo_fixtures.requests()] == ["/echo/invoke"] * 4


HI = {"match": {"userMessage": "hi"}, "response": {"content": "yo"}}
BAD = {"match": {"userMesage": "x"}, "response": {"content": "y"}}


@pytest.mark.asyncio
@pytest.mark.echo(fixtures=[HI])
async def test_async_client_sends_the_context(echo_async_http_client, echo_requests):
    reply = await echo_async_http_client.post("/echo/invoke", json={"input": "hi"})
    assert reply.json()["output"]["content"] == "yo"
    assert len(echo_requests(path="/echo/invoke")) == 1


@pytest.mark.echo(fixtures=FLIGHTS)
def test_the_in_process_model_reads_them_too(echo_model):
    assert echo_model.invoke("flights?").tool_calls[0]["args"] == {"origin": "SFO"}


@pytest.mark.echo(fixtures=[BAD])
def test_a_bad_fixture_fails_naming_the_field(echo_chat_openai):
    pass


@pytest.mark.echo(fixtures=[{"match": {"context": "x"}, "response": {"content": "y"}}])
def test_a_fixture_of_another_context_fails_the_test(echo_chat_openai):
    pass
"""


def test_per_test_fixtures_and_journal(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(my_app=APP, test_scripted_app=SAMPLE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", timeout=SESSION_TIMEOUT
    )
    # The two bad fixtures fail their tests' set-up, naming what is wrong.
    result.assert_outcomes(passed=7, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*fixtures=...): *400*fixture 0: match.userMesage: unsupported field*",
            "*names context 'x'; a test's fixtures match only its own context*",
        ]
    )
