"""Tests of the shopify source: its client, stand-in, mapping and sync."""
