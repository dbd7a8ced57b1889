"""The protocol-neutral core every wire protocol is served through.

- ``protocol``: the interface each protocol implements (``WireProtocol``)
  and what it serves with (``ServingContext``);
- ``generation``: request -> model -> events (``ModelBackend``); ``stream``:
  the one stream loop, which protocols feed with a frame writer;
- ``options``: the per-request options' checks, types and documentation;
  ``limits``: the server's request limits;
- ``fault_spec``: the ``X-Echo-Fault`` grammar; ``fault_middleware``: faults
  carried out on the wire, for every protocol;
- ``auth``: the API key; ``middleware``: arrival stamp, body-size limit,
  request ids, error replies; ``error_shapes``: each protocol's error shape
  on its paths;
- ``metrics``: Prometheus metrics named like vLLM's; ``stats``: their JSON view;
- ``fixtures``: scripted replies on every protocol (the ``X-Echo-Context``
  and ``X-Echo-Strict`` headers); ``journal``: what each model request sent
  and got; ``store``: runtime fixtures, sequence counts and the journal;
  ``admin``: the ``/admin`` API over them;
- ``http``: JSON replies, event streams, routes answering bad bodies;
  ``openapi``: touch-ups to the generated schema.

Nothing here imports a protocol package.
"""
