"""The sync engine: ``worker`` (pull + push), ``retry`` (backoff and rate limit), ``lease``
(one pusher per source), ``applier`` (remote orders into the database), ``runner`` (in the
background) and ``webhooks`` (the receiver). It speaks only ``core.sources.base``."""
