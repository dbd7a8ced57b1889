"""What the model declares to LangChain's standard test suites, unit and integration."""

from echo_model import EchoChatModel


class EchoCapabilities:
    """What the echo model does, in process or over any protocol."""

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True


class EchoStandardConfig(EchoCapabilities):
    """The model, its parameters and capabilities, shared by both standard suites."""

    @property
    def chat_model_class(self) -> type[EchoChatModel]:
        return EchoChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"model": "echo-test", "n": 100}

    @property
    def supports_json_mode(self) -> bool:
        return True


class EchoOverTheWireConfig(EchoCapabilities):
    """What the suites of the vendors' chat models pointed at the server share.

    Each such suite names its model class and parameters, and whether its
    client's JSON mode can work.
    """

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_pdf_inputs(self) -> bool:
        return True

    @property
    def supports_image_tool_message(self) -> bool:
        return True

    @property
    def supports_pdf_tool_message(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "echo-override"
