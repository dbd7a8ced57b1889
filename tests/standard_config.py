"""What the model declares to LangChain's standard test suites, unit and integration."""

from echo_model import EchoChatModel


class EchoStandardConfig:
    """The model, its parameters and capabilities, shared by both standard suites."""

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
