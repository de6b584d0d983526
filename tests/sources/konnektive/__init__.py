"""Tests of the konnektive source: its client, stand-in, mapping and sync."""
