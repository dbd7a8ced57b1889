"""Tool calling, structured output and fault injection: each rule, sync and async."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from echo_model import EchoChatModel, EchoFaultError
from echo_model.schemas import derive_args, validate
from echo_model.tools import BoundTool


@tool
def get_weather(location: str) -> str:
    """Get the weather for a location."""
    return f"It is sunny in {location}."


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def set_alarm(hour: int, label: str = "alarm", loud: bool = False) -> str:
    """Set an alarm."""
    return f"{label} at {hour}"


TOOLS = [get_weather, add, set_alarm]


def aggregate(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


def calls(message: AIMessage) -> list[tuple[str, dict]]:
    return [(c["name"], c["args"]) for c in message.tool_calls]


# --- Rule 3: explicit calls --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("add(1, 2)", [("add", {"a": 1, "b": 2})]),
        ("please add(1, b=2) now", [("add", {"a": 1, "b": 2})]),
        ('add({"a": 5, "b": 6})', [("add", {"a": 5, "b": 6})]),
        ("get_weather(Paris)", [("get_weather", {"location": "Paris"})]),
        (
            "get_weather('São Paulo, BR')",
            [("get_weather", {"location": "São Paulo, BR"})],
        ),
        ("set_alarm(7, loud=true)", [("set_alarm", {"hour": 7, "loud": True})]),
        (
            'get_weather("a \\"b, c\\" d")',  # an escaped quote keeps the comma in
            [("get_weather", {"location": 'a "b, c" d'})],
        ),
        (
            "add(1, 2) then get_weather(Rome)",
            [("add", {"a": 1, "b": 2}), ("get_weather", {"location": "Rome"})],
        ),
        ("readd(1, 2)", []),  # not a call of the bound tool, nor a mention
    ],
)
async def test_explicit_calls_are_parsed(text: str, expected: list) -> None:
    model = EchoChatModel().bind_tools(TOOLS)
    invoked = await model.ainvoke(text)
    if expected:
        assert calls(invoked) == expected
        assert invoked.content == ""
        assert invoked.response_metadata["finish_reason"] == "tool_calls"
    else:
        assert invoked.tool_calls == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("add('x', 2)", "a: 'x' is not of type integer"),
        ("add(1)", "missing required argument 'b'"),
        ("add(1, 2, 3)", "takes 2 arguments"),
        # Arguments that are a JSON object, or start with one: LangChain parses
        # a streamed call's arguments, and must not find a valid call in them.
        ('add({"a": 1})', "missing required argument 'b'"),
        ('add({"a": 1, "b": "2"})', "b: '2' is not of type integer"),
        ('add({"a": 1, "b": 2}, 3)', "a: {'a': 1, 'b': 2} is not of type integer"),
    ],
)
async def test_calls_that_do_not_fit_the_schema_are_invalid(
    text: str, error: str
) -> None:
    model = EchoChatModel().bind_tools(TOOLS)
    result = model.invoke(text)
    assert result.tool_calls == []
    (invalid,) = result.invalid_tool_calls
    assert invalid["name"] == "add"
    assert invalid["args"] == text.removeprefix("add")  # as written
    assert error in invalid["error"]
    assert error in result.response_metadata["tool_call_errors"][invalid["id"]]
    # A stream aggregates to the same calls: LangChain rebuilds them from the
    # chunks, with no error (the reason is in the response metadata).
    for streamed in (
        aggregate(list(model.stream(text))),
        aggregate([c async for c in model.astream(text)]),
    ):
        assert streamed.tool_calls == []
        assert streamed.invalid_tool_calls == [{**invalid, "error": None}]
        assert (
            streamed.response_metadata["tool_call_errors"]
            == (result.response_metadata["tool_call_errors"])
        )


# --- Rules 1, 2, 4, 5, 6 -----------------------------------------------------


def test_tool_choice_none_and_no_tools_echo() -> None:
    assert (
        EchoChatModel()
        .bind_tools(TOOLS, tool_choice="none")
        .invoke("add(1, 2)")
        .content
        == "add(1, 2)"
    )
    assert EchoChatModel().invoke("add(1, 2)").tool_calls == []


def test_a_tool_message_is_echoed_so_agent_loops_end() -> None:
    model = EchoChatModel().bind_tools(TOOLS, tool_choice="any")
    history = [
        HumanMessage("add(1, 2)"),
        AIMessage(
            "", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}]
        ),
        ToolMessage("3", tool_call_id="c1"),
    ]
    result = model.invoke(history)
    assert result.tool_calls == []
    assert result.content == "3"


@pytest.mark.parametrize(
    ("tool_choice", "text", "expected"),
    [
        ("any", "Hello!", [("get_weather", {"location": "Hello!"})]),
        ("required", "please add 3 and 4", [("add", {"a": 3, "b": 4})]),
        (True, "Hello!", [("get_weather", {"location": "Hello!"})]),
        ("add", "Hello 7 and 8", [("add", {"a": 7, "b": 8})]),
        ("add", "get_weather(Paris) please", [("add", {"a": 0, "b": 0})]),
        (
            {"type": "function", "function": {"name": "set_alarm"}},
            "wake me at 6",
            [("set_alarm", {"hour": 6})],
        ),
    ],
)
def test_forced_calls_derive_arguments(
    tool_choice: Any, text: str, expected: list
) -> None:
    model = EchoChatModel().bind_tools(TOOLS, tool_choice=tool_choice)
    assert calls(model.invoke(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "What is the weather in San Francisco, CA?",
            [
                (
                    "get_weather",
                    {"location": "What is the weather in San Francisco, CA?"},
                )
            ],
        ),
        ("Set an alarm for 7", [("set_alarm", {"hour": 7})]),
        ("Hello there", []),  # no mention: plain echo
        ("get a tool", []),  # generic words do not mention a tool
    ],
)
def test_auto_calls_mentioned_tools(text: str, expected: list) -> None:
    result = EchoChatModel().bind_tools(TOOLS).invoke(text)
    assert calls(result) == expected
    if not expected:
        assert result.content == text


async def test_tool_calls_stream_as_chunks_that_aggregate_to_invoke() -> None:
    model = EchoChatModel().bind_tools(TOOLS)
    text = "add(1, 2) and get_weather(Oslo)"
    invoked = model.invoke(text)
    chunks = [c async for c in model.astream(text)]
    assert [len(c.tool_call_chunks) for c in chunks] == [1, 1, 0]
    assert chunks[-1].chunk_position == "last"
    full = aggregate(chunks)
    assert full.tool_calls == invoked.tool_calls
    assert full.usage_metadata == invoked.usage_metadata
    assert invoked.usage_metadata["output_tokens"] == sum(
        len(c["name"]) + len(json.dumps(c["args"])) for c in invoked.tool_calls
    )


def test_ids_are_stable_and_unique_across_turns() -> None:
    model = EchoChatModel().bind_tools(TOOLS)
    first = model.invoke("add(1, 2) add(1, 2)")
    assert first.tool_calls[0]["id"] != first.tool_calls[1]["id"]
    assert [c["id"] for c in model.invoke("add(1, 2) add(1, 2)").tool_calls] == [
        c["id"] for c in first.tool_calls
    ]
    later = model.invoke(
        [HumanMessage("x"), AIMessage("x"), HumanMessage("add(1, 2) add(1, 2)")]
    )
    assert not {c["id"] for c in later.tool_calls} & {c["id"] for c in first.tool_calls}


def test_unicode_arguments_are_kept_as_is() -> None:
    model = EchoChatModel().bind_tools(TOOLS, tool_choice="get_weather")
    chunks = list(model.stream("天气 in 東京"))
    assert chunks[0].tool_call_chunks[0]["args"] == '{"location": "天气 in 東京"}'


# --- Schemas -----------------------------------------------------------------


class Address(BaseModel):
    city: str
    zip_code: int


class Person(BaseModel):
    name: str
    age: int
    height: float
    kind: Literal["friend", "foe"]
    address: Address
    tags: list[str] = Field(min_length=1)
    nickname: str | None = None


def test_derived_arguments_fit_the_schema() -> None:
    schema = Person.model_json_schema()
    args = derive_args(schema, "Ann is 31 and 1.7 m")
    assert args == {
        "name": "Ann is 31 and 1.7 m",
        "age": 31,
        "height": 1.7,
        "kind": "friend",
        "address": {"city": "Ann is 31 and 1.7 m", "zip_code": 0},
        "tags": ["Ann is 31 and 1.7 m"],
    }
    assert validate(schema, args, schema) == []
    Person.model_validate(args)


def test_bound_tool_words() -> None:
    tool_ = BoundTool(name="get_current_weather", parameters={})
    assert tool_.words() == {"get_current_weather", "current", "weather"}


# --- Structured output -------------------------------------------------------


class Joke(BaseModel):
    """A joke."""

    setup: str = Field(description="question to set up a joke")
    punchline: str | None = Field(default=None, description="answer")


class JokeDict(TypedDict):
    setup: str
    rating: int


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
async def test_structured_output_every_method(method: str) -> None:
    joke = EchoChatModel().with_structured_output(Joke, method=method)
    assert joke.invoke("cats 3") == Joke(setup="cats 3")
    assert (await joke.ainvoke("cats 3")) == Joke(setup="cats 3")
    assert list(joke.stream("cats"))[-1] == Joke(setup="cats")
    as_dict = EchoChatModel().with_structured_output(JokeDict, method=method)
    assert as_dict.invoke("cats 3") == {"setup": "cats 3", "rating": 3}
    as_schema = EchoChatModel().with_structured_output(
        Joke.model_json_schema(), method=method
    )
    assert as_schema.invoke("dogs") == {"setup": "dogs"}


def test_json_mode_echoes_a_json_object() -> None:
    model = EchoChatModel().with_structured_output(JokeDict, method="json_mode")
    assert model.invoke('{"setup": "why?", "rating": 9}') == {
        "setup": "why?",
        "rating": 9,
    }
    plain = EchoChatModel().bind(response_format={"type": "json_object"})
    assert json.loads(plain.invoke("not json").content) == {"text": "not json"}


def test_structured_output_include_raw() -> None:
    result = EchoChatModel().with_structured_output(Joke, include_raw=True).invoke("x")
    assert isinstance(result["raw"], AIMessage)
    assert result["parsed"] == Joke(setup="x")
    assert result["parsing_error"] is None
    failing = EchoChatModel().with_structured_output(
        Joke, method="json_mode", include_raw=True
    )
    broken = failing.invoke('{"punchline": "no setup"}')  # echoed, fails the schema
    assert broken["parsed"] is None
    assert broken["parsing_error"] is not None


# --- Fault injection ---------------------------------------------------------


def test_error_rate_with_a_seed_is_deterministic_per_input() -> None:
    model = EchoChatModel(error_rate=0.5, seed=7)
    outcomes = {}
    for index in range(40):
        text = f"message {index}"
        try:
            model.invoke(text)
            outcomes[text] = "ok"
        except EchoFaultError:
            outcomes[text] = "failed"
    assert 8 < list(outcomes.values()).count("failed") < 32  # about half
    again = EchoChatModel(error_rate=0.5, seed=7)
    for text, outcome in outcomes.items():
        if outcome == "failed":
            with pytest.raises(EchoFaultError):
                again.invoke(text)
        else:
            assert again.invoke(text).content == text


@pytest.mark.parametrize(("rate", "fails"), [(0.0, False), (1.0, True)])
def test_error_rate_bounds(rate: float, fails: bool) -> None:
    model = EchoChatModel(error_rate=rate)
    if fails:
        with pytest.raises(EchoFaultError):
            model.invoke("hello")
    else:
        assert model.invoke("hello").content == "hello"


def test_error_rate_fails_streams_after_fail_after_chunks() -> None:
    model = EchoChatModel(error_rate=1.0, fail_after_chunks=3)
    stream = model.stream("hello")
    assert [next(stream).content for _ in range(3)] == ["h", "e", "l"]
    with pytest.raises(EchoFaultError, match="after 3 chunks"):
        next(stream)


def test_tool_call_streams_fail_after_their_chunks_too() -> None:
    model = EchoChatModel(fail_after_chunks=1).bind_tools(TOOLS)
    stream = model.stream("add(1, 2) add(3, 4)")
    assert next(stream).tool_call_chunks[0]["name"] == "add"
    with pytest.raises(EchoFaultError):
        next(stream)


# --- An agent loop with a real tool ------------------------------------------


def test_agent_loop_calls_the_tool_and_terminates() -> None:
    model = EchoChatModel().bind_tools([get_weather, add])
    tools = {"get_weather": get_weather, "add": add}
    messages: list[Any] = [HumanMessage("What is add(20, 22)?")]
    for _ in range(5):  # a bound: the loop must end well before this
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        messages.extend(tools[c["name"]].invoke(c) for c in reply.tool_calls)
    else:
        pytest.fail("the agent loop did not terminate")
    assert isinstance(messages[1], AIMessage)
    assert isinstance(messages[2], ToolMessage)
    assert messages[2].content == "42"  # the real tool ran
    assert messages[-1].content == "42"  # and the model echoed its result


def test_adversarial_text_parses_quickly() -> None:
    # Unclosed calls everywhere: parsing stays linear (bounded scans).
    text = "add(" * 200_000
    model = EchoChatModel().bind_tools(TOOLS, tool_choice="none")
    assert model.invoke(text).content == text[:1000]  # n=1000 by default
    bound = EchoChatModel().bind_tools(TOOLS)
    result = bound.invoke(text)  # mentions add: derived call, no hang
    assert calls(result) == [("add", {"a": 0, "b": 0})]


# --- tool_choice naming a tool that is not bound ------------------------------

UNBOUND_CHOICES = [
    "nope",
    {"type": "function", "function": {"name": "nope"}},
    {"type": "tool", "name": "nope"},
]


@pytest.mark.parametrize("tool_choice", UNBOUND_CHOICES)
def test_bind_tools_rejects_forcing_an_unbound_tool(tool_choice: Any) -> None:
    with pytest.raises(ValueError, match=r"tool_choice forces 'nope'.*get_weather"):
        EchoChatModel().bind_tools(TOOLS, tool_choice=tool_choice)
    with pytest.raises(ValueError, match="tool_choice forces 'nope'"):
        EchoChatModel().bind_tools([], tool_choice=tool_choice)


@pytest.mark.parametrize("tool_choice", UNBOUND_CHOICES)
async def test_per_call_tool_choice_naming_an_unbound_tool_is_an_error(
    tool_choice: Any,
) -> None:
    model = EchoChatModel()
    kwargs = {
        "tools": [convert_to_openai_tool(t) for t in TOOLS],
        "tool_choice": tool_choice,
    }
    with pytest.raises(ValueError, match="tool_choice forces 'nope'"):
        model.invoke("add(1, 2)", **kwargs)
    with pytest.raises(ValueError, match="tool_choice forces 'nope'"):
        await model.ainvoke("add(1, 2)", **kwargs)
    with pytest.raises(ValueError, match="tool_choice forces 'nope'"):
        list(model.stream("add(1, 2)", **kwargs))
    with pytest.raises(ValueError, match="tool_choice forces 'nope'"):
        [c async for c in model.astream("add(1, 2)", **kwargs)]


@pytest.mark.parametrize(
    ("tool_choice", "text", "expected"),
    [
        ({"type": "tool", "name": "add"}, "hi", [("add", {"a": 0, "b": 0})]),
        (
            {"type": "function", "function": {"name": "add"}},
            "hi",
            [("add", {"a": 0, "b": 0})],
        ),
        ({"type": "any"}, "hi", [("get_weather", {"location": "hi"})]),
        ({"type": "auto"}, "add(1, 2)", [("add", {"a": 1, "b": 2})]),
        ({"type": "none"}, "add(1, 2)", []),
        (False, "add(1, 2)", [("add", {"a": 1, "b": 2})]),
    ],
)
def test_every_tool_choice_form_of_a_bound_tool_or_mode(
    tool_choice: Any, text: str, expected: list
) -> None:
    tools = [convert_to_openai_tool(t) for t in TOOLS]
    per_call = EchoChatModel().invoke(text, tools=tools, tool_choice=tool_choice)
    assert calls(per_call) == expected
    bound = EchoChatModel().bind_tools(TOOLS, tool_choice=tool_choice)
    assert calls(bound.invoke(text)) == expected


@pytest.mark.parametrize("tool_choice", [3, {"type": "allowed_tools"}, ["add"]])
def test_unrecognised_tool_choice_is_an_error(tool_choice: Any) -> None:
    with pytest.raises(ValueError, match="Unrecognized tool_choice"):
        EchoChatModel().bind_tools(TOOLS, tool_choice=tool_choice)


# --- Recursive schemas -------------------------------------------------------


class Tree(BaseModel):
    """A tree and its parent."""

    name: str
    parent: Tree | None


class Loop(BaseModel):
    """A schema no finite value fits: derivation must still end."""

    name: str
    child: Loop


class Forest(BaseModel):
    trees: list[Forest] = Field(min_length=1)


TREE_SCHEMA = {
    "title": "Tree",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "parent": {"anyOf": [{"$ref": "#"}, {"type": "null"}]},
    },
    "required": ["name", "parent"],
}


@pytest.mark.parametrize("method", ["function_calling", "json_schema", "json_mode"])
async def test_structured_output_of_a_recursive_nullable_schema(method: str) -> None:
    tree = EchoChatModel().with_structured_output(Tree, method=method)
    assert tree.invoke("oak") == Tree(name="oak", parent=None)
    assert (await tree.ainvoke("oak")) == Tree(name="oak", parent=None)
    assert list(tree.stream("oak"))[-1] == Tree(name="oak", parent=None)
    # A JSON schema keeps the $ref that LangChain drops from a pydantic model.
    as_schema = EchoChatModel().with_structured_output(TREE_SCHEMA, method=method)
    assert as_schema.invoke("oak") == {"name": "oak", "parent": None}


def test_recursive_refs_in_tools_given_per_call_derive_null() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "plant", "parameters": Tree.model_json_schema()},
        }
    ]
    result = EchoChatModel().invoke("oak", tools=tools, tool_choice="plant")
    assert calls(result) == [("plant", {"name": "oak", "parent": None})]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (Tree.model_json_schema(), {"name": "x", "parent": None}),
        # Required and not nullable: ends with an empty object.
        (Loop.model_json_schema(), {"name": "x", "child": {}}),
        # An array that must not be empty, of itself: ends with an empty object.
        (Forest.model_json_schema(), {"trees": [{}]}),
        # The root referring to itself.
        (TREE_SCHEMA, {"name": "x", "parent": None}),
        # References that only name each other: no schema at all.
        (
            {
                "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}},
                "$ref": "#/$defs/A",
            },
            {},
        ),
    ],
    ids=["nullable", "required", "non-empty-array", "root-ref", "ref-cycle"],
)
def test_derivation_ends_on_every_recursive_schema(
    schema: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert derive_args(schema, "x") == expected
    validate(schema, expected, schema)  # ends too


def anything(x: Any) -> str:
    """Take any value."""
    return str(x)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("{1, 2}", "{1, 2}"),  # a Python set is no JSON value: kept as text
        ("b'x'", "b'x'"),
        ("1j", "1j"),
        ("NaN", "NaN"),  # nor are non-finite numbers
        ("1e999", "1e999"),
        ("(1, 2)", [1, 2]),  # a tuple is a JSON array
        ("{'k': (1, None)}", {"k": [1, None]}),
    ],
)
async def test_arguments_are_always_json_values(written: str, value: Any) -> None:
    model = EchoChatModel().bind_tools([anything])
    text = f"anything({written})"
    result = model.invoke(text)
    assert calls(result) == [("anything", {"x": value})]
    streamed = aggregate([c async for c in model.astream(text)])
    assert streamed.tool_calls == result.tool_calls
