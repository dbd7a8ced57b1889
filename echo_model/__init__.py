"""echo-model: a deterministic LangChain chat model that echoes, over LangServe."""

from importlib.metadata import PackageNotFoundError, version

from echo_model.chat_models import EchoChatModel, EchoFaultError

try:
    __version__ = version("echo-model")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["EchoChatModel", "EchoFaultError", "__version__"]
