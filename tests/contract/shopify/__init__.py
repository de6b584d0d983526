"""Shopify as its own documents describe it."""
