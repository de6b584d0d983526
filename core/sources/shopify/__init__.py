"""Shopify, the pharmacy as a fulfillment service app: ``wire`` (tolerant pydantic models of
the GraphQL answers and the board mapping), ``queries`` (the GraphQL documents sent, as
written), ``client`` (httpx, one request per call, paced by the cost bucket Shopify reports),
``source`` (:class:`~rxfloor.core.sources.shopify.source.ShopifySource`, the
:class:`~rxfloor.core.sources.base.OrderSource` the sync engine uses, and its webhooks) and
``sandbox`` (its stand-in for the demo, tests and benchmarks)."""
