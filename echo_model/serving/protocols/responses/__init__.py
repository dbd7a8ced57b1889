"""OpenAI's Responses API at ``/v1/responses``.

- ``protocol``: ``ResponsesProtocol``, what the app and the shared layers use;
- ``routes``: the route (request -> generation request -> reply);
- ``schemas``: the wire types; ``messages``: input items as LangChain messages;
- ``frames``: the ``response`` object and the stream's events; ``errors``: the
  error shape (OpenAI's, a copy of this protocol's own).
"""

from echo_model.serving.protocols.responses.protocol import ResponsesProtocol

__all__ = ["ResponsesProtocol"]
