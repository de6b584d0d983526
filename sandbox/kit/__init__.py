"""What every stand-in shares, so that a vendor's package holds only its own rules and wire
format (moto's ``moto/core`` is the model):

- :mod:`~rxfloor.sandbox.kit.asgi`: the transport faults of an API gate (a dropped
  connection before or after applying, a slow or half-cut answer), an answer written
  straight to ASGI;
- :mod:`~rxfloor.sandbox.kit.gate`: the middleware in front of a stand-in's API (log the call,
  draw its fault, answer or spoil the answer), with each vendor's own rules;
- :mod:`~rxfloor.sandbox.kit.faults`: the reproducible fault draw (one seed, one sequence);
- :mod:`~rxfloor.sandbox.kit.logs`: the request, transition and delivery logs tests read back;
- :mod:`~rxfloor.sandbox.kit.control`: the ``/_sandbox`` routes every stand-in has (logs,
  faults, reset, webhook subscriptions, deliveries and replay), mounted by each vendor's app
  with its own;
- :mod:`~rxfloor.sandbox.kit.webhooks`: the deliverer every stand-in that sends webhooks runs;
- :mod:`~rxfloor.sandbox.kit.refusal`: a refused request and the JSON-body reading;
- :mod:`~rxfloor.sandbox.kit.signing`: HMAC-SHA256 signatures of webhook bodies;
- :mod:`~rxfloor.sandbox.kit.activity`: the demo's remote-side life (a step every few seconds).
"""
