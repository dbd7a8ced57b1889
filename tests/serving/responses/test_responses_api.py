"""The Responses API in process: shapes (OpenAI spec), stream order, errors, faults."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echo_model.serving.app import PROTOCOLS
from echo_model.serving.protocols.openai import OpenAIProtocol
from echo_model.serving.protocols.responses import ResponsesProtocol
from tests.support.openai_spec import check, check_event
from tests.support.sse import parse_sse

URL = "/v1/responses"
ADD = {
    "type": "function",
    "name": "add",
    "description": "Add two integers.",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    "strict": True,
}
#: What differs between two replies to one request: ids and times.
VOLATILE = ("id", "created_at", "completed_at")


def body(input_: Any = "hello", **fields: Any) -> dict[str, Any]:
    return {"model": "m", "input": input_, **fields}


async def create(client: httpx.AsyncClient, payload: Any, **kw: Any) -> dict[str, Any]:
    response = await client.post(URL, json=payload, **kw)
    assert response.status_code == 200, response.text
    reply = response.json()
    check("Response", reply)
    return reply


async def events(
    client: httpx.AsyncClient, payload: dict[str, Any], **kw: Any
) -> list[dict[str, Any]]:
    """The stream's events, each checked against the spec and its ``event:`` line."""
    response = await client.post(URL, json={**payload, "stream": True}, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    parsed = parse_sse(response.text)
    for event in parsed:
        assert event.event == event.data["type"]
        check_event(event.data)
    return [event.data for event in parsed]


def error_of(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data = response.json()
    check("ErrorResponse", data)
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "param", "code"}
    return data["error"]


def stable(value: Any) -> Any:
    """``value`` without ids and times."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def texts(reply: dict[str, Any]) -> list[str]:
    return [
        part["text"]
        for item in reply["output"]
        if item["type"] == "message"
        for part in item["content"]
    ]


# --- Registration ---------------------------------------------------------------


def test_responses_is_matched_before_openai_chat_completions() -> None:
    assert PROTOCOLS.index(ResponsesProtocol) < PROTOCOLS.index(OpenAIProtocol)
    protocol = ResponsesProtocol()
    assert protocol.runs_model("POST", "/v1/responses")
    assert not protocol.runs_model("POST", "/v1/chat/completions")
    assert not protocol.claims("/v1/responsesx")


# --- Replies --------------------------------------------------------------------


async def test_string_input_is_echoed_as_a_message(client: httpx.AsyncClient) -> None:
    reply = await create(client, body("hello", instructions="be brief"))
    assert reply["object"] == "response"
    assert reply["id"].startswith("resp_")
    assert reply["status"] == "completed"
    assert reply["model"] == "m"
    assert reply["instructions"] == "be brief"
    assert reply["error"] is None
    assert reply["incomplete_details"] is None
    (item,) = reply["output"]
    assert item["type"] == "message"
    assert item["id"].startswith("msg_")
    assert (item["role"], item["status"]) == ("assistant", "completed")
    assert item["content"] == [
        {"type": "output_text", "text": "hello", "annotations": [], "logprobs": []}
    ]
    assert reply["usage"] == {
        "input_tokens": len("be brief" + "hello"),
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": len("be brief" + "hello") + 5,
    }


async def test_items_with_parts_roles_and_tool_history(
    client: httpx.AsyncClient,
) -> None:
    items = [
        {"role": "system", "content": "sys"},
        {"type": "message", "role": "developer", "content": "dev"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look: "},
                {"type": "input_image", "image_url": "https://example.com/cat.png"},
                {"type": "input_image", "file_id": "file-9"},
                {
                    "type": "input_file",
                    "file_data": "data:application/pdf;base64,AAAA",
                    "filename": "a.pdf",
                },
            ],
        },
    ]
    reply = await create(client, body(items))
    assert texts(reply) == [
        "look: [image https://example.com/cat.png][image id file-9]"
        "[file application/pdf, 3 bytes]"
    ]
    history = [
        {"role": "user", "content": "add(1, 2)"},
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "add",
            "arguments": '{"a": 1, "b": 2}',
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "3"},
    ]
    answered = await create(client, body(history, tools=[ADD]))
    assert texts(answered) == ["3"]
    # The model counts the messages' text: the call is no text.
    assert answered["usage"]["input_tokens"] == len("add(1, 2)") + len("3")


async def test_function_tools_are_called_flat(client: httpx.AsyncClient) -> None:
    reply = await create(client, body("add(1, 2)", tools=[ADD]))
    (call,) = reply["output"]
    assert call["type"] == "function_call"
    assert call["id"].startswith("fc_")
    assert call["call_id"].startswith("call_")
    assert (call["name"], json.loads(call["arguments"])) == ("add", {"a": 1, "b": 2})
    assert call["status"] == "completed"
    assert reply["tools"] == [ADD]
    assert reply["tool_choice"] == "auto"


async def test_tool_choice_and_parallel_tool_calls(client: httpx.AsyncClient) -> None:
    forced = await create(
        client,
        body("hello", tools=[ADD], tool_choice={"type": "function", "name": "add"}),
    )
    assert [i["type"] for i in forced["output"]] == ["function_call"]
    assert forced["tool_choice"] == {"type": "function", "name": "add"}
    required = await create(client, body("hello", tools=[ADD], tool_choice="required"))
    assert required["output"][0]["name"] == "add"
    none = await create(client, body("add(1, 2)", tools=[ADD], tool_choice="none"))
    assert texts(none) == ["add(1, 2)"]
    both = await create(client, body("add(1, 2) add(3, 4)", tools=[ADD]))
    one = await create(
        client, body("add(1, 2) add(3, 4)", tools=[ADD], parallel_tool_calls=False)
    )
    assert len(both["output"]) == 2
    assert stable(one["output"]) == stable(both["output"][:1])
    assert one["parallel_tool_calls"] is False
    unknown = await client.post(
        URL, json=body("hi", tools=[ADD], tool_choice={"type": "function", "name": "x"})
    )
    assert error_of(unknown)["param"] == "tool_choice"


async def test_text_format_is_the_structured_output_path(
    client: httpx.AsyncClient,
) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "name": "person", "schema": schema, "strict": True}
    reply = await create(client, body("Ann is 7", text={"format": fmt}))
    assert json.loads(texts(reply)[0]) == {"name": "Ann is 7", "age": 7}
    assert reply["text"]["format"] == fmt
    as_object = await create(
        client, body("plain", text={"format": {"type": "json_object"}})
    )
    assert json.loads(texts(as_object)[0]) == {"text": "plain"}
    as_text = await create(client, body("plain", text={"format": {"type": "text"}}))
    assert texts(as_text) == ["plain"]


async def test_max_output_tokens_cut_is_incomplete(client: httpx.AsyncClient) -> None:
    reply = await create(client, body("hello world", max_output_tokens=5))
    assert reply["status"] == "incomplete"
    assert reply["incomplete_details"] == {"reason": "max_output_tokens"}
    assert texts(reply) == ["hello"]
    assert reply["output"][0]["status"] == "incomplete"
    assert reply["usage"]["output_tokens"] == 5
    assert reply["max_output_tokens"] == 5
    whole = await create(client, body("hello", max_output_tokens=5))
    assert whole["status"] == "completed"
    assert whole["incomplete_details"] is None


async def test_ignored_fields_are_accepted_and_reported(
    client: httpx.AsyncClient,
) -> None:
    extra = {
        "reasoning": {"effort": "low", "summary": None},
        "include": [],
        "store": True,
        "truncation": "auto",
        "metadata": {"k": "v"},
        "temperature": 0.2,
        "top_p": 0.5,
        "user": "u",
        "text": {"verbosity": "low"},
        "unknown_field": 1,
    }
    reply = await create(client, body("hi", **extra))
    assert texts(reply) == ["hi"]
    assert reply["metadata"] == {"k": "v"}
    assert (reply["temperature"], reply["top_p"]) == (0.2, 0.5)
    assert reply["text"] == {"format": {"type": "text"}, "verbosity": "low"}
    assert reply["store"] is False  # nothing is stored here


# --- Streams --------------------------------------------------------------------


async def test_stream_order_and_the_final_response(client: httpx.AsyncClient) -> None:
    stream = await events(client, body("hi"))
    kinds = [e["type"] for e in stream]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in stream] == list(range(len(stream)))
    ids = {stream[i]["response"]["id"] for i in (0, 1, -1)}
    assert len(ids) == 1
    assert stream[0]["response"]["status"] == "in_progress"
    assert stream[0]["response"]["output"] == []
    item_id = stream[2]["item"]["id"]
    assert {e["item_id"] for e in stream[3:8]} == {item_id}
    final = stream[-1]["response"]
    check("Response", final)
    assert final["output"] == [stream[8]["item"]]
    whole = await create(client, body("hi"))
    assert stable(final) == stable(whole)


async def test_stream_of_text_then_tool_calls(client: httpx.AsyncClient) -> None:
    stream = await events(client, body("add(1, 2) add(3, 4)", tools=[ADD]))
    kinds = [e["type"] for e in stream]
    call = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert kinds == ["response.created", "response.in_progress", *call, *call,
                     "response.completed"]  # fmt: skip
    assert [e["output_index"] for e in stream[2:10]] == [0] * 4 + [1] * 4
    added, delta, done, item_done = stream[2:6]
    assert added["item"]["arguments"] == ""
    assert added["item"]["status"] == "in_progress"
    assert delta["delta"] == done["arguments"] == item_done["item"]["arguments"]
    assert done["name"] == "add"
    whole = await create(client, body("add(1, 2) add(3, 4)", tools=[ADD]))
    assert stable(stream[-1]["response"]) == stable(whole)


async def test_stream_cut_by_max_output_tokens_ends_incomplete(
    client: httpx.AsyncClient,
) -> None:
    stream = await events(client, body("hello world", max_output_tokens=3))
    assert stream[-1]["type"] == "response.incomplete"
    final = stream[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert texts(final) == ["hel"]
    assert "response.completed" not in [e["type"] for e in stream]


async def test_an_empty_reply_streams_an_empty_message(
    client: httpx.AsyncClient,
) -> None:
    stream = await events(client, body("hi", echo={"n": 0}))
    final = stream[-1]["response"]
    whole = await create(client, body("hi", echo={"n": 0}))
    assert texts(final) == texts(whole) == [""]
    assert stable(final) == stable(whole)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=40,
    ),
    cap=st.none() | st.integers(1, 50),
)
async def test_streamed_deltas_accumulate_to_the_whole_reply(
    app: FastAPI, text: str, cap: int | None
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        payload = body(text, max_output_tokens=cap)
        stream = await events(client, payload)
        whole = await create(client, payload)
    deltas = "".join(
        e["delta"] for e in stream if e["type"] == "response.output_text.delta"
    )
    assert [deltas] == texts(whole) == texts(stream[-1]["response"])
    assert stable(stream[-1]["response"]) == stable(whole)


# --- Refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (body("x", tools=[{"type": "web_search"}]), "tools.[0].type"),
        (body("x", tools=[ADD, {"type": "file_search"}]), "tools.[1].type"),
        (body([{"type": "item_reference", "id": "x"}]), "input.[0].type"),
        (body([{"role": "robot", "content": "x"}]), "input.[0].role"),
        ({"model": "m"}, "input"),
        (body([]), "input"),
        (body("x", max_output_tokens=0), "max_output_tokens"),
        (body("x", text={"format": {"type": "json_schema"}}), "text.format.name"),
        (body("x", tool_choice={"type": "allowed_tools"}), "tool_choice.type"),
        (body("x", echo={"nope": 1}), "echo"),
        (body("x", echo={"stop": ["x" * 10_000]}), "echo.stop.0"),
    ],
)
async def test_refusals_name_the_field(
    client: httpx.AsyncClient, payload: dict[str, Any], param: str
) -> None:
    error = error_of(await client.post(URL, json=payload))
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_other_tool_types_are_refused_clearly(client: httpx.AsyncClient) -> None:
    error = error_of(
        await client.post(URL, json=body("x", tools=[{"type": "web_search"}]))
    )
    assert "'web_search'" in error["message"]
    assert "'function'" in error["message"]


async def test_previous_response_id_is_refused_as_not_found(
    client: httpx.AsyncClient,
) -> None:
    error = error_of(
        await client.post(URL, json=body("x", previous_response_id="resp_1"))
    )
    assert error["code"] == "previous_response_not_found"
    assert error["param"] == "previous_response_id"


async def test_other_paths_below_are_openai_shaped_404s(
    client: httpx.AsyncClient,
) -> None:
    error = error_of(await client.get(URL + "/resp_1"), 404)
    assert error["message"] == "Invalid URL (GET /v1/responses/resp_1)"
    error = error_of(await client.get(URL), 405)
    # Chat Completions is still OpenAI's own.
    chat = await client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert chat.json()["object"] == "chat.completion"


async def test_bad_json_and_non_objects_are_400(client: httpx.AsyncClient) -> None:
    bad = await client.post(
        URL, content=b"{", headers={"content-type": "application/json"}
    )
    assert "not valid JSON" in error_of(bad)["message"]
    error_of(await client.post(URL, json=[1]))


# --- Faults and metrics -----------------------------------------------------------


async def test_a_status_fault_is_an_http_error(client: httpx.AsyncClient) -> None:
    for stream in (False, True):
        response = await client.post(
            URL, json=body("hi", stream=stream), headers={"X-Echo-Fault": "status=429"}
        )
        error = error_of(response, 429)
        assert error["code"] == "rate_limit_exceeded"


async def test_a_fault_before_output_is_an_http_error(
    client: httpx.AsyncClient,
) -> None:
    for stream in (False, True):
        response = await client.post(
            URL, json=body("hi", stream=stream, echo={"fail_after_chunks": 0})
        )
        assert error_of(response, 500)["code"] == "injected_fault"


async def test_a_model_fault_mid_stream_is_response_failed(
    client: httpx.AsyncClient,
) -> None:
    stream = await events(client, body("hello", echo={"fail_after_chunks": 2}))
    last = stream[-1]
    assert last["type"] == "response.failed"
    failed = last["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "server_error"
    assert failed["id"] == stream[0]["response"]["id"]
    assert texts(failed) == ["he"]
    assert last["sequence_number"] == len(stream) - 1


@pytest.mark.parametrize("after", [0, 2, 5])
async def test_an_injected_error_mid_stream_is_an_error_event(
    client: httpx.AsyncClient, after: int
) -> None:
    stream = await events(
        client, body("hello"), headers={"X-Echo-Fault": f"error; after={after}"}
    )
    deltas = [e for e in stream if e["type"] == "response.output_text.delta"]
    assert len(deltas) == min(after, 5)  # the chunks the fault counts
    assert stream[-1]["type"] == "error"
    assert stream[-1]["code"] == "server_error"
    assert "response.completed" not in [e["type"] for e in stream]


async def test_tool_call_arguments_count_as_chunks(client: httpx.AsyncClient) -> None:
    stream = await events(
        client,
        body("add(1, 2) add(3, 4)", tools=[ADD]),
        headers={"X-Echo-Fault": "error; after=1"},
    )
    kinds = [e["type"] for e in stream]
    assert kinds.count("response.function_call_arguments.delta") == 1
    assert kinds[-1] == "error"


async def test_context_length_fault_names_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        URL, json=body("hello"), headers={"X-Echo-Fault": "context_length; max=3"}
    )
    error = error_of(response)
    assert (error["code"], error["param"]) == ("context_length_exceeded", "input")


async def test_requests_are_counted_under_responses(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    async def count(name: str) -> float:
        text = (await client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(name) and 'protocol="responses"' in line:
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(name)

    requests = await count("echo:requests_total")
    errors = await count("echo:request_errors_total")
    await create(client, body("hi"))
    await client.post(URL, json=body("x", tools=[{"type": "web_search"}]))
    await events(client, body("hello", echo={"fail_after_chunks": 1}))
    assert await count("echo:requests_total") == requests + 3
    assert await count("echo:request_errors_total") == errors + 2
