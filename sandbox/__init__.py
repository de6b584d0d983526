"""The stand-ins of the systems of record: local fakes of each vendor's API for the demo,
the tests and the benchmarks, never part of what the floor runs against a real source.

``kit`` holds what every stand-in shares (faults, refusals, the state lock, the request
log, the control routes, signed webhook deliveries, the activity loop); one subpackage per
vendor holds only that vendor's rules and wire format. ``core/`` and ``tui/`` never import
this package: the demo and ``rxfloor sandbox`` find it through the ``rxfloor.sandboxes``
entry point group.
"""
