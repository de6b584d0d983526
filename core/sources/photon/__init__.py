"""Photon Health, e-prescriptions routed to the pharmacy: ``mapping`` (Photon's status words,
the board mapping and push planning, pure), ``wire`` (tolerant pydantic models of its
CloudEvents and its order read), ``client`` (httpx, one request per call), ``source``
(:class:`~rxfloor.core.sources.photon.source.PhotonSource` and its webhook format) and
``sandbox`` (its stand-in for the demo, tests and benchmarks).

Photon pushes: orders reach the floor only as signed webhook events (no listing); the
pharmacy reports progress with ``POST /v1/hooks/pharmacy``; the one read is Photon's
``order(id:)`` query, used to settle a report whose answer was lost.
"""
