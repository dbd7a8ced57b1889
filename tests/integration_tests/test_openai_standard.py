"""LangChain's standard integration tests, through ChatOpenAI, against ``/v1``.

The model under test is ``langchain_openai.ChatOpenAI`` pointed at the real
server (``python server.py``): every request goes through OpenAI's protocol
to EchoChatModel and back, so the in-process rules (echo, stop, tool calls,
structured output, usage) must hold over the wire too.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain_openai import ChatOpenAI
from langchain_tests.integration_tests import ChatModelIntegrationTests

from tests.standard_config import EchoOverTheWireConfig
from tests.support.live_server import LiveServer

INTERNET = "downloads its media from the internet, which this test run cannot reach"
#: Standard tests that fetch an image, a PDF or a WAV file from the internet.
DOWNLOADING = frozenset(
    [
        "test_image_inputs",
        "test_pdf_inputs",
        "test_audio_inputs",
        "test_image_tool_message",
        "test_pdf_tool_message",
    ]
)


class TestChatOpenAIOverEcho(EchoOverTheWireConfig, ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatOpenAI]:
        return ChatOpenAI

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # As the in-process suite's EchoChatModel(model="echo-test", n=100):
        # the echo length rides in the body's `echo` options.
        assert self.base_url, "the _server fixture sets it"
        return {
            "model": "echo-test",
            "base_url": self.base_url,
            "api_key": "unused",
            "stream_usage": True,
            "extra_body": {"echo": {"n": 100}},
            # A client per model: ChatOpenAI's shared async client would
            # outlive the event loop of the test that first used it.
            "http_async_client": httpx.AsyncClient(),
        }

    base_url = ""

    @pytest.fixture(autouse=True)
    def _server(self, request: pytest.FixtureRequest, live_server: LiveServer) -> None:
        if request.node.originalname in DOWNLOADING:
            pytest.skip(INTERNET)
        # Every model the suite builds (some from chat_model_params alone)
        # must talk to this server.
        self.base_url = live_server.url + "/v1"

    @property
    def supports_json_mode(self) -> bool:
        # ChatOpenAI's json_mode sends {"type": "json_object"} and no schema, so
        # the reply cannot have the test's keys; json_object is tested directly
        # in tests/e2e/test_openai_clients.py.
        return False

    @property
    def supports_audio_inputs(self) -> bool:
        return True


class TestChatOpenAIResponsesOverEcho(TestChatOpenAIOverEcho):
    """The same suite through OpenAI's Responses API (``/v1/responses``)."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {**super().chat_model_params, "use_responses_api": True}

    @property
    def supports_audio_inputs(self) -> bool:
        # The Responses API has no audio input part.
        return False
