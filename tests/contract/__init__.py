"""Contract tests: the vendors' documented shapes, run against the clients and the stand-ins."""
