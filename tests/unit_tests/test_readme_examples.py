"""The Python examples the README shows, with the outputs it prints."""

from __future__ import annotations

import pytest
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from echo_model import EchoChatModel


@tool
def get_weather(location: str) -> str:
    """Get the weather for a location."""
    return f"It is sunny in {location}."


class Joke(BaseModel):
    """A joke."""

    setup: str = Field(description="question to set up a joke")
    rating: int = Field(description="from 1 to 10")


def test_model_examples(capsys: pytest.CaptureFixture[str]) -> None:
    model = EchoChatModel(n=3, model_name="my_custom_model")
    result = model.invoke("hello")
    assert result.content == "hel"
    assert result.response_metadata == {
        "model_name": "my_custom_model",
        "finish_reason": "length",
        "stop_sequence": None,
    }
    assert result.usage_metadata == {
        "input_tokens": 5,
        "output_tokens": 3,
        "total_tokens": 8,
    }
    assert [m.content for m in model.batch(["hello", "goodbye"])] == ["hel", "goo"]
    assert EchoChatModel().invoke("one. two.", stop=["."]).content == "one."


def test_tool_calling_examples() -> None:
    model = EchoChatModel().bind_tools([get_weather])
    assert model.invoke("get_weather(Paris)").tool_calls == [
        {
            "name": "get_weather",
            "args": {"location": "Paris"},
            "id": "call_8a2c664c9320a8d547a42398",
            "type": "tool_call",
        }
    ]
    mentioned = model.invoke("What is the weather in Oslo?").tool_calls
    assert mentioned[0]["args"] == {"location": "What is the weather in Oslo?"}
    assert model.invoke("Hello").content == "Hello"


def test_structured_output_examples() -> None:
    assert EchoChatModel().with_structured_output(Joke).invoke(
        "cats, 7 out of 10"
    ) == Joke(setup="cats, 7 out of 10", rating=7)
    assert EchoChatModel().with_structured_output(Joke, method="json_mode").invoke(
        '{"setup": "Why?", "rating": 9}'
    ) == Joke(setup="Why?", rating=9)
