"""Reading aimock's fixture files: unchanged files load, anything else is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from echo_model.fixtures import (
    Fixture,
    FixtureLoadError,
    load_fixtures,
    parse_fixture,
    shadowed_fixtures,
)

AIMOCK = Path(__file__).parents[1] / "data" / "aimock"


def write(path: Path, *fixtures: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fixtures": list(fixtures)}))
    return path


def reply(text: str, **match: Any) -> dict[str, Any]:
    return {"match": match, "response": {"content": text}}


# --- aimock's own files ----------------------------------------------------------


def test_aimock_greeting_file_loads_unchanged() -> None:
    fixtures = load_fixtures(AIMOCK / "example-greeting.json")
    assert [f.match.user_message for f in fixtures] == ["hello", "goodbye"]
    assert fixtures[0].response.content == "Hello! How can I help you today?"
    assert [f.label for f in fixtures] == [
        f"{AIMOCK / 'example-greeting.json'}#0",
        f"{AIMOCK / 'example-greeting.json'}#1",
    ]


def test_aimock_tool_call_arguments_become_compact_json_as_aimock_sends_them() -> None:
    (fixture,) = load_fixtures(AIMOCK / "example-tool-call.json")
    (call,) = fixture.response.tool_calls
    assert fixture.match.tool_name == "get_weather"
    assert call.name == "get_weather"
    assert call.arguments == '{"location":"San Francisco","unit":"fahrenheit"}'
    assert call.args == {"location": "San Francisco", "unit": "fahrenheit"}
    assert call.id is None


def test_aimock_error_file_keeps_status_type_and_code() -> None:
    (fixture,) = load_fixtures(AIMOCK / "error-injection.json")
    error = fixture.response.error
    assert error is not None
    assert (error.status, error.type, error.code) == (
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
    )
    assert error.message.startswith("Rate limit exceeded")
    assert fixture.match.user_message == ".*"  # a substring, never a regex


def test_aimock_sequence_files_keep_their_indices() -> None:
    for name in ("sequential-responses.json", "agent-loop.json"):
        fixtures = load_fixtures(AIMOCK / name)
        assert [f.match.sequence_index for f in fixtures] == [0, 1, 2]


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("streaming-physics.json", "streamingProfile"),
        ("blocks-tool-first.json", "response.blocks"),
    ],
)
def test_aimock_files_with_unsupported_fields_are_refused(
    name: str, field: str
) -> None:
    path = AIMOCK / "unsupported" / name
    with pytest.raises(FixtureLoadError) as caught:
        load_fixtures(path)
    assert str(caught.value) == f"{path}: fixture 0: {field}: unsupported field"


# --- Sources: files, folders, data -------------------------------------------------


def test_a_folder_gives_its_files_in_sorted_order_then_its_subfolders(
    tmp_path: Path,
) -> None:
    write(tmp_path / "b.json", reply("b"))
    write(tmp_path / "a.json", reply("a1"), reply("a2"))
    write(tmp_path / "a_sub" / "z.json", reply("sub-z"))
    write(tmp_path / "a_sub" / "deeper" / "x.json", reply("deeper"))
    write(tmp_path / "0sub" / "c.json", reply("0sub"))
    (tmp_path / "README.md").write_text("not a fixture file")
    texts = [f.response.content for f in load_fixtures(tmp_path)]
    assert texts == ["a1", "a2", "b", "0sub", "sub-z", "deeper"]


def test_data_sources_dict_list_and_rules(tmp_path: Path) -> None:
    entry = reply("hi", userMessage="x")
    from_dict = load_fixtures({"fixtures": [entry]})
    from_list = load_fixtures([entry])
    assert from_dict == from_list
    assert from_dict[0].source == "<fixtures>"
    rule = parse_fixture(entry, "mine", 3)
    assert load_fixtures([rule, entry])[0] is rule
    assert load_fixtures(str(write(tmp_path / "f.json", entry)))[0].match.user_message
    assert load_fixtures(None) == []


def test_content_object_is_sent_as_its_json_text() -> None:
    (fixture,) = load_fixtures(
        [{"match": {}, "response": {"content": {"a": [1, "é"]}}}]
    )
    assert fixture.response.content == '{"a":[1,"é"]}'


def test_every_supported_field_is_read() -> None:
    (fixture,) = load_fixtures(
        [
            {
                "match": {
                    "userMessage": "u",
                    "systemMessage": ["s1", "s2"],
                    "toolName": "t",
                    "toolCallId": "c",
                    "toolResultContains": "r",
                    "model": "m",
                    "responseFormat": "json_object",
                    "sequenceIndex": 1,
                    "turnIndex": 2,
                    "hasToolResult": False,
                    "context": "ctx",
                    "inputText": "i",
                },
                "response": {
                    "content": "both",
                    "toolCalls": [{"name": "t", "arguments": '{"k": 1}', "id": "id1"}],
                },
                "latency": 5,
                "chunkSize": 3,
                "truncateAfterChunks": 2,
                "disconnectAfterMs": 7.5,
                "metadata": {"systemHash": "abcd1234"},
            }
        ]
    )
    match = fixture.match
    assert match.system_message == ("s1", "s2")
    assert (match.sequence_index, match.turn_index, match.has_tool_result) == (
        1,
        2,
        False,
    )
    assert (match.context, match.input_text, match.model) == ("ctx", "i", "m")
    assert fixture.response.tool_calls[0].arguments == '{"k": 1}'
    assert fixture.response.tool_calls[0].id == "id1"
    assert (fixture.latency, fixture.chunk_size) == (5.0, 3)
    assert (fixture.truncate_after_chunks, fixture.disconnect_after_ms) == (2, 7.5)
    assert fixture.metadata == {"systemHash": "abcd1234"}


# --- Refusals: one line, naming file, fixture and field ---------------------------

OK = {"content": "x"}
REFUSED: list[tuple[Any, str, str]] = [
    ({"match": {"userRegex": "x"}, "response": OK}, "match.userRegex", "unsupported"),
    ({"match": {"endpoint": "chat"}, "response": OK}, "match.endpoint", "unsupported"),
    ({"match": {}, "response": OK, "chaos": {}}, "chaos", "unsupported field"),
    ({"match": {}, "response": OK, "recordedTimings": {}}, "recordedTimings", "unsup"),
    ({"match": {}, "response": {"embedding": [0.1]}}, "response.embedding", "unsup"),
    (
        {"match": {}, "response": {"content": "x", "reasoning": "r"}},
        "response.reasoning",
        "unsup",
    ),
    ({"match": {}, "response": {"image": {"url": "u"}}}, "response.image", "unsup"),
    ({"match": {}, "response": {}}, "response", "needs content, toolCalls or error"),
    ({"response": OK}, "match", "missing"),
    ({"match": {}}, "response", "missing"),
    (
        {"match": {"userMessage": 3}, "response": OK},
        "match.userMessage",
        "must be a string",
    ),
    (
        {"match": {"systemMessage": []}, "response": OK},
        "match.systemMessage",
        "non-empty list",
    ),
    ({"match": {"sequenceIndex": -1}, "response": OK}, "match.sequenceIndex", ">= 0"),
    ({"match": {"turnIndex": True}, "response": OK}, "match.turnIndex", "integer"),
    (
        {"match": {"hasToolResult": "yes"}, "response": OK},
        "match.hasToolResult",
        "true or false",
    ),
    ({"match": {}, "response": OK, "latency": -1}, "latency", ">= 0"),
    ({"match": {}, "response": OK, "chunkSize": 0}, "chunkSize", ">= 1"),
    (
        {"match": {}, "response": OK, "truncateAfterChunks": 1.5},
        "truncateAfterChunks",
        "integer",
    ),
    (
        {"match": {}, "response": {"content": 5}},
        "response.content",
        "string or a JSON object",
    ),
    (
        {"match": {}, "response": {"toolCalls": []}},
        "response.toolCalls",
        "non-empty list",
    ),
    (
        {"match": {}, "response": {"toolCalls": [{"arguments": {}}]}},
        "response.toolCalls[0].name",
        "non-empty",
    ),
    (
        {"match": {}, "response": {"toolCalls": [{"name": "t", "arguments": "{bad"}]}},
        "response.toolCalls[0].arguments",
        "JSON object",
    ),
    (
        {"match": {}, "response": {"toolCalls": [{"name": "t", "arguments": "[1]"}]}},
        "response.toolCalls[0].arguments",
        "JSON object",
    ),
    (
        {"match": {}, "response": {"toolCalls": [{"name": "t", "type": "function"}]}},
        "response.toolCalls[0].type",
        "unsupported",
    ),
    (
        {"match": {}, "response": {"error": {"message": ""}}},
        "response.error.message",
        "non-empty",
    ),
    (
        {"match": {}, "response": {"error": {"message": "m", "param": "p"}}},
        "response.error.param",
        "unsupported",
    ),
    (
        {"match": {}, "response": {"error": {"message": "m"}, "status": 200}},
        "response.status",
        ">= 400",
    ),
    (
        {"match": {}, "response": {"error": {"message": "m"}, "status": 600}},
        "response.status",
        "400-599",
    ),
    (
        {"match": {}, "response": {"error": {"message": "m"}, "content": "x"}},
        "response.content",
        "with an error",
    ),
    (
        {"match": {}, "response": {"content": "x", "status": 429}},
        "response.status",
        "only for an error",
    ),
    (
        {"match": {}, "response": {"error": {"message": "m"}, "retryAfter": "soon"}},
        "response.retryAfter",
        ">= 0",
    ),
]


@pytest.mark.parametrize(("entry", "field", "problem"), REFUSED)
def test_unsupported_or_invalid_fixtures_are_refused_naming_file_index_and_field(
    tmp_path: Path, entry: Any, field: str, problem: str
) -> None:
    path = write(tmp_path / "chat.json", reply("fine"), entry)
    with pytest.raises(FixtureLoadError) as caught:
        load_fixtures(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: fixture 1: {field}: ")
    assert problem in message
    assert "\n" not in message
    assert (caught.value.source, caught.value.index, caught.value.field) == (
        str(path),
        1,
        field,
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "invalid JSON"),
        ('{"fixtures": {}}', 'expected an object with a "fixtures" list'),
        ("[]", 'expected an object with a "fixtures" list'),
        ('{"fixtures": [], "port": 4000}', "port: unsupported field"),
    ],
)
def test_bad_files_are_refused_naming_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(FixtureLoadError) as caught:
        load_fixtures(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_file_in_a_folder_is_named(tmp_path: Path) -> None:
    write(tmp_path / "a.json", reply("a"))
    bad = write(tmp_path / "sub" / "b.json", reply("b"), reply("c", x=1))
    with pytest.raises(FixtureLoadError) as caught:
        load_fixtures(tmp_path)
    assert str(caught.value) == f"{bad}: fixture 1: match.x: unsupported field"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FixtureLoadError, match="cannot read the file"):
        load_fixtures(tmp_path / "missing.json")


# --- Shadowing ----------------------------------------------------------------------


def rules(*entries: dict[str, Any]) -> list[Fixture]:
    return [parse_fixture(entry, "f.json", i) for i, entry in enumerate(entries)]


def test_fixtures_after_a_catch_all_are_reported_shadowed() -> None:
    fixtures = rules(
        reply("a", userMessage="a"), reply("all"), reply("b", userMessage="b")
    )
    assert shadowed_fixtures(fixtures) == [
        "f.json#2 is never matched: the catch-all f.json#1 before it matches "
        "every request"
    ]


def test_a_context_catch_all_shadows_only_its_own_context() -> None:
    fixtures = rules(
        reply("ctx", context="c"),
        reply("other", context="d", userMessage="x"),
        reply("same", context="c", userMessage="x"),
        reply("none", userMessage="x"),
    )
    assert shadowed_fixtures(fixtures) == [
        "f.json#2 is never matched: the catch-all f.json#0 before it matches "
        "every request in context 'c'"
    ]


def test_a_sequenced_or_last_catch_all_shadows_nothing() -> None:
    assert shadowed_fixtures(rules(reply("a", sequenceIndex=0), reply("b"))) == []
    assert shadowed_fixtures(rules(reply("a", userMessage="a"), reply("b"))) == []
