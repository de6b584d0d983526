"""What every stand-in shares, so that a vendor's package holds only its own rules and wire
format (moto's ``moto/core`` is the model):

- :mod:`~rxfloor.sandbox.kit.asgi`: the transport faults of an API gate (a dropped
  connection before or after applying, a slow or half-cut answer), an answer written
  straight to ASGI;
- :mod:`~rxfloor.sandbox.kit.faults`: the reproducible fault draw (one seed, one sequence);
- :mod:`~rxfloor.sandbox.kit.logs`: the request and transition logs tests read back;
- :mod:`~rxfloor.sandbox.kit.signing`: HMAC-SHA256 signatures of webhook bodies;
- :mod:`~rxfloor.sandbox.kit.activity`: the demo's remote-side life (a step every few seconds).
"""
