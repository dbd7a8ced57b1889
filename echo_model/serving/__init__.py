"""The serving layer: EchoChatModel over HTTP (LangServe today, more protocols next).

One module per concern; the model library (``echo_model`` outside this
package) never imports any of them.

- ``settings``: flags and environment variables.
- ``app``: the app factory, wiring middleware, dependencies and routes.
- ``cli``: the ``echo-server`` command.
- ``langserve_routes``: LangServe's protocol at ``/echo`` and ``/chat``.
- ``runnables``: the configurable model and the chat chain LangServe serves.
- ``auth``: the API-key dependency.
- ``limits``, ``request_body``, ``request_config``: request limits and checks.
- ``middleware``: body-size limit and error replies.
- ``stats``: run counting.
- ``openapi``: touch-ups to the generated schema.
- ``patches``: library patches, applied when an app is created.
"""
