"""Unit tests: pure functions and single modules (no server, no subprocess, no PostgreSQL)."""
