"""The serving layer: EchoChatModel over HTTP, one port, every wire protocol.

The model library (``echo_model`` outside this package) never imports it.
Three layers, each importing only the ones below (import-linter checks it):

- the composition root: ``app`` (``create_app``: builds the app from
  ``PROTOCOLS`` and hands them to the shared middleware), ``cli`` (the
  ``echo-server`` command), ``settings`` (flags and ``ECHO_*`` variables),
  ``patches`` (library patches with their reasons), ``inspector`` (the
  live page at ``/ui/`` over the journal and the metrics);
- ``protocols``: one package per wire protocol (``openai``, ``responses``,
  ``anthropic``, ``ollama``, ``langserve``), each with its routes, wire
  types, frames, error shape and one ``WireProtocol`` object; protocols never
  import each other;
- ``core``: protocol-neutral: request -> model -> events, the one stream loop,
  options, limits, faults, auth, fixtures, the journal, metrics, middleware
  (its ``__init__`` lists its modules).
"""
