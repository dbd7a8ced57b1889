"""OpenAI's Chat Completions API at ``/v1``.

- ``protocol``: ``OpenAIProtocol``, what the app and the shared layers use;
- ``routes``: the routes (request -> generation request -> reply);
- ``schemas``: the wire types; ``messages``: OpenAI messages as LangChain's;
- ``frames``: the reply body and the stream's chunks; ``errors``: the error
  shape.
"""

from echo_model.serving.protocols.openai.protocol import OpenAIProtocol

__all__ = ["OpenAIProtocol"]
