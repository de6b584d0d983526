"""Konnektive CRM (subscription / direct-to-patient orders): the pharmacy as its fulfillment
house. ``wire`` maps its fulfillment statuses, ``client`` speaks its API, ``source`` is the
:class:`~rxfloor.core.sources.base.OrderSource`; ``sandbox`` is its stand-in."""
