"""End-to-end tests: real processes, SIGKILL, the served board in Chromium, the demo, and the
house rules that run tools (ruff, mypy, mkdocs)."""
