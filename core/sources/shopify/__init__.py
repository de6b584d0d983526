"""Shopify as an order source: the pharmacy as a fulfillment service app (GraphQL Admin API)."""
