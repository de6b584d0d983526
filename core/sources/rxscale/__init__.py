"""RxScale, the external pharmacy API: ``mapping`` (its two status dialects, the board mapping
and push planning), ``wire`` (tolerant pydantic models), ``client`` (httpx, one request per
call), ``source`` (:class:`~rxfloor.core.sources.rxscale.source.RxScaleSource`, the
:class:`~rxfloor.core.sources.base.OrderSource` the sync engine uses) and ``plugin`` (its
traits, settings section and factories). Its stand-in, for the demo, tests and benchmarks, is
:mod:`rxfloor.sandbox.rxscale`."""
