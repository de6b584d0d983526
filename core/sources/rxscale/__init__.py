"""rxscale."""
