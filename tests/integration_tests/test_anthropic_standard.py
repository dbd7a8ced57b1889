"""LangChain's standard integration tests through ChatAnthropic, on ``/v1/messages``.

The model under test is ``langchain_anthropic.ChatAnthropic`` pointed at the
real server (``python server.py``): every request goes through Anthropic's
protocol to EchoChatModel and back, so the in-process rules (echo, stop, tool
calls, structured output, usage) must hold over the wire too.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests

from tests.standard_config import EchoOverTheWireConfig
from tests.support.live_server import LiveServer

INTERNET = "downloads its media from the internet, which this test run cannot reach"

# ChatAnthropic's async HTTP client is cached per process (by base URL) and
# bound to the event loop that first used it: the async tests share one loop.
pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    # That mark reaches the suite's sync tests too, which pytest-asyncio notes.
    pytest.mark.filterwarnings("ignore:The test <Function:pytest.PytestWarning"),
]


class TestChatAnthropicOverEcho(EchoOverTheWireConfig, ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatAnthropic]:
        return ChatAnthropic

    @property
    def chat_model_params(self) -> dict[str, Any]:
        # As the in-process suite's EchoChatModel(model="echo-test", n=100):
        # Anthropic's own max_tokens caps the echo the same way.
        return {"model": "echo-test", "api_key": "unused", "max_tokens": 100}

    @pytest.fixture(autouse=True)
    def _server_url(
        self, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Some tests build their own ChatAnthropic from chat_model_params
        # (test_stop_sequence): it finds the server here, as a user's would.
        monkeypatch.setenv("ANTHROPIC_BASE_URL", live_server.url)

    @pytest.fixture
    def model(self, request: Any, live_server: LiveServer) -> BaseChatModel:
        extra = getattr(request, "param", None) or {}
        return ChatAnthropic(
            **{
                **self.standard_chat_model_params,
                **self.chat_model_params,
                "base_url": live_server.url,
                **extra,
            }
        )

    @property
    def supports_json_mode(self) -> bool:
        # ChatAnthropic has no json_mode method (function_calling, json_schema).
        return False

    @property
    def supports_anthropic_inputs(self) -> bool:
        return True

    @pytest.mark.xfail(reason=INTERNET, run=False)
    def test_image_inputs(self, model: BaseChatModel) -> None:
        super().test_image_inputs(model)

    @pytest.mark.xfail(reason=INTERNET, run=False)
    def test_pdf_inputs(self, model: BaseChatModel) -> None:
        super().test_pdf_inputs(model)

    @pytest.mark.xfail(reason=INTERNET, run=False)
    def test_image_tool_message(self, model: BaseChatModel) -> None:
        super().test_image_tool_message(model)

    @pytest.mark.xfail(reason=INTERNET, run=False)
    def test_pdf_tool_message(self, model: BaseChatModel) -> None:
        super().test_pdf_tool_message(model)

    @pytest.mark.xfail(reason=INTERNET, run=False)
    def test_anthropic_inputs(self, model: BaseChatModel) -> None:
        # Downloads an image when image inputs are supported; the histories it
        # sends (tool_use, tool_result blocks) are tested in
        # tests/e2e/test_anthropic_clients.py.
        super().test_anthropic_inputs(model)
