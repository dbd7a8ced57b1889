"""LangChain's standard integration tests for chat models, run against EchoChatModel.

The "integration" here is the model itself: there is no remote API behind it.
"""

from langchain_tests.integration_tests import ChatModelIntegrationTests

from tests.standard_config import EchoStandardConfig


class TestEchoChatModelIntegration(EchoStandardConfig, ChatModelIntegrationTests):
    @property
    def model_override_value(self) -> str:
        return "echo-override"
