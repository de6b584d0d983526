"""Integration tests: the stand-ins, databases (PostgreSQL too), the sync engine, the board and
the wall under Pilot."""
