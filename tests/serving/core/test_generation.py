"""The protocol-neutral request -> model -> reply path, called directly."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage, ToolMessage

from echo_model.chat_models import EchoChatModel, EchoFaultError
from echo_model.serving.core.generation import (
    Finish,
    Generation,
    GenerationRequest,
    ModelBackend,
    TextDelta,
    ToolCall,
)
from echo_model.serving.core.limits import Limits
from echo_model.serving.core.options import InvalidRequest, OptionChecks

ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


async def streamed(generator: ModelBackend, request: GenerationRequest) -> Generation:
    """Rebuild a whole reply from the stream's events."""
    text, calls, finish = "", [], None
    async for event in generator.stream(request):
        assert finish is None, "nothing may follow the finish"
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, ToolCall):
            calls.append(event)
        else:
            finish = event
    assert isinstance(finish, Finish)
    return Generation(text=text, tool_calls=calls, finish=finish)


@pytest.mark.parametrize(
    "request_",
    [
        GenerationRequest([HumanMessage("one. two.")], stop=["."]),
        GenerationRequest([HumanMessage("hello world")], max_tokens=4),
        GenerationRequest([HumanMessage("hello")], options={"n": 2}),
        GenerationRequest([HumanMessage("a, b")], options={"stop": [","]}),
        GenerationRequest([HumanMessage("add(1, 2)")], tools=[ADD]),
        # An invalid call written before a valid one: both paths list valid first.
        GenerationRequest([HumanMessage("add(1, 2, 3) then add(3, 4)")], tools=[ADD]),
        GenerationRequest([HumanMessage("x")], tools=[ADD], tool_choice="add"),
        GenerationRequest(
            [HumanMessage("hi")], response_format={"type": "json_object"}
        ),
    ],
)
async def test_stream_and_generate_agree(request_: GenerationRequest) -> None:
    generator = ModelBackend(EchoChatModel())
    assert await streamed(generator, request_) == await generator.generate(request_)


async def test_wire_protocols_drop_the_stop_sequence_and_report_it() -> None:
    generation = await ModelBackend(EchoChatModel()).generate(
        GenerationRequest([HumanMessage("one. two.")], stop=["."])
    )
    assert generation.text == "one"
    assert generation.finish.stop_sequence == "."
    assert generation.finish.finish_reason == "stop"


async def test_reply_reports_the_requested_model_and_the_model_s_usage() -> None:
    generation = await ModelBackend(EchoChatModel(n=3)).generate(
        GenerationRequest([HumanMessage("hello")], model="gpt-4o")
    )
    assert generation.text == "hel"
    assert generation.finish == Finish("gpt-4o", "length", None, 5, 3)


async def test_invalid_tool_calls_keep_what_the_model_wrote() -> None:
    generation = await ModelBackend(EchoChatModel()).generate(
        GenerationRequest([HumanMessage("add(1, 2, 3) add(3, 4)")], tools=[ADD])
    )
    valid, invalid = generation.tool_calls
    assert (valid.index, valid.arguments, valid.error) == (0, '{"a": 3, "b": 4}', None)
    in_process = EchoChatModel().bind_tools([ADD]).invoke("add(1, 2, 3) add(3, 4)")
    (written,) = in_process.invalid_tool_calls
    assert (invalid.index, invalid.id, invalid.arguments, invalid.error) == (
        1,
        written["id"],
        written["args"],
        written["error"],
    )
    assert generation.finish.finish_reason == "tool_calls"


async def test_a_tool_result_last_ends_the_loop_with_its_text() -> None:
    generation = await ModelBackend(EchoChatModel()).generate(
        GenerationRequest(
            [HumanMessage("add(1, 2)"), ToolMessage("3", tool_call_id="c")],
            tools=[ADD],
        )
    )
    assert (generation.text, generation.tool_calls) == ("3", [])


async def test_simulation_options_set_fields_on_a_copy_only() -> None:
    model = EchoChatModel()
    generator = ModelBackend(model)
    request = GenerationRequest(
        [HumanMessage("hello")], options={"fail_after_chunks": 0}
    )
    with pytest.raises(EchoFaultError):
        await generator.generate(request)
    with pytest.raises(EchoFaultError):
        await streamed(generator, request)
    assert model.fail_after_chunks is None
    assert (await generator.generate(GenerationRequest([HumanMessage("ok")]))).text


@pytest.mark.parametrize(
    ("tool_choice", "tools"),
    [("required", []), ("add", []), ("sub", [ADD]), ("any", [])],
)
async def test_a_tool_choice_the_model_would_ignore_is_refused(
    tool_choice: str, tools: list
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await ModelBackend(EchoChatModel()).generate(
            GenerationRequest([HumanMessage("x")], tools=tools, tool_choice=tool_choice)
        )
    assert caught.value.param == "tool_choice"


@pytest.fixture
def options() -> OptionChecks:
    return OptionChecks(Limits(max_n=50, max_delay=1.0))


def test_options_pass_when_valid(options: OptionChecks) -> None:
    checked = options.check(
        {"n": 5, "token_delay": 0.5, "seed": 1, "error_rate": None}, "echo"
    )
    assert checked == {"n": 5, "token_delay": 0.5, "seed": 1}
    assert options.check(None, "echo") == {}


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ({"n": -1}, "echo.n"),
        ({"n": 51}, "echo.n"),  # the server's --max-n
        ({"token_delay": 2}, "echo.token_delay"),  # the server's --max-delay
        ({"error_rate": 1.5}, "echo.error_rate"),
        ({"n": "five"}, "echo.n"),
        ({"stop": ["x" * 1001]}, "echo.stop.0"),  # the server's --max-stop-length
        ({"fault": "explode"}, "echo.fault"),
        ({"colour": "red"}, "echo"),
        ([1], "echo"),
    ],
)
def test_options_refused_name_the_field(
    options: OptionChecks, value: object, param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        options.check(value, "echo")
    assert caught.value.param == param
