"""RxScale, the external pharmacy API: ``dialects`` (its two status vocabularies and push
planning), ``wire`` (tolerant pydantic models), ``client`` (httpx, one request per call),
``source`` (:class:`~rxfloor.core.sources.rxscale.source.RxScaleSource`, the
:class:`~rxfloor.core.sources.base.OrderSource` the sync engine uses) and ``sandbox`` (its
stand-in for the demo, tests and benchmarks)."""
