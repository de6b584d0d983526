"""Tests about one source each: tests/sources/<name>/."""
