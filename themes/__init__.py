"""Textual themes and stylesheets shipped with rxfloor (data for the tui package)."""
