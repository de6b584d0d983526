"""``rxfloor chain``'s screen: several pharmacies, one line each, live (read-only)."""
