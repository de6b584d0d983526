"""The wall screen: ``rxfloor watch`` (a terminal) and ``rxfloor serve`` (a browser)."""
