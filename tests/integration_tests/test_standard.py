"""LangChain's standard integration tests for chat models, run against EchoChatModel.

The "integration" here is the model itself: there is no remote API behind it.
"""

from langchain_tests.integration_tests import ChatModelIntegrationTests

from echo_model import EchoChatModel


class TestEchoChatModelIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[EchoChatModel]:
        return EchoChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"model": "echo-test", "n": 100}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "echo-override"
