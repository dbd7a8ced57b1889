"""LangChain's standard integration tests, through ChatOllama, against ``/api``.

The model under test is ``langchain_ollama.ChatOllama`` pointed at the real
server (``python server.py``): every request goes through Ollama's protocol
(NDJSON, ``stream: true`` always) to EchoChatModel and back.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_ollama import ChatOllama
from langchain_tests.integration_tests import ChatModelIntegrationTests

from tests.integration_tests.test_openai_standard import DOWNLOADING, INTERNET
from tests.standard_config import EchoOverTheWireConfig
from tests.support.live_server import LiveServer


class TestChatOllamaOverEcho(EchoOverTheWireConfig, ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatOllama]:
        return ChatOllama

    @property
    def chat_model_params(self) -> dict[str, Any]:
        assert self.base_url, "the _server fixture sets it"
        return {"model": "echo-test", "base_url": self.base_url}

    base_url = ""

    @pytest.fixture(autouse=True)
    def _server(self, request: pytest.FixtureRequest, live_server: LiveServer) -> None:
        if request.node.originalname in DOWNLOADING:
            pytest.skip(INTERNET)
        self.base_url = live_server.url

    @property
    def has_tool_choice(self) -> bool:
        # Ollama's API has no tool_choice, and ChatOllama.bind_tools ignores it
        # ("currently ignored as it is not supported by Ollama"): a forced call
        # cannot reach the server. Tool calling itself is tested.
        return False

    @property
    def supports_json_mode(self) -> bool:
        # ChatOllama's json_mode sends format "json" and no schema, so the reply
        # cannot have the test's keys; format "json" and a schema are tested in
        # tests/e2e/test_ollama_clients.py.
        return False
