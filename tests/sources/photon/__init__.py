"""Tests of the photon source: its client, stand-in, mapping and sync."""
