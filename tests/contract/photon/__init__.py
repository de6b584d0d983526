"""Photon Health as its own documents describe it."""
