"""What every stand-in shares (moto's ``moto/core`` is the model)."""
