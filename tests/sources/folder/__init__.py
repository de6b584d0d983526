"""Tests of the folder drop source: the folder on its own and through the sync worker."""
