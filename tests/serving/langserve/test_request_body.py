"""The request body check, called directly: content blocks LangChain rejects."""

from __future__ import annotations

from typing import Any
from unittest.mock import ANY

import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage

from echo_model import EchoChatModel
from echo_model.serving.protocols.langserve.request_body import _check_content_blocks

KEYS = ["url", "base64", "data", "mime_type", "source_type", "file_id", "id", "text"]
TYPES = ["image", "audio", "file", "input_audio", "text", "video", "image_url"]
SOURCE_TYPES = ["url", "base64", "id", "text", "other"]

blocks = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={
        **{key: st.sampled_from(["aGVsbG8=", "image/png"]) for key in KEYS},
        "source_type": st.sampled_from(SOURCE_TYPES),
        "input_audio": st.fixed_dictionaries(
            {}, optional={"data": st.just("aGVsbG8="), "format": st.just("wav")}
        ),
    },
)


def refusal(block: dict[str, Any]) -> HTTPException | None:
    try:
        _check_content_blocks([{"type": "human", "content": [block]}], ("input",))
    except HTTPException as error:
        return error
    return None


def refused(block: dict[str, Any]) -> bool:
    error = refusal(block)
    if error is None:
        return False
    assert error.status_code == 422
    assert error.detail == [
        {"type": "invalid_request", "loc": ["input", 0, "content", 0], "msg": ANY}
    ]
    return True


@given(blocks)
@settings(max_examples=300, deadline=None)
def test_a_block_passes_the_check_exactly_when_the_model_accepts_it(
    block: dict[str, Any],
) -> None:
    model = EchoChatModel()
    try:
        model.invoke([HumanMessage(content=[block])])
    except (TypeError, ValueError, KeyError, AttributeError):
        assert refused(block), block
    else:
        assert not refused(block), block


@pytest.mark.parametrize(
    "block",
    [
        {"type": "image", "base64": "aGVsbG8="},
        {"type": "image", "source_type": "base64", "data": "aGVsbG8="},
        {"type": "image", "text": "x"},
    ],
)
def test_blocks_without_what_langchain_needs_are_refused(block: dict) -> None:
    assert refused(block)
