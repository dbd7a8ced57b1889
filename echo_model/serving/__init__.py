"""The serving layer: EchoChatModel over HTTP, one port, three wire protocols.

One module per concern; the model library (``echo_model`` outside this
package) never imports any of them.

- ``settings``: flags and environment variables; ``cli``: the ``echo-server``
  command; ``app``: the app factory wiring middleware, dependencies, routes.
- ``langserve_routes``, ``runnables``: LangServe's protocol at ``/echo`` and
  ``/chat`` (the configurable model and the chat chain).
- ``generation``: the protocol-neutral request -> model -> reply path the
  wire adapters share; ``wire``: the replies they send alike.
- ``openai_api``, ``openai_schemas``, ``openai_errors``: OpenAI's Chat
  Completions at ``/v1``; ``anthropic_api``, ``anthropic_schemas``,
  ``anthropic_errors``: Anthropic's Messages at ``/v1/messages``;
  ``error_shapes``: each protocol's error shape on its paths.
- ``auth``: the API-key dependency; ``limits``, ``request_body``,
  ``request_config``: request limits and checks; ``middleware``: body-size
  limit and error replies.
- ``faults``, ``fault_injection``: the ``X-Echo-Fault`` grammar and faults
  carried out on the wire, for every protocol.
- ``metrics``: Prometheus metrics named like vLLM's; ``stats``: their JSON
  view.
- ``openapi``: touch-ups to the generated schema; ``patches``: library
  patches, applied when an app is created.
- ``inspector``: the live page at ``/ui/`` over the journal and the metrics.
"""
