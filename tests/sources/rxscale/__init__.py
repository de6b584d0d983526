"""Tests of the rxscale source: its client, stand-in, mapping and sync."""
