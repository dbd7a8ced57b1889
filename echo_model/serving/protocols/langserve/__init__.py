"""LangServe's protocol: the model at ``/echo``, the chat chain at ``/chat``.

- ``protocol``: ``LangServeProtocol``, what the app and the shared layers use;
- ``routes``: ``add_routes`` for both paths, with the request checks;
- ``runnables``: the configurable model and the chat chain;
- ``request_body``, ``request_config``: checks of the body and its config
  before LangServe runs anything.
"""

from echo_model.serving.protocols.langserve.protocol import LangServeProtocol

__all__ = ["LangServeProtocol"]
