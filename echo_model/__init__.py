"""echo-model: a deterministic LangChain chat model that echoes, served over HTTP.

``EchoChatModel``, ``EchoFaultError`` and ``EchoEmbeddings`` load on first
use: importing a subpackage (the pytest plugin in ``echo_model.testing``, which
pytest loads in every session of a project that installs echo-model) then costs
nothing until the model is needed.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from echo_model.chat_models import EchoChatModel, EchoFaultError
    from echo_model.embeddings import EchoEmbeddings

try:
    __version__ = version("echo-model")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["EchoChatModel", "EchoEmbeddings", "EchoFaultError", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("EchoChatModel", "EchoFaultError"):
        from echo_model import chat_models

        return getattr(chat_models, name)
    if name == "EchoEmbeddings":
        from echo_model import embeddings

        return embeddings.EchoEmbeddings
    msg = f"module 'echo_model' has no attribute {name!r}"
    raise AttributeError(msg)
