"""Ollama's API at ``/api``: ``ChatOllama``, ``OllamaEmbeddings`` and ``ollama``.

- ``protocol``: ``OllamaProtocol``, what the app and the shared layers use;
- ``routes``: the routes (request -> generation request -> reply);
- ``schemas``: the wire types; ``messages``: Ollama messages as LangChain's;
- ``frames``: the reply bodies and the stream's NDJSON lines, with their
  durations; ``errors``: the error shape, ``{"error": "..."}``.
"""

from echo_model.serving.protocols.ollama.protocol import OllamaProtocol

__all__ = ["OllamaProtocol"]
