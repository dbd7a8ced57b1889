"""Anthropic's Messages API at ``/v1/messages``.

- ``protocol``: ``AnthropicProtocol``, what the app and the shared layers use;
- ``routes``: the routes (request -> generation request -> reply);
- ``schemas``: the wire types; ``messages``: Anthropic messages as LangChain's;
- ``frames``: the reply body and the stream's typed events; ``errors``: the
  error shape.
"""

from echo_model.serving.protocols.anthropic.protocol import AnthropicProtocol

__all__ = ["AnthropicProtocol"]
